package schedule

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Locations in a job (to, baseline, from) may hold placeholders that are
// filled in when the job runs, so that one definition writes a new place
// each time: {org} is the organization's name (fabrikam), {date} the
// run's start date in UTC (2026-11-01).
var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

func checkPlaceholders(s string) error {
	for _, p := range placeholder.FindAllString(s, -1) {
		if p != "{org}" && p != "{date}" {
			return fmt.Errorf("unknown placeholder %s (want {org} or {date})", p)
		}
	}
	return nil
}

// Expand fills in the placeholders of s.
func Expand(s, orgName string, started time.Time) string {
	return strings.NewReplacer("{org}", orgName, "{date}", started.UTC().Format(time.DateOnly)).Replace(s)
}

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
// run's start date in UTC (2026-11-01), {quarter} its quarter (2026-Q4),
// so that a review-status job finds the campaign of the quarter.
var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

func checkPlaceholders(s string) error {
	for _, p := range placeholder.FindAllString(s, -1) {
		if p != "{org}" && p != "{date}" && p != "{quarter}" {
			return fmt.Errorf("unknown placeholder %s (want {org}, {date} or {quarter})", p)
		}
	}
	return nil
}

// Expand fills in the placeholders of s.
func Expand(s, orgName string, started time.Time) string {
	t := started.UTC()
	quarter := fmt.Sprintf("%d-Q%d", t.Year(), (int(t.Month())-1)/3+1)
	return strings.NewReplacer("{org}", orgName, "{date}", t.Format(time.DateOnly), "{quarter}", quarter).Replace(s)
}

package schedule

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones work in images without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"
)

// parser reads the five cron fields that Kubernetes CronJobs and Azure
// Container Apps jobs use (minute hour day-of-month month day-of-week),
// and descriptors such as @hourly, @daily, @weekly, @monthly, @yearly and
// (for the daemon only) @every 15m.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cronFields names the fields in order, with their ranges.
var cronFields = []struct {
	name     string
	min, max int
}{
	{"minute", 0, 59}, {"hour", 0, 23}, {"day-of-month", 1, 31}, {"month", 1, 12}, {"day-of-week", 0, 6},
}

// parseSchedule reads a schedule, with an optional CRON_TZ= (or TZ=)
// prefix, in the time zone tz ("" for UTC unless the prefix names one).
// Its errors name the cron field at fault: "minute 61 out of range 0-59".
func parseSchedule(spec, tz string) (sched cron.Schedule, loc *time.Location, err error) {
	defer func() {
		if r := recover(); r != nil { // the parser must never take the program down
			sched, loc, err = nil, nil, fmt.Errorf("cannot parse %q", spec)
		}
	}()
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil, fmt.Errorf("missing: want five cron fields such as \"0 * * * *\" or a descriptor such as @hourly")
	}
	rest := spec
	if strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ=") {
		prefix, after, _ := strings.Cut(spec, " ")
		_, zone, _ := strings.Cut(prefix, "=")
		rest = strings.TrimSpace(after)
		if rest == "" {
			return nil, nil, fmt.Errorf("nothing after %s", prefix)
		}
		if tz != "" && tz != zone {
			return nil, nil, fmt.Errorf("%s conflicts with timezone: %s; give the zone once", prefix, tz)
		}
		tz = zone
	}
	if tz == "" {
		tz = "UTC"
	}
	loc, err = time.LoadLocation(tz)
	if err != nil || tz == "Local" {
		return nil, nil, fmt.Errorf("unknown time zone %q (want an IANA name such as Europe/Berlin)", tz)
	}
	sched, err = parser.Parse("CRON_TZ=" + tz + " " + rest)
	if err != nil {
		return nil, nil, explainCron(rest, err)
	}
	// A schedule such as "0 0 30 2 *" parses but never fires.
	if sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, loc)).IsZero() {
		return nil, nil, fmt.Errorf("%q never runs", rest)
	}
	return sched, loc, nil
}

var rangeErr = regexp.MustCompile(`^(?:beginning|end) of range \((\d+)\) (?:below minimum|above maximum)`)

// explainCron turns the parser's error into one that names the field:
// it parses each field alone to find the first one at fault.
func explainCron(spec string, err error) error {
	if strings.HasPrefix(spec, "@") {
		return fmt.Errorf("%v (want @hourly, @daily, @weekly, @monthly, @yearly or @every DURATION)", err)
	}
	fields := strings.Fields(spec)
	if len(fields) != len(cronFields) {
		return fmt.Errorf("%q has %d fields, want 5 (minute hour day-of-month month day-of-week) or a descriptor such as @hourly", spec, len(fields))
	}
	for i, f := range cronFields {
		alone := []string{"*", "*", "*", "*", "*"}
		alone[i] = fields[i]
		_, ferr := parser.Parse("CRON_TZ=UTC " + strings.Join(alone, " "))
		if ferr == nil {
			continue
		}
		if m := rangeErr.FindStringSubmatch(ferr.Error()); m != nil {
			n, _ := strconv.Atoi(m[1])
			return fmt.Errorf("%s %d out of range %d-%d", f.name, n, f.min, f.max)
		}
		return fmt.Errorf("%s %q: %v", f.name, fields[i], ferr)
	}
	return err
}

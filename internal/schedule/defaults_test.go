package schedule

import (
	"testing"
	"time"
)

// The schedules that ship run when their comments say, from a fixed
// reference time (Sunday 1 November 2026, 00:30 UTC).
func TestShippedDefaults(t *testing.T) {
	jobs, err := Load("../../schedules", nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := time.Date(2026, 11, 1, 0, 30, 0, 0, time.UTC)
	at := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	want := map[string][]string{
		"hourly-sync":             {"2026-11-01 01:05", "2026-11-01 02:05", "2026-11-01 03:05", "2026-11-01 04:05", "2026-11-01 05:05"},
		"weekly-full-sync":        {"2026-11-01 03:35", "2026-11-08 03:35", "2026-11-15 03:35", "2026-11-22 03:35", "2026-11-29 03:35"},
		"nightly-warehouse":       {"2026-11-01 02:45", "2026-11-02 02:45", "2026-11-03 02:45", "2026-11-04 02:45", "2026-11-05 02:45"},
		"quarterly-review-packet": {"2027-01-01 06:00", "2027-04-01 06:00", "2027-07-01 06:00", "2027-10-01 06:00", "2028-01-01 06:00"},
		"weekly-review-status":    {"2026-11-02 07:00", "2026-11-09 07:00", "2026-11-16 07:00", "2026-11-23 07:00", "2026-11-30 07:00"},
	}
	if len(jobs) != len(want) {
		t.Fatalf("%d shipped jobs, want %d", len(jobs), len(want))
	}
	kinds := map[string]string{"hourly-sync": "sync/auto", "weekly-full-sync": "sync/full", "nightly-warehouse": "warehouse/", "quarterly-review-packet": "packet/", "weekly-review-status": "review-status/"}
	for _, j := range jobs {
		w, ok := want[j.Name]
		if !ok {
			t.Errorf("unexpected job %s", j.Name)
			continue
		}
		got := j.Next(ref, 5)
		for i := range w {
			if i >= len(got) || !got[i].Equal(at(w[i])) {
				t.Errorf("%s: next runs %v, want %v", j.Name, got, w)
				break
			}
		}
		if k := j.Kind + "/" + j.Mode; k != kinds[j.Name] {
			t.Errorf("%s is %s, want %s", j.Name, k, kinds[j.Name])
		}
		if j.Name == "quarterly-review-packet" && (j.SplitBy != "project" || j.To != "reviews/{org}/{quarter}") {
			t.Errorf("the quarterly job writes %s split by %q, want a campaign per quarter", j.To, j.SplitBy)
		}
		if j.Name == "weekly-review-status" && j.Campaign != "reviews/{org}/{quarter}" {
			t.Errorf("the weekly review status reads %s, not the quarterly campaign", j.Campaign)
		}
		if j.Org != "" || j.Store != "" || j.State != "" {
			t.Errorf("%s pins org, store or state; the shipped jobs take them from the environment", j.Name)
		}
	}
}

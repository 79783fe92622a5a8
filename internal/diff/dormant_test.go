package diff

import (
	"testing"
	"time"
)

// Dormancy is judged at each run's snapshot time on the latest known last
// access (or, for accounts that never signed in, the entitlement's
// creation).
func TestDormant(t *testing.T) {
	st := newStore(t)
	day := func(n int) time.Time { return t0.AddDate(0, 0, n) }
	a := run(t, st, t0, func(w *writer) {
		base(w)
		w.lastAccess("aad.alice", day(-85)) // 85 days at a, 95 at b: turns dormant
		w.lastAccess("aad.bob", day(-195))  // dormant at both
		w.lastAccess("aad.carol", day(-5))  // active at both
		w.user("aad.erin", "Erin Eriksen")  // never signed in, created 88 days before a
		w.license("aad.erin", "stakeholder", "pending", day(-88))
		w.neverAccessed("aad.erin")
		w.user("aad.fay", "Fay Fischer") // never signed in, created 195 days before a
		w.license("aad.fay", "stakeholder", "pending", day(-195))
		w.neverAccessed("aad.fay")
		w.user("aad.gus", "Gus Garcia") // no entitlement: nothing to judge
	})
	b := run(t, st, day(10), func(w *writer) {
		// Hal joins between the runs, last seen long ago: dormant at b, and
		// not a dormant account at a, since he was not there.
		w.user("aad.hal", "Hal Haddad")
		w.license("aad.hal", "express", "active", day(-300))
		w.lastAccess("aad.hal", day(-120))
	})
	want := []string{
		`dormant accounts Alice Abara last_accessed:"2026-03-08T00:00:00Z"→"2026-03-08T00:00:00Z"`,
		`dormant accounts Erin Eriksen last_accessed:""→"" date_created:"2026-03-05T00:00:00Z"→"2026-03-05T00:00:00Z"`,
		`added accounts Hal Haddad`,
		`dormant accounts Hal Haddad last_accessed:""→"2026-02-01T00:00:00Z"`,
	}
	got := between(t, st, a, b, Options{Entities: []string{EntAccounts}})
	sameLines(t, "run diff", got, want)
	sameLines(t, "packet diff", packets(t, st, a, b, Options{Entities: []string{EntAccounts}}, "csv", "parquet"), got)

	// N is an option; negative turns dormancy off.
	sameLines(t, "200 days", between(t, st, a, b, Options{Entities: []string{EntAccounts}, DormantDays: 200}), []string{
		`added accounts Hal Haddad`,
		`dormant accounts Bob Brown last_accessed:"2025-11-18T00:00:00Z"→"2025-11-18T00:00:00Z"`,
		`dormant accounts Fay Fischer last_accessed:""→"" date_created:"2025-11-18T00:00:00Z"→"2025-11-18T00:00:00Z"`,
	})
	sameLines(t, "off", between(t, st, a, b, Options{Entities: []string{EntAccounts}, DormantDays: -1}), []string{`added accounts Hal Haddad`})

	// More than N days apart: an account active in between and dormant at
	// the newer run is reported, judged on its latest last access.
	c := run(t, st, day(130), func(w *writer) { w.lastAccess("aad.carol", day(20)) })
	sameLines(t, "a to c", between(t, st, a, c, Options{Entities: []string{EntAccounts}}), []string{
		`added accounts Hal Haddad`,
		`dormant accounts Alice Abara last_accessed:"2026-03-08T00:00:00Z"→"2026-03-08T00:00:00Z"`,
		`dormant accounts Carol Chen last_accessed:"2026-06-21T00:00:00Z"→"2026-06-21T00:00:00Z"`,
		`dormant accounts Dave Dubois last_accessed:"2026-05-31T00:00:00Z"→"2026-05-31T00:00:00Z"`,
		`dormant accounts Erin Eriksen last_accessed:""→"" date_created:"2026-03-05T00:00:00Z"→"2026-03-05T00:00:00Z"`,
		`dormant accounts Hal Haddad last_accessed:""→"2026-02-01T00:00:00Z"`,
	})
}

// A disabled account enabled again.
func TestEnabled(t *testing.T) {
	st := newStore(t)
	a := run(t, st, t0, func(w *writer) {
		base(w)
		w.license("aad.carol", "express", "disabled", t0.AddDate(-1, 0, 0))
	})
	b := run(t, st, t0.Add(time.Hour), func(w *writer) { w.license("aad.carol", "express", "active", t0.AddDate(-1, 0, 0)) })
	sameLines(t, "enabled", between(t, st, a, b, all), []string{`enabled accounts Carol Chen status:"disabled"→"active"`})
}

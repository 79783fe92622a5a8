package diff

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// The base organization of the hand-built scenarios:
//
//	Contributors ∋ Developers, Bob     Developers ∋ Alice
//	Readers ∋ Leads                    Leads ∋ Dave
//	Cycle A ∋ Cycle B, Carol           Cycle B ∋ Cycle A
//	Old Group ∋ Build Service          Project Administrators ∋ (nobody)
func base(w *writer) {
	for _, u := range [][2]string{{"aad.alice", "Alice Abara"}, {"aad.bob", "Bob Brown"}, {"aad.carol", "Carol Chen"}, {"aad.dave", "Dave Dubois"}} {
		w.user(u[0], u[1])
		w.license(u[0], "express", "active", t0.AddDate(-1, 0, 0))
		w.lastAccess(u[0], t0.AddDate(0, 0, -1))
	}
	w.user("svc.build", "Build Service")
	for _, g := range [][2]string{{"vssgp.admins", "Project Administrators"}, {"vssgp.contrib", "Contributors"}, {"vssgp.readers", "Readers"},
		{"vssgp.devs", "Developers"}, {"vssgp.leads", "Leads"}, {"vssgp.cyca", "Cycle A"}, {"vssgp.cycb", "Cycle B"}, {"vssgp.old", "Old Group"}} {
		w.group(g[0], g[1])
	}
	w.members("vssgp.contrib", "vssgp.devs", "aad.bob")
	w.members("vssgp.devs", "aad.alice")
	w.members("vssgp.readers", "vssgp.leads")
	w.members("vssgp.leads", "aad.dave")
	w.members("vssgp.cyca", "vssgp.cycb", "aad.carol")
	w.members("vssgp.cycb", "vssgp.cyca")
	w.members("vssgp.old", "svc.build")
}

var all = Options{Effective: true}

func TestScenarios(t *testing.T) {
	tests := []struct {
		name   string
		change func(w *writer)
		want   []string
	}{
		{
			// A group added to Project Administrators gives every one of
			// its members admin, nested ones included, each with its path.
			name:   "nested add",
			change: func(w *writer) { w.members("vssgp.admins", "vssgp.contrib") },
			want: []string{
				`added memberships [Atlas]\Project Administrators > [Atlas]\Contributors`,
				`access_gained effective_access [Atlas]\Project Administrators > Alice Abara (via [Atlas]\Developers → [Atlas]\Contributors → [Atlas]\Project Administrators)`,
				`access_gained effective_access [Atlas]\Project Administrators > Bob Brown (via [Atlas]\Contributors → [Atlas]\Project Administrators)`,
			},
		},
		{
			name:   "nested remove",
			change: func(w *writer) { w.members("vssgp.contrib", "aad.bob") },
			want: []string{
				`removed memberships [Atlas]\Contributors > [Atlas]\Developers`,
				`access_lost effective_access [Atlas]\Contributors > Alice Abara (via [Atlas]\Developers → [Atlas]\Contributors)`,
			},
		},
		{
			// Dave joins Cycle B, which is in Cycle A, which is in Cycle B.
			name:   "cycle",
			change: func(w *writer) { w.members("vssgp.cycb", "vssgp.cyca", "aad.dave") },
			want: []string{
				`added memberships [Atlas]\Cycle B > Dave Dubois`,
				`access_gained effective_access [Atlas]\Cycle B > Dave Dubois (direct)`,
				`access_gained effective_access [Atlas]\Cycle A > Dave Dubois (via [Atlas]\Cycle B → [Atlas]\Cycle A)`,
			},
		},
		{
			name: "group moved between parents",
			change: func(w *writer) {
				w.members("vssgp.readers")
				w.members("vssgp.contrib", "vssgp.devs", "aad.bob", "vssgp.leads")
			},
			want: []string{
				`removed memberships [Atlas]\Readers > [Atlas]\Leads`,
				`added memberships [Atlas]\Contributors > [Atlas]\Leads`,
				`access_lost effective_access [Atlas]\Readers > Dave Dubois (via [Atlas]\Leads → [Atlas]\Readers)`,
				`access_gained effective_access [Atlas]\Contributors > Dave Dubois (via [Atlas]\Leads → [Atlas]\Contributors)`,
			},
		},
		{
			name:   "user renamed",
			change: func(w *writer) { w.user("aad.alice", "Alice Abara-Smith") },
			want:   []string{`modified accounts Alice Abara-Smith display_name:"Alice Abara"→"Alice Abara-Smith"`},
		},
		{
			name:   "group renamed",
			change: func(w *writer) { w.group("vssgp.leads", "Team Leads") },
			want:   []string{`modified groups [Atlas]\Team Leads display_name:"Leads"→"Team Leads" principal_name:"[Atlas]\\Leads"→"[Atlas]\\Team Leads"`},
		},
		{
			name:   "license downgrade",
			change: func(w *writer) { w.license("aad.bob", "stakeholder", "active", t0.AddDate(-1, 0, 0)) },
			want:   []string{`license_changed accounts Bob Brown account_license_type:"express"→"stakeholder" license_display_name:"Basic"→"Stakeholder"`},
		},
		{
			name:   "disabled",
			change: func(w *writer) { w.license("aad.carol", "express", "disabled", t0.AddDate(-1, 0, 0)) },
			want:   []string{`disabled accounts Carol Chen status:"active"→"disabled"`},
		},
		{
			name: "user added and removed",
			change: func(w *writer) {
				w.user("aad.erin", "Erin Eriksen")
				w.license("aad.erin", "stakeholder", "pending", t0)
				w.members("vssgp.devs", "aad.erin")
				w.check(w.w.Delete(snapshot.Accounts, "aad.alice"))
				w.check(w.w.Delete(snapshot.Entitlements, "aad.alice"))
			},
			want: []string{
				`added accounts Erin Eriksen`,
				`removed accounts Alice Abara`,
				`removed memberships [Atlas]\Developers > Alice Abara`,
				`added memberships [Atlas]\Developers > Erin Eriksen`,
				`access_lost effective_access [Atlas]\Developers > Alice Abara (direct)`,
				`access_lost effective_access [Atlas]\Contributors > Alice Abara (via [Atlas]\Developers → [Atlas]\Contributors)`,
				`access_gained effective_access [Atlas]\Developers > Erin Eriksen (direct)`,
				`access_gained effective_access [Atlas]\Contributors > Erin Eriksen (via [Atlas]\Developers → [Atlas]\Contributors)`,
			},
		},
		{
			name:   "nothing changed",
			change: func(w *writer) { w.user("aad.alice", "Alice Abara") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t)
			a := run(t, st, t0, base)
			b := run(t, st, t0.Add(time.Hour), tt.change)
			got := between(t, st, a, b, all)
			sameLines(t, "run diff", got, tt.want)
			sameLines(t, "packet diff", packets(t, st, a, b, all, "csv", "csv"), got)
		})
	}
}

// A group deleted in one run and re-created in the next: with the same
// descriptor (and content) the two runs around it show nothing; with a new
// descriptor, as Azure DevOps gives, one group removed and one added.
func TestDeletedThenRecreatedGroup(t *testing.T) {
	st := newStore(t)
	r1 := run(t, st, t0, base)
	r2 := run(t, st, t0.Add(time.Hour), func(w *writer) { w.deleteGroup("vssgp.old") })
	r3 := run(t, st, t0.Add(2*time.Hour), func(w *writer) {
		w.group("vssgp.old", "Old Group")
		w.members("vssgp.old", "svc.build")
	})
	r4 := run(t, st, t0.Add(3*time.Hour), func(w *writer) { w.deleteGroup("vssgp.old") })
	r5 := run(t, st, t0.Add(4*time.Hour), func(w *writer) {
		w.group("vssgp.old2", "Old Group")
		w.members("vssgp.old2", "svc.build")
	})
	gone := []string{
		`removed groups [Atlas]\Old Group`,
		`removed memberships [Atlas]\Old Group > Build Service`,
		`access_lost effective_access [Atlas]\Old Group > Build Service (direct)`,
	}
	back := []string{
		`added groups [Atlas]\Old Group`,
		`added memberships [Atlas]\Old Group > Build Service`,
		`access_gained effective_access [Atlas]\Old Group > Build Service (direct)`,
	}
	sameLines(t, "deleted", between(t, st, r1, r2, all), gone)
	sameLines(t, "re-created", between(t, st, r2, r3, all), back)
	sameLines(t, "deleted and re-created, same descriptor", between(t, st, r1, r3, all), nil)
	got := between(t, st, r3, r5, all)
	sameLines(t, "deleted and re-created, new descriptor", got, append(slices.Clone(gone), back...))
	sameLines(t, "packets", packets(t, st, r3, r5, all, "csv", "parquet"), got)
	// The new group is a different key: the old and new rows are not paired.
	var keys []string
	Between(context.Background(), st, r3, r5, Options{Entities: []string{EntGroups}}, func(c Change) error {
		keys = append(keys, c.Kind+" "+c.Key)
		return nil
	})
	if !slices.Equal(keys, []string{"removed vssgp.old", "added vssgp.old2"}) {
		t.Errorf("group changes %v", keys)
	}
	_ = r4
}

// Versions that live only between the two runs are not seen: a user
// renamed twice shows the first name and the last, a membership added and
// removed again shows nothing.
func TestVersionsBetweenTheRuns(t *testing.T) {
	st := newStore(t)
	r1 := run(t, st, t0, base)
	run(t, st, t0.Add(time.Hour), func(w *writer) {
		w.user("aad.alice", "Alice B")
		w.members("vssgp.admins", "aad.bob")
		w.group("vssgp.temp", "Temp")
	})
	r3 := run(t, st, t0.Add(2*time.Hour), func(w *writer) {
		w.user("aad.alice", "Alice C")
		w.members("vssgp.admins")
		w.deleteGroup("vssgp.temp")
	})
	got := between(t, st, r1, r3, all)
	sameLines(t, "run diff", got, []string{`modified accounts Alice C display_name:"Alice Abara"→"Alice C"`})
	sameLines(t, "packet diff", packets(t, st, r1, r3, all, "csv", "csv"), got)
}

package diff

import (
	"context"
	"fmt"
	"testing"
)

// The closure of the base organization: nested groups, and a cycle that
// ends.
func TestEffective(t *testing.T) {
	st := newStore(t)
	r := run(t, st, t0, func(w *writer) {
		base(w)
		// Two ways to Readers: through Leads (2 steps) and through Team,
		// which is in Leads (3 steps); the shorter wins. Two equal ways to
		// Contributors (through Developers and through Zeta): the direct
		// group first by descriptor wins.
		w.group("vssgp.team", "Team")
		w.group("vssgp.zeta", "Zeta")
		w.members("vssgp.team", "aad.dave")
		w.members("vssgp.leads", "aad.dave", "vssgp.team")
		w.members("vssgp.zeta", "aad.alice")
		w.members("vssgp.contrib", "vssgp.devs", "aad.bob", "vssgp.zeta")
	})
	var got []string
	err := Effective(context.Background(), st, r, func(g Grant) error {
		got = append(got, fmt.Sprintf("%s %s %v %s [%s] %v", g.Subject, g.SubjectKind, g.Direct, g.Group, g.PathText(), g.Path))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`aad.alice user false vssgp.contrib [via [Atlas]\Developers → [Atlas]\Contributors] [vssgp.devs vssgp.contrib]`,
		`aad.alice user true vssgp.devs [direct] [vssgp.devs]`,
		`aad.alice user true vssgp.zeta [direct] [vssgp.zeta]`,
		`aad.bob user true vssgp.contrib [direct] [vssgp.contrib]`,
		`aad.carol user true vssgp.cyca [direct] [vssgp.cyca]`,
		`aad.carol user false vssgp.cycb [via [Atlas]\Cycle A → [Atlas]\Cycle B] [vssgp.cyca vssgp.cycb]`,
		`aad.dave user true vssgp.leads [direct] [vssgp.leads]`,
		`aad.dave user false vssgp.readers [via [Atlas]\Leads → [Atlas]\Readers] [vssgp.leads vssgp.readers]`,
		`aad.dave user true vssgp.team [direct] [vssgp.team]`,
		`svc.build service_account true vssgp.old [direct] [vssgp.old]`,
	}
	sameLines(t, "grants", got, want)
	for i := range want {
		if i < len(got) && got[i] != want[i] {
			t.Fatalf("grant %d is %q, want %q (accounts, then groups, by descriptor)", i, got[i], want[i])
		}
	}
}

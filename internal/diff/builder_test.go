package diff

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Hand-built stores: runs written straight through snapshot.Writer, so a
// scenario says exactly which rows change.

const testOrg = "https://dev.azure.com/fabrikam"

var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func newStore(t testing.TB) *snapshot.Store {
	t.Helper()
	st, err := snapshot.Open(context.Background(), filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// run writes one run: fn puts and deletes rows, at is its snapshot time.
func run(t testing.TB, st *snapshot.Store, at time.Time, fn func(w *writer)) int64 {
	t.Helper()
	sw, err := st.Begin(context.Background(), testOrg, "full")
	if err != nil {
		t.Fatal(err)
	}
	fn(&writer{t: t, w: sw})
	r, err := sw.Commit(snapshot.RunStats{SnapshotTime: at})
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// writer wraps snapshot.Writer with rows built from a few values.
type writer struct {
	t testing.TB
	w *snapshot.Writer
}

func (w *writer) check(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// user puts an account; its principal name derives from the descriptor.
func (w *writer) user(desc, display string) {
	w.t.Helper()
	kind := kindOfDescriptor(desc)
	typ, _, _ := strings.Cut(desc, ".")
	login := strings.TrimPrefix(desc, typ+".") + "@fabrikam.com"
	w.check(w.w.Put(snapshot.Accounts, snapshot.Row{desc, kind, typ, "aad", "oid-" + desc, login, login, display, "fabrikam.com", "member", "", "", int64(0)}))
}

// license puts an entitlement: license is express, stakeholder or advanced.
func (w *writer) license(desc, license, status string, created time.Time) {
	w.t.Helper()
	display := map[string]string{"express": "Basic", "stakeholder": "Stakeholder", "advanced": "Basic + Test Plans"}[license]
	w.check(w.w.Put(snapshot.Entitlements, snapshot.Row{desc, license, "account", "none", display, status, "unknown", "", created.Format(time.RFC3339)}))
}

func (w *writer) lastAccess(desc string, at time.Time) {
	w.t.Helper()
	w.check(w.w.SetLastAccess(desc, &at))
}

// neverAccessed records that an account never signed in, as the collector
// does for every entitlement it reads without a last access.
func (w *writer) neverAccessed(desc string) {
	w.t.Helper()
	w.check(w.w.SetLastAccess(desc, nil))
}

// group puts an Azure DevOps group named "[Atlas]\name".
func (w *writer) group(desc, name string) {
	w.t.Helper()
	w.check(w.w.Put(snapshot.Groups, snapshot.Row{desc, "vssgp", "p1", "vsts", "o-" + desc, name, `[Atlas]\` + name, "", "Atlas", "", int64(0)}))
}

// members makes members the complete direct membership of group.
func (w *writer) members(group string, members ...string) {
	w.t.Helper()
	var rows []snapshot.Row
	for _, m := range members {
		rows = append(rows, snapshot.Row{group, m})
	}
	w.check(w.w.ReplaceScope(snapshot.Memberships, []any{group}, rows))
}

func (w *writer) deleteGroup(desc string) {
	w.t.Helper()
	w.check(w.w.Delete(snapshot.Groups, desc))
	w.check(w.w.DeleteScope(snapshot.Memberships, desc))
}

// between runs Between and renders the changes.
func between(t testing.TB, st *snapshot.Store, a, b int64, opts Options) []string {
	t.Helper()
	var out []string
	err := Between(context.Background(), st, a, b, opts, func(c Change) error {
		out = append(out, render(c))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// render writes a change on one line: kind, entity, name, then fields or
// path.
func render(c Change) string {
	s := c.Kind + " " + c.Entity + " " + c.Name
	for _, f := range c.Fields {
		s += fmt.Sprintf(" %s:%q→%q", f.Name, f.Before, f.After)
	}
	if c.Path != "" {
		s += " (" + c.Path + ")"
	}
	return s
}

// sameLines compares two lists of rendered changes, ignoring order.
func sameLines(t testing.TB, what string, got, want []string) {
	t.Helper()
	g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if slices.Equal(g, w) {
		return
	}
	var b strings.Builder
	for _, l := range w {
		if !slices.Contains(g, l) {
			b.WriteString("\n  missing: " + l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			b.WriteString("\n  extra:   " + l)
		}
	}
	t.Errorf("%s:%s", what, b.String())
}

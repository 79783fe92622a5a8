package snapshot

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// indexesOf lists the secondary indexes of a table as the file has them.
func indexesOf(t *testing.T, s *Store, table string) []string {
	t.Helper()
	rows, err := s.db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		out = append(out, n)
	}
	return out
}

// A first full read builds an empty table's indexes once at EndFull; every
// index is there after the run, a read by another column mid-run sees its
// rows, and an aborted run leaves the indexes as they were.
func TestFirstFullReadDefersIndexes(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	want := indexesOf(t, s, "memberships")
	if len(want) < 2 {
		t.Fatalf("memberships has indexes %v; the test needs its secondary indexes", want)
	}

	// Aborted: the drop is rolled back with everything else.
	w, err := s.Begin(ctx, "org", "full")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.StartFull(Memberships); err != nil {
		t.Fatal(err)
	}
	if len(w.deferred[Memberships]) != len(want) {
		t.Fatalf("deferred %d indexes of an empty table, want %d", len(w.deferred[Memberships]), len(want))
	}
	w.Abort(context.Canceled, RunStats{})
	if got := indexesOf(t, s, "memberships"); !slices.Equal(got, want) {
		t.Fatalf("after an aborted run: indexes %v, want %v", got, want)
	}

	w, _ = s.Begin(ctx, "org", "full")
	if err := w.StartFull(Memberships); err != nil {
		t.Fatal(err)
	}
	// Projects: read by nothing but its key, so EndFull alone builds them.
	if err := w.StartFull(Projects); err != nil {
		t.Fatal(err)
	}
	w.Put(Projects, project("p1", "A"))
	if err := w.EndFull(Projects); err != nil {
		t.Fatal(err)
	}
	if _, ok := w.deferred[Projects]; ok {
		t.Fatal("EndFull left the indexes of projects unbuilt")
	}
	w.ReplaceScope(Memberships, []any{"g1"}, []Row{member("g1", "u1"), member("g1", "u2")})
	w.ReplaceScope(Memberships, []any{"g2"}, []Row{member("g2", "u1")})
	// A read by member (the memberships_member index) mid-run builds the
	// indexes first and finds both rows.
	var got []string
	if err := w.CurrentWhere(Memberships, "member", "u1", func(r Row) error {
		got = append(got, r[0].(string))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if slices.Sort(got); !slices.Equal(got, []string{"g1", "g2"}) {
		t.Fatalf("u1 is a member of %v, want [g1 g2]", got)
	}
	if len(w.deferred) != 0 {
		t.Fatalf("indexes still deferred after a read by member: %v", w.deferred)
	}
	if err := w.EndFull(Memberships); err != nil {
		t.Fatal(err)
	}
	commit(t, w)
	if got := indexesOf(t, s, "memberships"); !slices.Equal(got, want) {
		t.Fatalf("after the first full run: indexes %v, want %v", got, want)
	}
	var plan string
	s.db.QueryRow(`EXPLAIN QUERY PLAN SELECT container FROM memberships WHERE member = 'u1'`).Scan(new(int), new(int), new(int), &plan)
	if plan == "" || !strings.Contains(plan, "memberships_member") {
		t.Fatalf("a read by member does not use its index: %q", plan)
	}

	// The table now has rows: a second full read keeps its indexes.
	w, _ = s.Begin(ctx, "org", "full")
	if err := w.StartFull(Memberships); err != nil {
		t.Fatal(err)
	}
	if len(w.deferred) != 0 {
		t.Fatalf("deferred the indexes of a table with rows: %v", w.deferred)
	}
	w.ReplaceScope(Memberships, []any{"g1"}, []Row{member("g1", "u1")})
	w.EndFull(Memberships)
	commit(t, w)
	if got := indexesOf(t, s, "memberships"); !slices.Equal(got, want) {
		t.Fatalf("after the second run: indexes %v, want %v", got, want)
	}
}

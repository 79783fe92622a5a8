package snapshot

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	sqlfiles "github.com/ado-access/ado-access/sql"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSchemaMatchesTables keeps the Table descriptions (from which the
// write statements are built) in step with the migrations.
func TestSchemaMatchesTables(t *testing.T) {
	s := openTemp(t)
	for _, tbl := range Tables {
		rows, err := s.db.Query(`SELECT name FROM pragma_table_info(?)`, tbl.Name)
		if err != nil {
			t.Fatal(err)
		}
		var cols []string
		for rows.Next() {
			var c string
			rows.Scan(&c)
			cols = append(cols, c)
		}
		rows.Close()
		want := append(tbl.Columns(), "valid_from", "valid_to", "hash")
		slices.Sort(cols)
		slices.Sort(want)
		if !slices.Equal(cols, want) {
			t.Errorf("table %s: schema has %v, Table describes %v", tbl.Name, cols, want)
		}
	}
}

func TestOpenTwiceAppliesMigrationsOnce(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.db")
	files, _ := fs.Glob(sqlfiles.Files, "migrations/*.sql")
	for range 2 {
		s, err := Open(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		s.db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n)
		if n != len(files) || n < 2 {
			t.Fatalf("schema_migrations has %d rows, want one per migration (%d)", n, len(files))
		}
		s.Close()
	}
}

func TestOpenExistingMissing(t *testing.T) {
	_, err := OpenExisting(context.Background(), filepath.Join(t.TempDir(), "none.db"))
	if !errors.Is(err, ErrNoStore) {
		t.Fatalf("err = %v, want ErrNoStore", err)
	}
}

func project(id, name string) Row { return Row{id, name, "", "wellFormed", "private"} }

// snapshotOf returns the rows of t at run as strings, for comparisons.
func snapshotOf(t *testing.T, s *Store, tbl *Table, run int64) []string {
	t.Helper()
	var out []string
	err := s.Scan(context.Background(), tbl, run, func(r Row) error {
		parts := make([]string, len(r))
		for i, v := range r {
			switch x := v.(type) {
			case string:
				parts[i] = x
			case int64:
				parts[i] = strings.Repeat("#", int(x)) // compact and unambiguous for 0/1
			}
		}
		out = append(out, strings.Join(parts, "|"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func commit(t *testing.T, w *Writer) Run {
	t.Helper()
	r, err := w.Commit(RunStats{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVersionsChangeOnlyWithContent(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)

	w, _ := s.Begin(ctx, "https://dev.azure.com/Org/", "full")
	w.StartFull(Projects)
	w.Put(Projects, project("p1", "Alpha"))
	w.Put(Projects, project("p2", "Beta"))
	w.EndFull(Projects)
	r1 := commit(t, w)
	if r1.VersionsAdded != 2 || r1.VersionsClosed != 0 || r1.Org != "https://dev.azure.com/org" {
		t.Fatalf("run 1 = %+v", r1)
	}

	// Same content: no version written.
	w, _ = s.Begin(ctx, "https://dev.azure.com/org", "full")
	w.StartFull(Projects)
	w.Put(Projects, project("p1", "Alpha"))
	w.Put(Projects, project("p2", "Beta"))
	w.EndFull(Projects)
	r2 := commit(t, w)
	if r2.VersionsWritten != 0 {
		t.Fatalf("unchanged sync wrote %d versions", r2.VersionsWritten)
	}

	// A rename is one closed and one added version; p2 not seen is closed.
	w, _ = s.Begin(ctx, "https://dev.azure.com/org", "full")
	w.StartFull(Projects)
	w.Put(Projects, project("p1", "Alpha renamed"))
	w.Put(Projects, project("p3", "Gamma"))
	w.EndFull(Projects)
	r3 := commit(t, w)
	if r3.VersionsAdded != 2 || r3.VersionsClosed != 2 {
		t.Fatalf("run 3 added %d closed %d, want 2 and 2", r3.VersionsAdded, r3.VersionsClosed)
	}

	for run, want := range map[int64][]string{
		r1.ID: {"p1|Alpha||wellFormed|private", "p2|Beta||wellFormed|private"},
		r2.ID: {"p1|Alpha||wellFormed|private", "p2|Beta||wellFormed|private"},
		r3.ID: {"p1|Alpha renamed||wellFormed|private", "p3|Gamma||wellFormed|private"},
	} {
		if got := snapshotOf(t, s, Projects, run); !slices.Equal(got, want) {
			t.Errorf("snapshot at run %d = %v, want %v", run, got, want)
		}
	}
}

func member(c, m string) Row { return Row{c, m} }

func TestReplaceScope(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	w, _ := s.Begin(ctx, "org", "full")
	w.StartFull(Memberships)
	w.ReplaceScope(Memberships, []any{"g1"}, []Row{member("g1", "u1"), member("g1", "u2"), member("g1", "u2")})
	w.ReplaceScope(Memberships, []any{"g2"}, []Row{member("g2", "u1")})
	w.EndFull(Memberships)
	r1 := commit(t, w)
	if r1.VersionsAdded != 3 {
		t.Fatalf("added %d, want 3 (the duplicate member counts once)", r1.VersionsAdded)
	}

	// g1 loses u1 and gains u3; g2 is gone (not seen in the full read).
	w, _ = s.Begin(ctx, "org", "full")
	w.StartFull(Memberships)
	w.ReplaceScope(Memberships, []any{"g1"}, []Row{member("g1", "u2"), member("g1", "u3")})
	w.EndFull(Memberships)
	r2 := commit(t, w)
	if got, want := snapshotOf(t, s, Memberships, r2.ID), []string{"g1|u2", "g1|u3"}; !slices.Equal(got, want) {
		t.Fatalf("after run 2: %v, want %v", got, want)
	}
	if r2.VersionsAdded != 1 || r2.VersionsClosed != 2 {
		t.Fatalf("run 2 added %d closed %d, want 1 and 2", r2.VersionsAdded, r2.VersionsClosed)
	}
	if got, want := snapshotOf(t, s, Memberships, r1.ID), []string{"g1|u1", "g1|u2", "g2|u1"}; !slices.Equal(got, want) {
		t.Fatalf("run 1 snapshot changed: %v, want %v", got, want)
	}
}

func TestSameRunRewriteAndDelete(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	w, _ := s.Begin(ctx, "org", "incremental")
	w.Put(Projects, project("p1", "A"))
	w.Put(Projects, project("p1", "B")) // re-read within the same run
	w.Put(Projects, project("p2", "C"))
	w.Delete(Projects, "p2") // created and deleted within one run
	r := commit(t, w)
	if got, want := snapshotOf(t, s, Projects, r.ID), []string{"p1|B||wellFormed|private"}; !slices.Equal(got, want) {
		t.Fatalf("snapshot %v, want %v", got, want)
	}
	if r.VersionsAdded != 1 || r.VersionsClosed != 0 {
		t.Fatalf("added %d closed %d, want 1 and 0", r.VersionsAdded, r.VersionsClosed)
	}
}

func TestUncommittedRunIsInvisibleAndAbortFails(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	w, _ := s.Begin(ctx, "org", "full")
	w.Put(Projects, project("p1", "A"))
	r1 := commit(t, w)

	w, _ = s.Begin(ctx, "org", "full")
	w.Put(Projects, project("p1", "changed"))
	// Another connection reads the committed snapshot meanwhile.
	if latest, err := s.LatestRun(ctx); err != nil || latest.ID != r1.ID {
		t.Fatalf("latest while writing = %v, %v; want run %d", latest.ID, err, r1.ID)
	}
	w.Abort(errors.New("network gone"), RunStats{APIRequests: 424})
	run, _ := s.Run(ctx, w.ID())
	if run.Status != "failed" || run.Error != "network gone" || run.APIRequests != 424 {
		t.Fatalf("aborted run = %+v", run)
	}
	// The writer's run says what the store recorded: logs and summaries
	// count the requests of a failed run (issue 19, item 6).
	if wr := w.Run(); wr.Status != "failed" || wr.APIRequests != 424 || wr.Error != "network gone" || wr.FinishedAt == nil {
		t.Fatalf("the writer's run after Abort = %+v; want failed with 424 requests", wr)
	}
	if got := snapshotOf(t, s, Projects, r1.ID); !slices.Equal(got, []string{"p1|A||wellFormed|private"}) {
		t.Fatalf("snapshot after abort: %v", got)
	}
	if _, err := s.CompleteRun(ctx, w.ID()); !errors.Is(err, ErrNoRun) {
		t.Fatalf("CompleteRun of a failed run: %v", err)
	}
}

func TestRecoverInterrupted(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	// A run row left 'running', as a killed process leaves it.
	s.db.Exec(`INSERT INTO runs (org, kind, status, started_at) VALUES ('org', 'full', 'running', '2026-01-01T00:00:00Z')`)
	ids, err := s.RecoverInterrupted(ctx)
	if err != nil || len(ids) != 1 {
		t.Fatalf("recovered %v, %v", ids, err)
	}
	r, _ := s.Run(ctx, ids[0])
	if r.Status != "failed" || !strings.Contains(r.Error, "interrupted") {
		t.Fatalf("run = %+v", r)
	}
}

func TestLockIsExclusive(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	l, err := s.Lock(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Lock(ctx, false); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("second lock: %v, want ErrLocked naming the holder", err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := other.Lock(waitCtx, true); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting lock: %v, want deadline exceeded", err)
	}
	l.Unlock()
	l2, err := other.Lock(ctx, true)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l2.Unlock()
}

func TestLastAccessIsUpdatedInPlace(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	when := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	w, _ := s.Begin(ctx, "org", "full")
	w.SetLastAccess("aad.a", &when)
	w.SetLastAccess("aad.b", nil)
	r1 := commit(t, w)
	later := when.Add(24 * time.Hour)
	w, _ = s.Begin(ctx, "org", "full")
	w.SetLastAccess("aad.a", &later)
	r2 := commit(t, w)
	if r2.VersionsWritten != 0 {
		t.Fatalf("a last-access change wrote %d versions", r2.VersionsWritten)
	}
	var got string
	var never *string
	s.db.QueryRow(`SELECT last_accessed FROM access_dates WHERE descriptor = 'aad.a'`).Scan(&got)
	s.db.QueryRow(`SELECT last_accessed FROM access_dates WHERE descriptor = 'aad.b'`).Scan(&never)
	if got != formatTime(later) || never != nil {
		t.Fatalf("last access a=%q b=%v", got, never)
	}
	_ = r1
}

func TestIdentityKeysMerge(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	w, _ := s.Begin(ctx, "org", "full")
	w.SetIdentityKeys("aad.x", "ABC-1", "")
	w.SetIdentityKeys("aad.x", "", "Microsoft.IdentityModel.Claims.ClaimsIdentity;t\\x@y")
	commit(t, w)
	var key, legacy string
	s.db.QueryRow(`SELECT storage_key, legacy FROM identity_keys WHERE descriptor = 'aad.x'`).Scan(&key, &legacy)
	if key != "abc-1" || !strings.HasSuffix(legacy, "x@y") {
		t.Fatalf("identity keys = %q %q", key, legacy)
	}
}

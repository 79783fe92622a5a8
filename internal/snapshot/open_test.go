package snapshot

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sqlfiles "github.com/ado-access/ado-access/sql"
)

// A second writer reaching the store through a symlink or a hard link
// meets the same lock: the lock is the file's, not its name's.
func TestLockHoldsThroughLinks(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	l, err := s.Lock(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	dir := t.TempDir()
	sym, hard := filepath.Join(dir, "sym.db"), filepath.Join(dir, "hard.db")
	if err := os.Symlink(s.Path(), sym); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(s.Path(), hard); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	other, err := Open(ctx, sym)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Lock(ctx, false); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid") {
		t.Errorf("lock through a symlink: %v, want ErrLocked naming the holder", err)
	}
	other.Close()
	// SQLite itself cannot open one database through two hard links in one
	// process (its WAL is named after the path), so take the file lock
	// alone; cmd/exporter's tests sync through a hard link from another
	// process.
	f, err := os.Open(hard)
	if err != nil {
		t.Fatal(err)
	}
	linked := &Store{path: hard, file: f}
	if _, err := linked.flock(ctx, false); !errors.Is(err, ErrLocked) {
		t.Errorf("lock through a hard link: %v, want ErrLocked", err)
	}
	f.Close()
	// No lock file is left beside the store.
	if matches, _ := filepath.Glob(s.Path() + ".lock*"); len(matches) > 0 {
		t.Errorf("lock files left: %v", matches)
	}
}

// foreignDB writes an SQLite database of another application.
func foreignDB(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "other.db")
	db, err := sql.Open("sqlite", "file:"+p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('keep me')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return p
}

// Neither reading nor writing commands change a file that is not a store.
func TestForeignDatabaseIsRefusedUntouched(t *testing.T) {
	ctx := context.Background()
	p := foreignDB(t)
	before, _ := os.ReadFile(p)
	for name, open := range map[string]func(context.Context, string) (*Store, error){"OpenExisting": OpenExisting, "Open": Open} {
		if _, err := open(ctx, p); !errors.Is(err, ErrNotStore) {
			t.Errorf("%s of a foreign database: %v, want ErrNotStore", name, err)
		}
	}
	after, _ := os.ReadFile(p)
	if !bytes.Equal(before, after) {
		t.Error("the foreign database changed")
	}
	if _, err := os.Stat(p + "-wal"); err == nil {
		t.Error("the foreign database was switched to WAL")
	}
}

func TestReadersRefuseWhatIsNotAStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o644)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello, this is not a database at all, just words"), 0o644)
	cases := []struct {
		path, want string
		is         error
	}{
		{empty, "empty file", ErrNotStore},
		{text, "not an SQLite database", ErrNotStore},
		{dir, "is a directory", nil},
	}
	for _, c := range cases {
		_, err := OpenExisting(ctx, c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) || c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("OpenExisting(%s) = %v, want %q", filepath.Base(c.path), err, c.want)
		}
	}
	if fi, _ := os.Stat(empty); fi.Size() != 0 {
		t.Error("reading an empty file made it a store")
	}
	if _, err := Open(ctx, dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("Open(dir) = %v", err)
	}
	// A writer makes an empty file a new store, as sqlite3 would.
	s, err := Open(ctx, empty)
	if err != nil {
		t.Fatalf("Open(empty file) = %v", err)
	}
	s.Close()
}

// olderStore writes a store with every migration but the newest, as an
// earlier exporter left it.
func olderStore(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "old.db")
	db, err := openDB(p, "rwc")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, _ := migrations()
	db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`)
	for _, m := range ms[:len(ms)-1] {
		body, _ := sqlfiles.Files.ReadFile(m.name)
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatal(err)
		}
		db.Exec(`INSERT INTO schema_migrations VALUES (?, ?, '2026-01-01T00:00:00Z')`, m.version, m.name)
	}
	return p
}

// Readers open read-only: they neither migrate an older store nor write.
func TestReadersNeverMigrate(t *testing.T) {
	ctx := context.Background()
	p := olderStore(t)
	if _, err := OpenExisting(ctx, p); err == nil || !strings.Contains(err.Error(), "older exporter") {
		t.Fatalf("OpenExisting of an older store = %v, want a message to upgrade it", err)
	}
	r, err := openDB(p, "ro")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ms, _ := migrations()
	if v, _ := identify(ctx, r, p, false); v != ms[len(ms)-2].version { // the one before the newest (numbers may skip)
		t.Fatalf("the reader migrated the store to %d", v)
	}
	w, err := Open(ctx, p) // a writer upgrades it
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	ro, err := OpenExisting(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.db.Exec(`DELETE FROM runs`); err == nil {
		t.Fatal("a read-only store accepted a write")
	}
}

func TestBindOneOrganization(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	fab := Organization{ID: "11111111-1111-1111-1111-111111111111", Name: "fabrikam", URL: "https://dev.azure.com/Fabrikam"}
	if err := s.Bind(ctx, fab); err != nil {
		t.Fatal(err)
	}
	// The same organization by another URL (a simulator on a new port).
	moved := fab
	moved.URL = "http://127.0.0.1:5555/fabrikam"
	if err := s.Bind(ctx, moved); err != nil {
		t.Fatalf("same id, new URL: %v", err)
	}
	if org, _, _ := s.Organization(ctx); org.URL != "http://127.0.0.1:5555/fabrikam" {
		t.Fatalf("organization = %+v, want the new URL recorded", org)
	}
	// Another organization, even under the same URL, is refused.
	other := Organization{ID: "22222222-2222-2222-2222-222222222222", Name: "fabrikam", URL: moved.URL}
	if err := s.Bind(ctx, other); !errors.Is(err, ErrOtherOrg) || !strings.Contains(err.Error(), "--db") {
		t.Fatalf("another organization: %v, want ErrOtherOrg pointing to --db", err)
	}
	if err := s.CheckOrg(ctx, "https://dev.azure.com/contoso"); !errors.Is(err, ErrOtherOrg) || !strings.Contains(err.Error(), "fabrikam") {
		t.Fatalf("CheckOrg(contoso) = %v, want a refusal naming fabrikam", err)
	}
	for _, ok := range []string{"", "fabrikam", "https://dev.azure.com/fabrikam", "http://127.0.0.1:5555/fabrikam/"} {
		if err := s.CheckOrg(ctx, ok); err != nil {
			t.Errorf("CheckOrg(%q) = %v", ok, err)
		}
	}
}

// Stores from before organizations were recorded bind only to the URL
// their runs were made with.
func TestBindLegacyStore(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	s.db.Exec(`INSERT INTO runs (org, kind, status, started_at) VALUES ('https://dev.azure.com/a', 'full', 'complete', '2026-01-01T00:00:00Z')`)
	if err := s.Bind(ctx, Organization{ID: "x", Name: "b", URL: "https://dev.azure.com/b"}); !errors.Is(err, ErrOtherOrg) {
		t.Fatalf("legacy store, other URL: %v", err)
	}
	if err := s.Bind(ctx, Organization{ID: "x", Name: "a", URL: "https://dev.azure.com/A/"}); err != nil {
		t.Fatalf("legacy store, its own URL: %v", err)
	}
	mixed := openTemp(t)
	mixed.db.Exec(`INSERT INTO runs (org, kind, status, started_at) VALUES ('https://dev.azure.com/a', 'full', 'complete', '2026-01-01T00:00:00Z'), ('https://dev.azure.com/b', 'full', 'complete', '2026-01-02T00:00:00Z')`)
	if err := mixed.Bind(ctx, Organization{ID: "x", Name: "a", URL: "https://dev.azure.com/a"}); !errors.Is(err, ErrOtherOrg) || !strings.Contains(err.Error(), "several organizations") {
		t.Fatalf("mixed legacy store: %v", err)
	}
}

func TestNormalizeOrgDropsCredentials(t *testing.T) {
	if got := NormalizeOrg("https://user:S3CRET@dev.azure.com/Org/"); strings.Contains(got, "S3CRET") || got != "https://dev.azure.com/org" {
		t.Fatalf("NormalizeOrg = %q", got)
	}
	for in, want := range map[string]string{"https://dev.azure.com/fabrikam": "fabrikam", "https://fabrikam.visualstudio.com": "fabrikam", "http://tfs:8080/tfs/DefaultCollection": "defaultcollection", "fabrikam": "fabrikam"} {
		if got := OrgName(in); got != want {
			t.Errorf("OrgName(%q) = %q, want %q", in, got, want)
		}
	}
}

// corrupt overwrites 64 KiB in the middle of the file with junk, as the
// probe that found the defect did.
func corrupt(t *testing.T, p string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	junk := bytes.Repeat([]byte{0xA5, 0x3C, 0xFF, 0x00, 0x17}, 64<<10/5+1)[:64<<10]
	if _, err := f.WriteAt(junk, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// A checked run (every full one) is never committed into a damaged store.
func TestCommitRefusesADamagedStore(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := s.Begin(ctx, "org", "full")
	w.StartFull(Projects)
	for i := range 3000 {
		w.Put(Projects, project(strings.Repeat("p", 1+i%7)+string(rune('a'+i%26))+strings.Repeat("x", i%50)+"-"+string(rune(0x4e00+i)), "Project with a long enough name to fill pages"))
	}
	w.EndFull(Projects)
	commit(t, w)
	s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	s.Close()
	corrupt(t, p)

	s, err = Open(ctx, p)
	if err != nil {
		if errors.Is(err, ErrDamaged) {
			return // caught even earlier
		}
		t.Fatal(err)
	}
	defer s.Close()
	lock, err := s.Lock(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	w, err = s.Begin(ctx, "org", "full")
	if err != nil {
		t.Fatal(err)
	}
	w.Put(Projects, project("new", "New"))
	_, err = w.Commit(RunStats{APIRequests: 7})
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "backup") {
		t.Fatalf("commit into a damaged store: %v, want ErrDamaged saying what to do", err)
	}
	// One line: quick_check's own report spans lines (issue 19, item 10).
	if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "***") {
		t.Errorf("the damage is not said on one line: %q", err)
	}
	var status string
	var requests int64
	s.db.QueryRow(`SELECT status, api_requests FROM runs WHERE id = ?`, w.ID()).Scan(&status, &requests)
	if status != "failed" || requests != 7 {
		t.Fatalf("run status %q, %d requests; want failed with its 7 requests recorded", status, requests)
	}
}

// A full read that puts the same rows again (a listing that starts over)
// counts each row once.
func TestRowsSeenCountsEachKeyOnce(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	w, _ := s.Begin(ctx, "org", "full")
	w.StartFull(Projects)
	for range 2 {
		w.Put(Projects, project("p1", "Alpha"))
		w.Put(Projects, project("p2", "Beta"))
	}
	w.EndFull(Projects)
	if r := commit(t, w); r.RowsSeen != 2 {
		t.Fatalf("rows seen = %d, want 2", r.RowsSeen)
	}
}

// The whole file is checked on every full run and once a day; the
// incremental runs between are not (see Check).
func TestIntegrityCheckEveryFullRunAndDaily(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	run := func(kind string) bool {
		t.Helper()
		lock, err := s.Lock(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Unlock()
		w, err := s.Begin(ctx, "org", kind)
		if err != nil {
			t.Fatal(err)
		}
		w.Put(Projects, project("p-"+kind, kind))
		commit(t, w)
		var checked bool
		if err := s.db.QueryRow(`SELECT integrity_checked FROM runs WHERE id = ?`, w.ID()).Scan(&checked); err != nil {
			t.Fatal(err)
		}
		return checked
	}
	if !run("full") {
		t.Fatal("a full run was not checked")
	}
	if run("incremental") || run("incremental") {
		t.Fatal("an incremental run was checked within a day of the last check")
	}
	if !run("full") {
		t.Fatal("the second full run was not checked")
	}
	// A day later the next run is checked whatever its kind.
	if _, err := s.db.Exec(`UPDATE runs SET started_at = ?`, formatTime(time.Now().Add(-CheckEvery-time.Minute))); err != nil {
		t.Fatal(err)
	}
	if !run("incremental") {
		t.Fatal("an incremental run a day after the last check was not checked")
	}
	if run("incremental") {
		t.Fatal("the run after it was checked again")
	}
}

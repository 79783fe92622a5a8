package snapshot

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver

	sqlfiles "github.com/ado-access/ado-access/sql"
)

// Errors callers decide on.
var (
	ErrNoStore  = errors.New("no snapshot store")
	ErrNotStore = errors.New("not an ado-access store")
	ErrNoRun    = errors.New("no such run")
	ErrLocked   = errors.New("the store is locked by another sync")
	ErrOtherOrg = errors.New("the store belongs to another organization")
	ErrDamaged  = errors.New("the store is damaged")
)

// applicationID marks an SQLite file as an ado-access store ("ADOA" in
// the database header), so that a store is told from any other SQLite
// database without reading its tables.
const applicationID = 0x41444f41

// Store is an open snapshot database.
type Store struct {
	db       *sql.DB
	path     string
	readOnly bool
	// file is the database file itself, held open by writers for the
	// writer lock (lock.go). It is closed only after the database: closing
	// any descriptor of the file would drop SQLite's own POSIX locks.
	file *os.File
	// checked is the result of the integrity check that Lock starts in the
	// background and Commit waits for.
	checked     chan error
	stopChecked context.CancelFunc
	locked      bool // this Store holds the writer lock (flock is per file description, not per call)
}

// Open opens the store at path for writing, creating it if needed, and
// applies pending migrations. Only commands that write (sync, apply) use
// it. A file that is not an ado-access store is refused untouched.
func Open(ctx context.Context, p string) (*Store, error) {
	exists, err := checkFile(p, true)
	if err != nil {
		return nil, err
	}
	if exists {
		// Look before opening for writing: the writer's pragmas (WAL)
		// would change a foreign database before it could be refused.
		ro, err := openDB(p, "ro")
		if err != nil {
			return nil, explain(p, err)
		}
		_, err = identify(ctx, ro, p, true)
		ro.Close()
		if err != nil {
			return nil, err
		}
	}
	db, err := openDB(p, "rwc")
	if err != nil {
		return nil, explain(p, err)
	}
	s := &Store{db: db, path: p}
	if err := db.PingContext(ctx); err != nil { // creates the file
		db.Close()
		return nil, explain(p, err)
	}
	if s.file, err = os.Open(p); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", p, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", p, explain(p, err))
	}
	return s, nil
}

// OpenExisting opens an existing store read-only, for commands that only
// read (show, runs, diff, export): it never creates, migrates or changes
// the file. A file that is not an ado-access store, or whose schema is
// older or newer than this exporter's, is refused with what to do.
func OpenExisting(ctx context.Context, p string) (*Store, error) {
	if exists, err := checkFile(p, false); err != nil {
		return nil, err
	} else if !exists {
		return nil, fmt.Errorf("%w at %s: run 'exporter sync' first", ErrNoStore, p)
	}
	db, err := openDB(p, "ro")
	if err != nil {
		return nil, explain(p, err)
	}
	version, err := identify(ctx, db, p, false)
	if err == nil {
		err = checkVersion(p, version)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db, path: p, readOnly: true}, nil
}

// writerCacheKiB is a writer's page cache, as SQLite's negative cache_size
// (KiB): 64 MiB.
const writerCacheKiB = -65536

// openDB opens the database with the pragmas of its mode: writers ("rwc")
// use WAL so that readers see the last committed snapshot while a sync
// writes, and leave it at Close (leaveWAL); readers ("ro") change nothing
// and create no file (readOnlyParams).
func openDB(p, mode string) (*sql.DB, error) {
	dsn := "file:" + (&url.URL{Path: p}).EscapedPath() + "?mode=" + mode + "&_pragma=busy_timeout(10000)"
	if mode != "ro" {
		dsn += "&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_pragma=cache_size(" + strconv.Itoa(writerCacheKiB) + ")&_pragma=temp_store(MEMORY)&_txlock=immediate"
	} else {
		extra, err := readOnlyParams(p)
		if err != nil {
			return nil, err
		}
		dsn += extra + "&_pragma=query_only(1)&_pragma=cache_size(-65536)&_pragma=temp_store(MEMORY)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	return db, nil
}

// dirWritable reports whether this process may create files in dir (a
// variable: tests running as root, whom permission bits do not stop, set
// it).
var dirWritable = func(dir string) bool { return syscall.Access(dir, 2 /* W_OK */) == nil }

// readOnlyParams picks how a reader opens the store so that it works in a
// folder it cannot write and creates no file:
//
//   - A store in rollback-journal mode (what writers leave, see leaveWAL)
//     opens read-only as it is: SQLite creates nothing to read it.
//   - A store still in WAL mode (a sync is running, or it was killed, or an
//     older exporter wrote it) needs its -shm index, which SQLite creates
//     beside it. In a folder the reader cannot write, a store with no
//     write-ahead log left is opened immutable (nothing can be running:
//     no writer could create the log there); one with a log left cannot
//     be read without merging it, which takes a writer.
func readOnlyParams(p string) (string, error) {
	if !walMode(p) || dirWritable(filepath.Dir(p)) {
		return "", nil
	}
	if fi, err := os.Stat(p + "-wal"); err == nil && fi.Size() > 0 {
		return "", fmt.Errorf("cannot read the store %s: its write-ahead log %s-wal holds changes not yet merged (a sync was interrupted), and its folder is not writable: the next sync merges it, or copy the store with its -wal file to a writable folder to read it", p, p)
	}
	return "&immutable=1", nil
}

// walMode reports whether the database file's header says WAL (its read
// and write versions are 2); rollback-journal files say 1.
func walMode(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var h [20]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return false
	}
	return h[18] == 2 || h[19] == 2
}

// leaveWAL switches a store its writer has closed back to a rollback
// journal: the write-ahead log is merged and removed, and the store is
// one self-contained file that readers open without creating any (in a
// folder they cannot write too) and that copies as it is (a state blob).
// If another process has the store open, the switch waits a moment and
// then leaves the store in WAL, which readers also handle.
func leaveWAL(p string) {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: p}).EscapedPath()+"?mode=rw&_pragma=busy_timeout(1000)")
	if err != nil {
		return
	}
	defer db.Close()
	_, _ = db.Exec(`PRAGMA journal_mode=DELETE`)
}

// sqliteMagic starts every SQLite database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// checkFile looks at the file before SQLite does: a directory, a file that
// is not an SQLite database, or (for readers) an empty file are refused
// with a message that says so. It reports whether the file exists.
func checkFile(p string, writer bool) (bool, error) {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("open store: %w", err)
	case fi.IsDir():
		return true, fmt.Errorf("open store: %s is a directory; --db names the store's file, e.g. %s", p, path.Join(p, "ado-access.db"))
	case fi.Size() == 0:
		if writer {
			return false, nil // an empty file becomes a new store, as with sqlite3
		}
		return true, fmt.Errorf("%w: %s is an empty file (run 'exporter sync' to make it one)", ErrNotStore, p)
	}
	f, err := os.Open(p)
	if err != nil {
		return true, fmt.Errorf("open store: %w", err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteMagic) {
		return true, fmt.Errorf("%w: %s is not an SQLite database", ErrNotStore, p)
	}
	return true, nil
}

// identify checks that the database is an ado-access store: it carries the
// application id, or (stores written before the id existed) it has the
// store's own tables. An empty database is a new store for writers. It
// returns the newest migration applied.
func identify(ctx context.Context, db *sql.DB, p string, writer bool) (int, error) {
	var app, tables int
	if err := db.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&app); err != nil {
		return 0, explain(p, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table'
		AND name IN ('schema_migrations', 'runs', 'memberships', 'accounts')`).Scan(&tables); err != nil {
		return 0, explain(p, err)
	}
	switch {
	case app == applicationID, app == 0 && tables == 4:
	case app == 0 && writer:
		var all int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&all); err != nil {
			return 0, explain(p, err)
		}
		if all == 0 {
			return 0, nil // a new, empty database
		}
		fallthrough
	default:
		return 0, fmt.Errorf("%w: %s is an SQLite database of something else; the exporter leaves it untouched (name another file with --db)", ErrNotStore, p)
	}
	var version, count int
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0), count(*) FROM schema_migrations`).Scan(&version, &count); err != nil {
		return 0, explain(p, err)
	}
	if ms, _ := migrations(); version <= latestMigration() && count < len(ms) && version == latestMigration() {
		version-- // a migration in the middle is missing: as good as older
	}
	return version, nil
}

// checkVersion refuses to read a store whose schema is not this exporter's.
func checkVersion(p string, version int) error {
	latest := latestMigration()
	switch {
	case version < latest:
		return fmt.Errorf("the store %s was written by an older exporter (schema %d, this one uses %d): the next 'exporter sync' upgrades it; reading commands never change a store", p, version, latest)
	case version > latest:
		return fmt.Errorf("the store %s was written by a newer exporter (schema %d, this one knows up to %d): use that version or newer", p, version, latest)
	}
	return nil
}

// Close closes the database, then the file held for the writer lock. A
// writer leaves the store out of WAL (leaveWAL).
func (s *Store) Close() error {
	err := s.db.Close()
	if !s.readOnly && s.file != nil && err == nil {
		leaveWAL(s.path)
	}
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
	return err
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// DB exposes the database to packages that read the store with their own
// queries (diff, export). They must not write.
func (s *Store) DB() *sql.DB { return s.db }

type migration struct {
	version int
	name    string // file name
}

// migrations lists sql/migrations in order.
func migrations() ([]migration, error) {
	names, err := fs.Glob(sqlfiles.Files, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and '_'", base)
		}
		out = append(out, migration{version, name})
	}
	return out, nil
}

func latestMigration() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		panic(fmt.Sprintf("snapshot: no migrations: %v", err))
	}
	return ms[len(ms)-1].version
}

// migrate applies the migrations in sql/migrations that have not run yet,
// each in its own transaction, and marks the file as a store. It writes
// only when there is something to do, and then under the writer lock, so
// that opening a store another process is syncing changes nothing.
func (s *Store) migrate(ctx context.Context) error {
	applied, marked, err := s.schemaState(ctx)
	if err != nil {
		return err
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	if newest := maxKey(applied); newest > latestMigration() {
		return checkVersion(s.path, newest)
	}
	if marked && len(pending(ms, applied)) == 0 {
		return nil
	}
	// Another writer holding the lock has the schema current already,
	// unless it reached the file by another name (a hard link, whose WAL is
	// another file): refuse rather than wait for it.
	unlock, err := s.flock(ctx, false)
	if err != nil {
		return err
	}
	defer unlock()
	if applied, marked, err = s.schemaState(ctx); err != nil { // another process may have done it meanwhile
		return err
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range pending(ms, applied) {
		body, err := sqlfiles.Files.ReadFile(m.name)
		if err != nil {
			return err
		}
		base := path.Base(m.name)
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", base, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, m.version, base, formatTime(time.Now())); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", base, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	if !marked {
		if _, err := s.db.ExecContext(ctx, `PRAGMA application_id = `+strconv.Itoa(applicationID)); err != nil {
			return fmt.Errorf("mark the store: %w", err)
		}
	}
	return nil
}

// pending lists the migrations not applied yet, in order.
func pending(ms []migration, applied map[int]bool) []migration {
	var out []migration
	for _, m := range ms {
		if !applied[m.version] {
			out = append(out, m)
		}
	}
	return out
}

func maxKey(m map[int]bool) int {
	n := 0
	for k := range m {
		n = max(n, k)
	}
	return n
}

// schemaState is the set of migrations applied and whether the file
// carries the store's application id.
func (s *Store) schemaState(ctx context.Context) (applied map[int]bool, marked bool, err error) {
	var app, has int
	if err := s.db.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&app); err != nil {
		return nil, false, err
	}
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&has); err != nil {
		return nil, false, err
	}
	applied = map[int]bool{}
	if has > 0 {
		rows, err := s.db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return nil, false, err
		}
		defer rows.Close()
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				return nil, false, err
			}
			applied[v] = true
		}
		if err := rows.Err(); err != nil {
			return nil, false, err
		}
	}
	return applied, app == applicationID, nil
}

// formatTime is how the store writes instants: RFC 3339 in UTC, sortable.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// Check verifies the store's integrity with SQLite's quick_check, which
// reads every page (without comparing indexes to tables, which a full
// integrity_check does). A damaged store gets ErrDamaged and what to do.
//
// A writer runs it before committing a full run, and before committing any
// run when the last checked one is CheckEvery old or older: it starts in
// the background (Lock when it is due, Begin for a full run), on its own
// connection, so that it overlaps the network reads, and Commit waits for
// its answer and records it (runs.integrity_checked). On the 630 MB store
// of the large preset it takes about 1.1 s warm, 20 s cold, and 12 MiB
// (README, performance): too much for every incremental run of a few
// seconds. Between checks, a run relies on SQLite's own checks of every
// page it reads or writes (a malformed one fails the run with ErrDamaged,
// see explain), so damage elsewhere in the file waits at most a day or
// the next full sync to be found; nothing committed before it is lost.
func (s *Store) Check(ctx context.Context) error {
	// A connection of its own with a small page cache: quick_check reads
	// every page once, so a cache only costs memory (with the 64 MiB the
	// store's connections use, the check of a large store took 136 MiB of
	// RSS and 70% longer than with 2 MiB).
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: s.path}).EscapedPath()+"?mode=ro&_pragma=busy_timeout(10000)&_pragma=query_only(1)&_pragma=cache_size(-2048)")
	if err != nil {
		return explain(s.path, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `PRAGMA quick_check(5)`)
	if err != nil {
		return explain(s.path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return explain(s.path, err)
		}
		// SQLite's report is one row holding several lines, the first
		// "*** in database main ***": keep the message on one line.
		if line == "ok" {
			continue
		}
		n := len(problems)
		for _, l := range strings.Split(line, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "***") {
				problems = append(problems, l)
			}
		}
		if len(problems) == n {
			problems = append(problems, strings.ReplaceAll(line, "\n", " "))
		}
	}
	if err := rows.Err(); err != nil {
		return explain(s.path, err)
	}
	if len(problems) > 0 {
		return &DamagedError{What: fmt.Sprintf("%s fails SQLite's integrity check (%s)", s.path, strings.Join(problems, "; ")), Kept: "Nothing was committed"}
	}
	return nil
}

// CheckEvery is how old the last checked run may be before the next run
// is checked whatever its kind.
const CheckEvery = 24 * time.Hour

// checkDue tells whether the last run that passed the check is CheckEvery
// old or older (or there is none).
func (s *Store) checkDue(ctx context.Context) bool {
	var last sql.NullString
	if err := s.db.QueryRowContext(ctx, `SELECT max(started_at) FROM runs WHERE integrity_checked = 1 AND status = 'complete'`).Scan(&last); err != nil || !last.Valid {
		return true
	}
	return time.Since(parseTime(last.String)) >= CheckEvery
}

// startCheck runs Check in the background, unless one is running;
// waitCheck returns its answer. Unlock stops a check still running.
func (s *Store) startCheck(ctx context.Context) {
	if s.checked != nil {
		return
	}
	done := make(chan error, 1)
	s.checked = done
	ctx, s.stopChecked = context.WithCancel(context.WithoutCancel(ctx))
	go func() { done <- s.Check(ctx) }()
}

// waitCheck waits for the background check, if one was started, and says
// whether there was one.
func (s *Store) waitCheck(ctx context.Context) (checked bool, err error) {
	if s.checked == nil {
		return false, nil
	}
	select {
	case err := <-s.checked:
		s.checked = nil
		s.stopChecked()
		return true, err
	case <-ctx.Done():
		return true, ctx.Err()
	}
}

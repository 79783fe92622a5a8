package snapshot

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver

	sqlfiles "github.com/ado-access/ado-access/sql"
)

// Errors callers decide on.
var (
	ErrNoStore = errors.New("no snapshot store")
	ErrNoRun   = errors.New("no such run")
	ErrLocked  = errors.New("the store is locked by another sync")
)

// Store is an open snapshot database.
type Store struct {
	db   *sql.DB
	path string
}

// Open opens (creating it if needed) the store at path and applies pending
// migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, true)
}

// OpenExisting opens a store that must already exist, for commands that
// only read (show, runs, diff, export).
func OpenExisting(ctx context.Context, path string) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s: run 'exporter sync' first", ErrNoStore, path)
		}
		return nil, fmt.Errorf("open store: %w", err)
	}
	return open(ctx, path, false)
}

func open(ctx context.Context, p string, create bool) (*Store, error) {
	mode := "rw"
	if create {
		mode = "rwc"
	}
	// WAL lets readers see the last committed snapshot while a sync writes;
	// the busy timeout covers short writes by other processes.
	dsn := "file:" + (&url.URL{Path: p}).EscapedPath() + "?mode=" + mode +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_pragma=cache_size(-65536)&_pragma=temp_store(MEMORY)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", p, err)
	}
	db.SetMaxOpenConns(4)
	s := &Store{db: db, path: p}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", p, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Path is the database file.
func (s *Store) Path() string { return s.path }

// DB exposes the database to packages that read the store with their own
// queries (diff, export). They must not write.
func (s *Store) DB() *sql.DB { return s.db }

// migrate applies the migrations in sql/migrations that have not run yet,
// each in its own transaction.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(sqlfiles.Files, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("migration %s: name must start with a number and '_'", base)
		}
		var done int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&done); err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		if done > 0 {
			continue
		}
		body, err := sqlfiles.Files.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", base, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, version, base, formatTime(time.Now())); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", base, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	return nil
}

// formatTime is how the store writes instants: RFC 3339 in UTC, sortable.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

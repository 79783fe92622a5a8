package snapshot

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"

	sqlfiles "github.com/ado-access/ado-access/sql"
)

// AtRun is the snapshot condition: the versions of rows that were current
// at run R. The unary + keeps SQLite from walking the valid_from index and
// looking every row up again: nearly every row matches, a scan is faster.
const AtRun = `+valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)`

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// Scan streams the rows of t in the snapshot of a run, ordered by key.
// Values are string or int64.
func (s *Store) Scan(ctx context.Context, t *Table, run int64, fn func(Row) error) error {
	q := `SELECT ` + strings.Join(t.Columns(), ", ") + ` FROM ` + t.Name + ` WHERE ` + AtRun + ` ORDER BY ` + strings.Join(t.Key, ", ")
	return scanRows(ctx, s.db, t, q, []any{run, run}, fn)
}

func scanRows(ctx context.Context, db querier, t *Table, q string, args []any, fn func(Row) error) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read %s: %w", t.Name, err)
	}
	defer rows.Close()
	n := len(t.Key) + len(t.Attrs)
	for rows.Next() {
		vals := make(Row, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("read %s: %w", t.Name, err)
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

var (
	queriesOnce sync.Once
	queries     map[string]string
	queriesErr  error
)

// Query returns the named query from sql/queries ("-- name: users" starts
// a query; it runs to the next name).
func Query(name string) string {
	queriesOnce.Do(func() { queries, queriesErr = loadQueries() })
	if queriesErr != nil {
		panic(queriesErr)
	}
	q, ok := queries[name]
	if !ok {
		panic("snapshot: no query named " + name)
	}
	return q
}

func loadQueries() (map[string]string, error) {
	out := map[string]string{}
	files, err := fs.Glob(sqlfiles.Files, "queries/*.sql")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		body, err := sqlfiles.Files.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var name string
		var buf strings.Builder
		flush := func() error {
			if name == "" {
				return nil
			}
			if _, dup := out[name]; dup {
				return fmt.Errorf("%s: query %q defined twice", path.Base(f), name)
			}
			out[name] = strings.TrimSpace(buf.String())
			buf.Reset()
			return nil
		}
		for _, line := range strings.Split(string(body), "\n") {
			if n, ok := strings.CutPrefix(strings.TrimSpace(line), "-- name:"); ok {
				if err := flush(); err != nil {
					return nil, err
				}
				name = strings.TrimSpace(n)
				continue
			}
			if name != "" {
				buf.WriteString(line)
				buf.WriteByte('\n')
			}
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Rows runs a named query from sql/queries and streams its result: header
// gets the column names once (even when there are no rows), row each row's
// values (string, int64 or nil).
func (s *Store) Rows(ctx context.Context, name string, args []any, header func(cols []string) error, row func(vals []any) error) error {
	rows, err := s.db.QueryContext(ctx, Query(name), args...)
	if err != nil {
		return fmt.Errorf("query %s: %w", name, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	if header != nil {
		if err := header(cols); err != nil {
			return err
		}
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("query %s: %w", name, err)
		}
		if err := row(vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

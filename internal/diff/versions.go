package diff

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// ends are the versions of one key at the two runs of a diff; nil where
// the key had no row.
type ends struct {
	before, after snapshot.Row
	// afterFrom is when after was opened; closed lists the versions
	// opened in the window that also closed in it (they belong to
	// neither run).
	afterFrom int64
	closed    []int64
}

// windowQuery reads the versions of t that a diff between runs A and B
// must see: those opened in (A, B], and those closed in (A, B]. Each half
// walks one index (t_from, t_to), so the cost follows the number of
// changes, not the table; for a table without attributes (memberships) the
// index alone answers, the table is not read. Built from column names
// only.
func windowQuery(t *snapshot.Table) string {
	cols := strings.Join(t.Columns(), ", ")
	return `SELECT ` + cols + `, valid_from, NULL FROM ` + t.Name + ` WHERE valid_from > ?1 AND valid_from <= ?2
	UNION ALL
	SELECT ` + cols + `, valid_from, valid_to FROM ` + t.Name + ` WHERE valid_to > ?1 AND valid_to <= ?2`
}

// changedKeys returns, for every key of t with a version opened or closed
// in (a, b], its rows at a and at b. A version that lived only inside the
// window belongs to neither.
//
// Keys are the first n key columns (the packet's key, which may leave out a
// stored key column that never changes for its entity: a token's kind).
func changedKeys(ctx context.Context, db *sql.DB, t *snapshot.Table, n int, a, b int64) (map[string]*ends, error) {
	rows, err := db.QueryContext(ctx, windowQuery(t), a, b)
	if err != nil {
		return nil, fmt.Errorf("read changed %s: %w", t.Name, err)
	}
	defer rows.Close()
	out := map[string]*ends{}
	keyCols := min(n, len(t.Key))
	n = len(t.Columns())
	var from int64
	var to sql.NullInt64
	ptrs := make([]any, n+2)
	ptrs[n], ptrs[n+1] = &from, &to
	for rows.Next() {
		vals := make(snapshot.Row, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read changed %s: %w", t.Name, err)
		}
		k := rowKey(vals, keyCols)
		e := out[k]
		if e == nil {
			e = &ends{}
			out[k] = e
		}
		switch {
		case !to.Valid: // opened in the window: the last one opened may be B's
			if e.after == nil || from > e.afterFrom {
				e.after, e.afterFrom = vals, from
			}
		case from <= a: // valid at A, closed in the window
			e.before = vals
		default: // opened and closed in the window
			e.closed = append(e.closed, from)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read changed %s: %w", t.Name, err)
	}
	for _, e := range out {
		if e.after != nil && slices.Contains(e.closed, e.afterFrom) {
			e.after = nil // closed again before B
		}
	}
	return out, nil
}

// rowKey is a key as Change.Key writes it.
func rowKey(r snapshot.Row, n int) string {
	parts := make([]string, n)
	for i := range n {
		parts[i] = text(r[i])
	}
	return joinKey(parts...)
}

// rowsAt reads the rows of t (one key column) with the given keys at run.
func rowsAt(ctx context.Context, db *sql.DB, t *snapshot.Table, run int64, keys []string) (map[string]snapshot.Row, error) {
	out := map[string]snapshot.Row{}
	if len(keys) == 0 {
		return out, nil
	}
	if len(t.Key) != 1 {
		return nil, fmt.Errorf("diff: rowsAt(%s): only one-column keys", t.Name)
	}
	ids, _ := json.Marshal(keys)
	q := `SELECT ` + strings.Join(t.Columns(), ", ") + ` FROM ` + t.Name + ` WHERE ` + t.Key[0] +
		` IN (SELECT value FROM json_each(?1)) AND valid_from <= ?2 AND (valid_to IS NULL OR valid_to > ?2)`
	rows, err := db.QueryContext(ctx, q, string(ids), run)
	if err != nil {
		return nil, fmt.Errorf("read %s at run %d: %w", t.Name, run, err)
	}
	defer rows.Close()
	for rows.Next() {
		vals := make(snapshot.Row, len(t.Columns()))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read %s at run %d: %w", t.Name, run, err)
		}
		out[text(vals[0])] = vals
	}
	return out, rows.Err()
}

// text renders a store value.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return fmt.Sprint(x)
	case bool:
		if x {
			return "1"
		}
		return "0"
	}
	return fmt.Sprint(v)
}

package export

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// queryRows streams a named query of sql/queries/export.sql as rows of t.
// The query's result columns are matched to t's columns by name; columns
// of t the query lacks are left nil for fill to set, and query columns t
// lacks are handed to fill by name. A query column of t's name but of the
// wrong kind is an error, so query and table cannot drift apart unnoticed.
func queryRows(ctx context.Context, st *snapshot.Store, run int64, t *Table, query string, fill func(r Row, extra map[string]any) error, emit func(Row) error) error {
	return queryRowsWith(ctx, st, []any{sql.Named("run", run)}, t, query, fill, emit)
}

// queryRowsWith is queryRows with the query's arguments given.
func queryRowsWith(ctx context.Context, st *snapshot.Store, args []any, t *Table, query string, fill func(r Row, extra map[string]any) error, emit func(Row) error) error {
	var at []int // query column of each table column, or -1
	var extras map[string]int
	header := func(cols []string) error {
		at = make([]int, len(t.Columns))
		for i, c := range t.Columns {
			at[i] = slices.Index(cols, c.Name)
			if at[i] < 0 && fill == nil {
				return fmt.Errorf("query %s has no column %s", query, c.Name)
			}
		}
		extras = map[string]int{}
		for j, c := range cols {
			if t.Index(c) < 0 {
				extras[c] = j
			}
		}
		return nil
	}
	extra := map[string]any{}
	return st.Rows(ctx, query, args, header, func(vals []any) error {
		r := make(Row, len(t.Columns))
		for i, j := range at {
			if j < 0 {
				continue
			}
			v, err := convert(t.Columns[i], vals[j])
			if err != nil {
				return fmt.Errorf("%s: %w", t.Name, err)
			}
			r[i] = v
		}
		if fill != nil {
			for name, j := range extras {
				extra[name] = vals[j]
			}
			if err := fill(r, extra); err != nil {
				return err
			}
		}
		return emit(r)
	})
}

// convert turns a value read from SQLite into a value of column c.
func convert(c Column, v any) (any, error) {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	switch c.Type {
	case String:
		switch x := v.(type) {
		case nil:
			return "", nil
		case string:
			return x, nil
		case int64:
			return fmt.Sprint(x), nil
		}
	case Int64:
		switch x := v.(type) {
		case nil:
			return int64(0), nil
		case int64:
			return x, nil
		}
	case Bool:
		switch x := v.(type) {
		case nil:
			return false, nil
		case int64:
			return x != 0, nil
		case bool:
			return x, nil
		}
	case Timestamp:
		switch x := v.(type) {
		case nil:
			return nil, nil
		case string:
			return parseInstant(x)
		}
	}
	return nil, fmt.Errorf("column %s: %T value %v does not fit a %s column", c.Name, v, v, c.Type)
}

// parseInstant reads an instant as the store writes it (RFC 3339); empty
// and "never" are null.
func parseInstant(s string) (any, error) {
	if s == "" || s == "never" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, fmt.Errorf("instant %q: %w", s, err)
	}
	// The service's "never" is year 1.
	if t.Year() <= 1 {
		return nil, nil
	}
	return t.UTC().Truncate(time.Microsecond), nil
}

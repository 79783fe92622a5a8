package export

import (
	"fmt"
	"slices"
	"time"
)

// SchemaVersion is the version of the table schemas below, recorded in every
// manifest, schema.json and Parquet file. Adding a column at the end or a
// table is compatible and keeps it; renaming, removing, retyping or
// reordering columns, or changing whether a column can be null, raises it.
//
// Version 2: string columns that may have no value are nullable (null, not
// ”; an empty CSV field), every warehouse table starts with org_id, run_id
// and snapshot_time, warehouse partitions are keyed by the organization's
// id as well as its name, and Parquet is written with data page v1 and
// dictionary-encoded strings.
const SchemaVersion = 2

// Type is the type of a column's values.
type Type uint8

const (
	String    Type = iota // UTF-8 text
	Int64                 // 64-bit signed integer
	Bool                  // true or false
	Timestamp             // an instant, UTC, microsecond precision
	// Date is a calendar day, YYYY-MM-DD: a warehouse partition column's
	// type (it is in the path, not in the files), as Hive readers infer it.
	Date
)

func (t Type) String() string {
	switch t {
	case Int64:
		return "int64"
	case Bool:
		return "bool"
	case Timestamp:
		return "timestamp"
	case Date:
		return "date"
	}
	return "string"
}

// Column is one column of a table.
type Column struct {
	Name string
	Type Type
	// Nullable columns may hold nil (Parquet: optional; CSV and XLSX: an
	// empty cell). Other columns always hold a value of Type. In a nullable
	// string column an absent value is null, never '': a row's "" there
	// becomes nil on its way to the writers (Table.check).
	Nullable bool
	Doc      string
	width    float64 // XLSX column width in characters; 0: by type
}

// Table is one table of a packet or a warehouse export: a name and its
// columns, in their stable order. A Row holds one value per column in that
// order: string, int64, bool, time.Time, or nil in a nullable column.
type Table struct {
	Name    string
	Doc     string
	Columns []Column
	// Key names the columns that tell rows apart (schema.json says so); a
	// single key column is unique per row, so Parquet does not
	// dictionary-encode it.
	Key []string
	// Review tables get Decision, Reviewer and Comment columns in the
	// workbook, for the reviewer to fill in and 'apply' to read back.
	Review bool
}

// Row is one row of a table.
type Row []any

// ColumnNames lists the table's column names in order.
func (t *Table) ColumnNames() []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name
	}
	return out
}

// Index is the position of the named column, or -1.
func (t *Table) Index(name string) int {
	return slices.IndexFunc(t.Columns, func(c Column) bool { return c.Name == name })
}

// check reports a row that does not fit the table: the writers trust rows,
// so a wrong value is caught here, once, with the table and column named.
// On the way it turns "" in a nullable string column into nil, so that every
// writer sees null for an absent value whatever produced the row.
func (t *Table) check(r Row) error {
	if len(r) != len(t.Columns) {
		return fmt.Errorf("%s: row has %d values, want %d", t.Name, len(r), len(t.Columns))
	}
	for i, c := range t.Columns {
		v := r[i]
		ok := false
		switch x := v.(type) {
		case nil:
			ok = c.Nullable
		case string:
			ok = c.Type == String
			if x == "" && c.Nullable {
				r[i] = nil
			}
		case int64:
			ok = c.Type == Int64
		case bool:
			ok = c.Type == Bool
		case time.Time:
			ok = c.Type == Timestamp
		}
		if !ok {
			return fmt.Errorf("%s.%s: value %#v does not fit a %s column (nullable %v)", t.Name, c.Name, v, c.Type, c.Nullable)
		}
	}
	return nil
}

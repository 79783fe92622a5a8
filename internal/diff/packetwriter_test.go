package diff

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/ado-access/ado-access/internal/safecsv"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// A small packet writer that follows the contract, standing in for
// internal/export's until that exists. It reads the store its own way
// (snapshot.Scan and a query of access_dates), not through the diff's code,
// so that agreement between run and packet diffs means something. CSV
// files put the columns in reverse order, add one the contract does not
// name, write flags as true/false and escape values as export must;
// Parquet files use booleans and nanosecond timestamps.

// writePacket writes every PacketTable of a run into dir, as "csv" or
// "parquet", and a manifest.json.
func writePacket(t testing.TB, st *snapshot.Store, run int64, dir, format string) {
	t.Helper()
	ctx := context.Background()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := st.CompleteRun(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(map[string]any{"org": r.Org, "run": r.ID, "snapshot_time": r.SnapshotTime, "files": []string{}})
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), info, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, pt := range PacketTables {
		rows := packetRows(t, st, run, pt)
		if format == "csv" {
			writeCSV(t, filepath.Join(dir, pt.Name+".csv"), pt, rows)
		} else {
			writeParquet(t, filepath.Join(dir, pt.Name+".parquet"), pt, rows)
		}
	}
}

// packetRows are a table's rows at a run, values in Columns order.
func packetRows(t testing.TB, st *snapshot.Store, run int64, pt *PacketTable) [][]string {
	t.Helper()
	ctx := context.Background()
	if pt.Name == EntEffectiveAccess {
		var out [][]string
		err := Effective(ctx, st, run, func(g Grant) error {
			direct := "0"
			if g.Direct {
				direct = "1"
			}
			out = append(out, []string{g.Group, g.Subject, g.SubjectKind, direct, g.PathText(), strings.Join(g.Path, " > ")})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// Every store table the packet table names, by key.
	byTable := map[string]map[string]snapshot.Row{}
	var primary []string // keys of the first table, in order: the packet's rows
	for _, c := range pt.Columns() {
		tbl := snapshot.TableByName(c.Table)
		if tbl == nil || byTable[c.Table] != nil {
			continue
		}
		m := map[string]snapshot.Row{}
		err := st.Scan(ctx, tbl, run, func(r snapshot.Row) error {
			k := keyOf(r, len(tbl.Key))
			m[k] = r
			if len(byTable) == 0 {
				primary = append(primary, k)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		byTable[c.Table] = m
	}
	last := lastAccess(t, st.DB())
	var out [][]string
	for _, k := range primary {
		var row []string
		for _, c := range pt.Columns() {
			switch {
			case c.Table == "access_dates":
				row = append(row, last[k])
			default:
				tbl := snapshot.TableByName(c.Table)
				r := byTable[c.Table][k]
				v := ""
				if r != nil {
					v = text(r[slices.Index(tbl.Columns(), c.Store)])
				}
				row = append(row, v)
			}
		}
		out = append(out, row)
	}
	return out
}

func keyOf(r snapshot.Row, n int) string {
	var parts []string
	for _, v := range r[:n] {
		parts = append(parts, text(v))
	}
	return strings.Join(parts, "\x1f")
}

func lastAccess(t testing.TB, db *sql.DB) map[string]string {
	t.Helper()
	rows, err := db.Query(`SELECT descriptor, coalesce(last_accessed, 'never') FROM access_dates`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var d, l string
		if err := rows.Scan(&d, &l); err != nil {
			t.Fatal(err)
		}
		out[d] = l
	}
	return out
}

func writeCSV(t testing.TB, path string, pt *PacketTable, rows [][]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cols := pt.Columns()
	w := csv.NewWriter(f)
	header := []string{"note"}
	for i := len(cols) - 1; i >= 0; i-- {
		header = append(header, cols[i].Name)
	}
	w.Write(header)
	for _, r := range rows {
		rec := []string{"=not compared"}
		for i := len(cols) - 1; i >= 0; i-- {
			v := r[i]
			if cols[i].Type == Flag {
				v = map[string]string{"1": "true", "0": "false"}[v]
			}
			rec = append(rec, safecsv.Escape(v))
		}
		w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
}

func writeParquet(t testing.TB, path string, pt *PacketTable, rows [][]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cols := pt.Columns()
	group := parquet.Group{}
	for _, c := range cols {
		switch c.Type {
		case Flag:
			group[c.Name] = parquet.Leaf(parquet.BooleanType)
		case Time:
			// Microseconds, as exports write them: nanoseconds cannot hold
			// an SSH key's 9999-12-31.
			group[c.Name] = parquet.Optional(parquet.Timestamp(parquet.Microsecond))
		default:
			group[c.Name] = parquet.String()
		}
	}
	schema := parquet.NewSchema(pt.Name, group)
	w := parquet.NewWriter(f, schema)
	for _, r := range rows {
		var row parquet.Row
		for i, c := range cols {
			leaf, _ := schema.Lookup(c.Name)
			switch c.Type {
			case Flag:
				row = append(row, parquet.ValueOf(r[i] == "1").Level(0, 0, leaf.ColumnIndex))
			case Time:
				tm, err := time.Parse(time.RFC3339Nano, r[i])
				if err != nil {
					row = append(row, parquet.ValueOf(nil).Level(0, 0, leaf.ColumnIndex))
				} else {
					row = append(row, parquet.ValueOf(tm.UnixMicro()).Level(0, 1, leaf.ColumnIndex))
				}
			default:
				row = append(row, parquet.ValueOf(r[i]).Level(0, 0, leaf.ColumnIndex))
			}
		}
		slices.SortFunc(row, func(a, b parquet.Value) int { return a.Column() - b.Column() })
		if _, err := w.WriteRows([]parquet.Row{row}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// packets writes packets of runs a and b and diffs them.
func packets(t testing.TB, st *snapshot.Store, a, b int64, opts Options, formatA, formatB string) []string {
	t.Helper()
	dir := t.TempDir()
	oldDir, newDir := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	writePacket(t, st, a, oldDir, formatA)
	writePacket(t, st, b, newDir, formatB)
	var out []string
	err := Packets(context.Background(), oldDir, newDir, opts, func(c Change) error {
		out = append(out, render(c))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

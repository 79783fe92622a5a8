package diff

import (
	"slices"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// source is one store table that feeds a packet table, and where each
// packet column sits in its rows (-1: not in this table).
type source struct {
	table *snapshot.Table
	at    []int
}

// sourcesOf lists the entity tables a packet table is read from: one for
// most, accounts and entitlements for accounts. Volatile columns
// (access_dates) are not among them: they are never compared.
func sourcesOf(t *PacketTable) []source {
	var out []source
	cols := t.Columns()
	for _, c := range cols {
		st := snapshot.TableByName(c.Table)
		if st == nil || slices.ContainsFunc(out, func(s source) bool { return s.table == st }) {
			continue
		}
		s := source{table: st, at: make([]int, len(cols))}
		stCols := st.Columns()
		for i, pc := range cols {
			switch {
			case i < len(t.Key):
				s.at[i] = i // every source is keyed like the packet table
			case pc.Table == st.Name:
				s.at[i] = slices.Index(stCols, pc.Store)
			default:
				s.at[i] = -1
			}
		}
		out = append(out, s)
	}
	return out
}

// fromStore assembles a packet row from the source rows of one key at one
// run (nil where a source has none); nil when no source has a row.
// cols is t.Columns(), passed in so that it is built once per table.
func fromStore(cols []Column, srcs []source, rows []snapshot.Row) []string {
	var out []string
	for i, s := range srcs {
		r := rows[i]
		if r == nil {
			continue
		}
		if out == nil {
			out = make([]string, len(cols))
			for j, c := range cols {
				out[j] = normalize(c.Type, "")
			}
		}
		for j, at := range s.at {
			if at >= 0 {
				out[j] = normalize(cols[j].Type, text(r[at]))
			}
		}
	}
	return out
}

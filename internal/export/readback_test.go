package export

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/xuri/excelize/v2"

	"github.com/ado-access/ado-access/internal/diff"
	"github.com/ado-access/ado-access/internal/safecsv"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// The read-back tests read every output with a reader that shares no code
// with the writers — encoding/csv, parquet-go's reader, excelize's reader
// — and compare what they read with the snapshot store, read through
// snapshot.Scan and SQL of their own.

// fileSource hands out a packet's files.
type fileSource interface {
	read(t testing.TB, name string) []byte
}

type dirReader struct{ dir string }

func (d dirReader) read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type blobReader struct{ s Sink }

func (b *blobReader) read(t testing.TB, name string) []byte {
	t.Helper()
	data, err := readFile(context.Background(), b.s, name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// table is a table as read back: column names and rows of text in a
// canonical form (integers in decimal, booleans true/false, instants
// RFC 3339 UTC to the second, null as "").
type table struct {
	cols []string
	rows [][]string
}

func (tb table) col(t testing.TB, name string) int {
	t.Helper()
	i := slices.Index(tb.cols, name)
	if i < 0 {
		t.Fatalf("no column %s in %v", name, tb.cols)
	}
	return i
}

// byKey indexes rows by the values of the named columns.
func (tb table) byKey(t testing.TB, cols ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, r := range tb.rows {
		var k []string
		for _, c := range cols {
			k = append(k, r[tb.col(t, c)])
		}
		key := strings.Join(k, "|")
		if _, dup := out[key]; dup {
			t.Fatalf("two rows with key %s", key)
		}
		out[key] = r
	}
	return out
}

func canonTime(s string) string {
	if s == "" {
		return ""
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(time.Second).Format(time.RFC3339)
		}
	}
	return "unparsable:" + s
}

func canonBool(s string) string {
	switch strings.ToLower(s) {
	case "true", "1":
		return "true"
	case "false", "0", "":
		return "false"
	}
	return "notabool:" + s
}

func canon(c Column, s string) string {
	switch c.Type {
	case Bool:
		return canonBool(s)
	case Timestamp:
		return canonTime(s)
	}
	return s
}

// readCSV reads a packet CSV with encoding/csv, undoing the apostrophe
// that defuses formulas.
func readCSV(t testing.TB, tdef *Table, data []byte) table {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s.csv: %v", tdef.Name, err)
	}
	if !bytes.Contains(data, []byte("\r\n")) && len(recs) > 0 {
		t.Fatalf("%s.csv: records do not end with CRLF", tdef.Name)
	}
	tb := table{cols: recs[0]}
	if !slices.Equal(tb.cols, tdef.ColumnNames()) {
		t.Fatalf("%s.csv header %v, want %v", tdef.Name, tb.cols, tdef.ColumnNames())
	}
	for _, rec := range recs[1:] {
		row := make([]string, len(rec))
		for i, v := range rec {
			c := tdef.Columns[i]
			if c.Type == String {
				v = safecsv.Unescape(v)
			}
			row[i] = canon(c, v)
		}
		tb.rows = append(tb.rows, row)
	}
	return tb
}

// readParquet reads a packet Parquet file with parquet-go's reader and
// checks its schema: the table's columns, in order, typed.
func readParquet(t testing.TB, tdef *Table, data []byte) table {
	t.Helper()
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("%s.parquet: %v", tdef.Name, err)
	}
	fields := pf.Schema().Fields()
	tb := table{}
	for i, f := range fields {
		c := tdef.Columns[i]
		tb.cols = append(tb.cols, f.Name())
		if f.Name() != c.Name || f.Optional() != c.Nullable {
			t.Fatalf("%s.parquet column %d: %s optional=%v, want %s optional=%v", tdef.Name, i, f.Name(), f.Optional(), c.Name, c.Nullable)
		}
		kind := f.Type().Kind()
		var logical format.LogicalTypeValue
		if lt := f.Type().LogicalType(); lt != nil {
			logical = lt.Value
		}
		ok := false
		switch c.Type {
		case String:
			_, isString := logical.(*format.StringType)
			ok = kind == parquet.ByteArray && isString
		case Int64:
			_, isTime := logical.(*format.TimestampType)
			ok = kind == parquet.Int64 && !isTime
		case Bool:
			ok = kind == parquet.Boolean
		case Timestamp:
			ts, isTime := logical.(*format.TimestampType)
			ok = kind == parquet.Int64 && isTime && ts.IsAdjustedToUTC && ts.Unit.Value != nil && ts.Unit.Value.Duration() == time.Microsecond
		}
		if !ok {
			t.Fatalf("%s.parquet column %s has type %v %v, want %s", tdef.Name, f.Name(), kind, logical, c.Type)
		}
	}
	for _, rg := range pf.RowGroups() {
		for _, cc := range rg.ColumnChunks() {
			meta, _ := cc.(interface{ MetaData() *format.ColumnMetaData })
			if meta != nil && meta.MetaData().Codec != format.Zstd {
				t.Fatalf("%s.parquet is compressed with %v, want zstd", tdef.Name, meta.MetaData().Codec)
			}
		}
	}
	if len(tb.cols) != len(tdef.Columns) {
		t.Fatalf("%s.parquet has %d columns, want %d", tdef.Name, len(tb.cols), len(tdef.Columns))
	}
	r := parquet.NewReader(pf)
	defer r.Close()
	buf := make([]parquet.Row, 128)
	for {
		n, err := r.ReadRows(buf)
		for _, row := range buf[:n] {
			out := make([]string, len(tdef.Columns))
			for _, v := range row {
				c := tdef.Columns[v.Column()]
				switch {
				case v.IsNull():
				case c.Type == Bool:
					out[v.Column()] = strconv.FormatBool(v.Boolean())
				case c.Type == Int64:
					out[v.Column()] = strconv.FormatInt(v.Int64(), 10)
				case c.Type == Timestamp:
					out[v.Column()] = time.UnixMicro(v.Int64()).UTC().Truncate(time.Second).Format(time.RFC3339)
				default:
					out[v.Column()] = string(v.ByteArray())
				}
			}
			tb.rows = append(tb.rows, out)
		}
		if err != nil {
			break
		}
	}
	if int64(len(tb.rows)) != pf.NumRows() {
		t.Fatalf("%s.parquet: read %d rows, footer says %d", tdef.Name, len(tb.rows), pf.NumRows())
	}
	return tb
}

// readXLSX reads a table's sheets from the workbook with excelize's
// reader, checking on the way that no cell is a formula or a hyperlink,
// that the header is frozen and filtered, and that review sheets carry
// the Decision drop-down.
func readXLSX(t testing.TB, f *excelize.File, tdef *Table, sheets []string) table {
	t.Helper()
	tb := table{cols: tdef.ColumnNames()}
	for _, sh := range sheets {
		rows, err := f.Rows(sh)
		if err != nil {
			t.Fatalf("sheet %s: %v", sh, err)
		}
		n := 0
		pos, _, _ := sheetLayout(tdef, false)
		for rows.Next() {
			n++
			cols, err := rows.Columns()
			if err != nil {
				t.Fatal(err)
			}
			if n == 1 {
				if want := SheetHeader(tdef, false); !slices.Equal(cols, want) {
					t.Fatalf("sheet %s header %v, want %v", sh, cols, want)
				}
				continue
			}
			row := make([]string, len(tdef.Columns))
			for i := range row {
				if pos[i] < len(cols) {
					row[i] = canon(tdef.Columns[i], cols[pos[i]])
				}
			}
			tb.rows = append(tb.rows, row)
		}
		rows.Close()
		panes, err := f.GetPanes(sh)
		if err != nil || !panes.Freeze || panes.YSplit != 1 {
			t.Fatalf("sheet %s: header not frozen: %+v %v", sh, panes, err)
		}
		if tdef.Review {
			dvs, err := f.GetDataValidations(sh)
			if err != nil || len(dvs) != 1 || !strings.Contains(dvs[0].Formula1, "Keep,Revoke,Change") {
				t.Fatalf("sheet %s: no Decision drop-down: %+v %v", sh, dvs, err)
			}
		}
	}
	return tb
}

// assertOneSelectedSheet checks the raw workbook: one sheet selected (the
// Summary), or Excel would open with the sheets grouped.
func assertOneSelectedSheet(t testing.TB, data []byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	selected := 0
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, "xl/worksheets/sheet") {
			continue
		}
		r, _ := f.Open()
		b, _ := io.ReadAll(r)
		r.Close()
		if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("<?xml")) {
			t.Fatalf("%s is not XML", f.Name)
		}
		selected += bytes.Count(b, []byte(`tabSelected="1"`)) + bytes.Count(b, []byte(`tabSelected="true"`))
	}
	if selected != 1 {
		t.Fatalf("%d sheets are selected, want 1", selected)
	}
}

// assertNoFormulas checks every cell of a sheet: never a formula, never a
// hyperlink, strings stored as inline strings.
func assertNoFormulas(t testing.TB, f *excelize.File, sheet string) {
	t.Helper()
	rows, err := f.GetRows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	for r, row := range rows {
		for c := range row {
			cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
			if formula, _ := f.GetCellFormula(sheet, cell); formula != "" {
				t.Fatalf("%s!%s holds the formula %q", sheet, cell, formula)
			}
			if link, target, _ := f.GetCellHyperLink(sheet, cell); link {
				t.Fatalf("%s!%s is a hyperlink to %q", sheet, cell, target)
			}
		}
	}
}

// readPacket reads every table of a packet in every format its manifest
// lists, checks the formats agree row for row, and returns them.
func readPacket(t testing.TB, src fileSource, m *Manifest) map[string]table {
	t.Helper()
	out := map[string]table{}
	var wb *excelize.File
	for _, f := range m.Files {
		if f.Format == FormatXLSX {
			data := src.read(t, f.Path)
			assertOneSelectedSheet(t, data)
			var err error
			wb, err = excelize.OpenReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			defer wb.Close()
			if first := wb.GetSheetList()[0]; first != SummarySheet || wb.GetActiveSheetIndex() != 0 {
				t.Fatalf("the workbook opens on sheet %d; its first sheet is %s", wb.GetActiveSheetIndex(), first)
			}
		}
	}
	for _, tdef := range PacketTables {
		var got []table
		var names []string
		for _, f := range m.Files {
			if f.Table != tdef.Name {
				continue
			}
			switch f.Format {
			case FormatCSV:
				got = append(got, readCSV(t, tdef, src.read(t, f.Path)))
			case FormatParquet:
				got = append(got, readParquet(t, tdef, src.read(t, f.Path)))
			}
			names = append(names, f.Format)
			if int64(len(got[len(got)-1].rows)) != f.Rows {
				t.Fatalf("%s: %d rows, the manifest says %d", f.Path, len(got[len(got)-1].rows), f.Rows)
			}
		}
		if wb != nil {
			var sheets []string
			for _, sh := range wb.GetSheetList() {
				if sh == tdef.Name || strings.HasPrefix(sh, tdef.Name+" (") {
					sheets = append(sheets, sh)
				}
			}
			got = append(got, readXLSX(t, wb, tdef, sheets))
			names = append(names, FormatXLSX)
		}
		if len(got) == 0 {
			continue
		}
		for i := 1; i < len(got); i++ {
			assertSameTable(t, tdef, names[0], got[0], names[i], got[i])
		}
		out[tdef.Name] = got[0]
	}
	if wb != nil {
		for _, sh := range wb.GetSheetList() {
			assertNoFormulas(t, wb, sh)
		}
	}
	return out
}

func assertSameTable(t testing.TB, tdef *Table, an string, a table, bn string, b table) {
	t.Helper()
	if len(a.rows) != len(b.rows) {
		t.Fatalf("%s: %s has %d rows, %s %d", tdef.Name, an, len(a.rows), bn, len(b.rows))
	}
	for i := range a.rows {
		if !slices.Equal(a.rows[i], b.rows[i]) {
			t.Fatalf("%s row %d differs:\n%s: %q\n%s: %q", tdef.Name, i, an, a.rows[i], bn, b.rows[i])
		}
	}
}

// storeView is the snapshot of one run, read without the export's code.
type storeView struct {
	accounts, entitlements, groups map[string]snapshot.Row
	memberships                    map[string]bool // container|member
	lastAccess                     map[string]string
	rowsOf                         map[string]int // rows per entity table
}

func viewStore(t testing.TB, st *snapshot.Store, run int64) *storeView {
	t.Helper()
	ctx := context.Background()
	v := &storeView{accounts: map[string]snapshot.Row{}, entitlements: map[string]snapshot.Row{}, groups: map[string]snapshot.Row{},
		memberships: map[string]bool{}, lastAccess: map[string]string{}, rowsOf: map[string]int{}}
	for _, tbl := range snapshot.Tables {
		err := st.Scan(ctx, tbl, run, func(r snapshot.Row) error {
			v.rowsOf[tbl.Name]++
			switch tbl {
			case snapshot.Accounts:
				v.accounts[r[0].(string)] = r
			case snapshot.Entitlements:
				v.entitlements[r[0].(string)] = r
			case snapshot.Groups:
				v.groups[r[0].(string)] = r
			case snapshot.Memberships:
				v.memberships[r[0].(string)+"|"+r[1].(string)] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rows, err := st.DB().QueryContext(ctx, `SELECT descriptor, coalesce(last_accessed, '') FROM access_dates`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var d, l string
		rows.Scan(&d, &l)
		v.lastAccess[d] = l
	}
	return v
}

func storeText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// assertPacketMatchesStore reads a packet back in every format and
// compares it with the store's snapshot of run.
func assertPacketMatchesStore(t testing.TB, f *fixture, run int64, src fileSource, m *Manifest) {
	t.Helper()
	got := readPacket(t, src, m)
	v := viewStore(t, f.st, run)
	r, _ := f.st.CompleteRun(context.Background(), run)
	snap := r.StartedAt
	if r.SnapshotTime != nil {
		snap = *r.SnapshotTime
	}

	// Accounts: every column of the account and its entitlement, the last
	// access, the dormant flag (by its documented rule) and the groups.
	acc := got["accounts"]
	if len(acc.rows) != len(v.accounts) {
		t.Fatalf("accounts: %d rows, the store has %d", len(acc.rows), len(v.accounts))
	}
	directGroups := map[string]int{}
	for k := range v.memberships {
		_, member, _ := strings.Cut(k, "|")
		directGroups[member]++
	}
	for _, row := range acc.rows {
		d := row[acc.col(t, "descriptor")]
		a, ok := v.accounts[d]
		if !ok {
			t.Fatalf("accounts: %s is not in the store", d)
		}
		for i, name := range snapshot.Accounts.Columns() {
			want := storeText(a[i])
			c := acc.col(t, name)
			if Accounts.Columns[c].Type == Bool {
				want = canonBool(want)
			}
			if row[c] != want {
				t.Fatalf("accounts %s.%s = %q, store %q", d, name, row[c], want)
			}
		}
		e := v.entitlements[d]
		for i, name := range snapshot.Entitlements.Columns()[1:] {
			want := ""
			if e != nil {
				want = storeText(e[i+1])
			}
			c := acc.col(t, name)
			if Accounts.Columns[c].Type == Timestamp {
				want = canonTime(want)
			}
			if row[c] != want {
				t.Fatalf("accounts %s.%s = %q, store %q", d, name, row[c], want)
			}
		}
		if got, want := row[acc.col(t, "last_accessed")], canonTime(v.lastAccess[d]); got != want {
			t.Fatalf("accounts %s.last_accessed = %q, store %q", d, got, want)
		}
		activity := v.lastAccess[d]
		if activity == "" && e != nil {
			activity = storeText(e[8])
		}
		dormant := false
		if at, err := time.Parse(time.RFC3339Nano, activity); e != nil && err == nil {
			dormant = !at.After(snap.AddDate(0, 0, -DefaultDormantDays))
		}
		if got := row[acc.col(t, "dormant")]; got != strconv.FormatBool(dormant) {
			t.Fatalf("accounts %s.dormant = %s, want %v (last activity %q, snapshot %s)", d, got, dormant, activity, snap)
		}
		if got := row[acc.col(t, "direct_groups")]; got != strconv.Itoa(directGroups[d]) {
			t.Fatalf("accounts %s.direct_groups = %s, want %d", d, got, directGroups[d])
		}
	}

	// Groups: every column of the store, and the privileged flag.
	grp := got["groups"]
	if len(grp.rows) != len(v.groups) {
		t.Fatalf("groups: %d rows, the store has %d", len(grp.rows), len(v.groups))
	}
	priv := map[string]bool{}
	for _, row := range grp.rows {
		d := row[grp.col(t, "descriptor")]
		g := v.groups[d]
		if g == nil {
			t.Fatalf("groups: %s is not in the store", d)
		}
		for i, name := range snapshot.Groups.Columns() {
			want := storeText(g[i])
			c := grp.col(t, name)
			if Groups.Columns[c].Type == Bool {
				want = canonBool(want)
			}
			if row[c] != want {
				t.Fatalf("groups %s.%s = %q, store %q", d, name, row[c], want)
			}
		}
		display := storeText(g[slices.Index(snapshot.Groups.Columns(), "display_name")])
		want := slices.ContainsFunc(DefaultPrivilegedGroups, func(p string) bool { return strings.EqualFold(p, display) })
		if got := row[grp.col(t, "privileged")]; got != strconv.FormatBool(want) {
			t.Fatalf("groups %s (%s).privileged = %s", d, display, got)
		}
		priv[d] = want
	}

	// Memberships: exactly the store's.
	mem := got["memberships"]
	if len(mem.rows) != len(v.memberships) {
		t.Fatalf("memberships: %d rows, the store has %d", len(mem.rows), len(v.memberships))
	}
	for _, row := range mem.rows {
		if !v.memberships[row[mem.col(t, "group_descriptor")]+"|"+row[mem.col(t, "member_descriptor")]] {
			t.Fatalf("memberships: %v is not in the store", row)
		}
	}
	for name, n := range map[string]int{"projects": v.rowsOf["projects"], "teams": v.rowsOf["teams"], "team_members": v.rowsOf["team_members"],
		"repositories": v.rowsOf["repositories"], "group_rules": v.rowsOf["group_rules"]} {
		if len(got[name].rows) != n {
			t.Fatalf("%s: %d rows, the store has %d", name, len(got[name].rows), n)
		}
	}

	// Effective access: the closure internal/diff computes, with its paths.
	eff := got["effective_access"].byKey(t, "group_descriptor", "member_descriptor")
	n := 0
	err := diff.Effective(context.Background(), f.st, run, func(g diff.Grant) error {
		n++
		row, ok := eff[g.Group+"|"+g.Subject]
		if !ok {
			return fmt.Errorf("effective access %s in %s is missing", g.Subject, g.Group)
		}
		if row[7] != g.PathText() || row[8] != strings.Join(g.Path, " > ") || row[5] != strconv.FormatBool(g.Direct) {
			return fmt.Errorf("effective access %s in %s: %q, want path %q", g.Subject, g.Group, row, g.PathText())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(eff) {
		t.Fatalf("effective_access: %d rows, the closure has %d", len(eff), n)
	}

	// Privileged access: the effective access of privileged groups.
	pa := got["privileged_access"]
	want := 0
	for _, row := range got["effective_access"].rows {
		if priv[row[0]] {
			want++
		}
	}
	if len(pa.rows) != want || want == 0 {
		t.Fatalf("privileged_access: %d rows, effective access reaches privileged groups %d times", len(pa.rows), want)
	}
	for _, row := range pa.rows {
		if _, ok := eff[row[pa.col(t, "group_descriptor")]+"|"+row[pa.col(t, "member_descriptor")]]; !ok || !priv[row[0]] {
			t.Fatalf("privileged_access row %q is not effective access to a privileged group", row)
		}
	}
	if total := sumRows(m); total == 0 {
		t.Fatal("the manifest lists no rows")
	}
}

func sumRows(m *Manifest) int64 {
	var n int64
	for _, c := range m.Tables {
		n += c.N
	}
	return n
}

// Every table, in every format, read back with an independent reader,
// matches the snapshot; the formats agree row for row.
func TestPacketReadsBackAsTheSnapshot(t *testing.T) {
	f := storeFixture(t, "small")
	dir := t.TempDir()
	m, err := ExportPacket(context.Background(), f.st, NewLocalSink(dir), PacketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assertPacketMatchesStore(t, f, f.run2.ID, dirReader{dir}, m)

	// An older run exports as it was.
	dir1 := t.TempDir()
	m1, err := ExportPacket(context.Background(), f.st, NewLocalSink(dir1), PacketOptions{Options: Options{Run: f.run1.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if m1.Run != f.run1.ID || m1.Baseline.Kind != "none" {
		t.Fatalf("run 1 packet: run %d, baseline %+v", m1.Run, m1.Baseline)
	}
	assertPacketMatchesStore(t, f, f.run1.ID, dirReader{dir1}, m1)
}

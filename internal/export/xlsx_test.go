package export

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// The Summary shows the snapshot time as a date-time in UTC, counts with
// thousands separators, the high-severity findings counted apart and
// highlighted, a chart with value labels beside the values (not over
// them), and no empty-string cells anywhere in the workbook; the Columns
// sheet describes every column of every table.
func TestWorkbookSummaryAndColumns(t *testing.T) {
	f := storeFixture(t, "small")
	dir := t.TempDir()
	m, err := ExportPacket(context.Background(), f.st, NewLocalSink(dir), PacketOptions{Formats: []string{FormatCSV, FormatXLSX}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, WorkbookName))
	wb, err := excelize.OpenReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	rows, _ := wb.GetRows(SummarySheet)
	at := map[string]int{} // label -> row number
	for i, r := range rows {
		if len(r) > 0 {
			at[strings.TrimSpace(r[0])] = i + 1
		}
	}
	cell := func(label string, col int) string {
		t.Helper()
		n, ok := at[label]
		if !ok {
			t.Fatalf("the Summary has no %q row", label)
		}
		return cellName(col, n)
	}
	numFmt := func(c string) (int, string) {
		id, _ := wb.GetCellStyle(SummarySheet, c)
		st, _ := wb.GetStyle(id)
		custom := ""
		if st.CustomNumFmt != nil {
			custom = *st.CustomNumFmt
		}
		return st.NumFmt, custom
	}

	// The snapshot time: a number (a date-time), shown in UTC.
	c := cell("Snapshot time", 2)
	if typ, _ := wb.GetCellType(SummarySheet, c); typ == excelize.CellTypeInlineString || typ == excelize.CellTypeSharedString {
		t.Fatalf("the snapshot time is text")
	}
	shown, _ := wb.GetCellValue(SummarySheet, c)
	if _, err := time.Parse("2006-01-02 15:04:05 UTC", shown); err != nil || !strings.HasSuffix(shown, " UTC") {
		t.Fatalf("the snapshot time shows as %q", shown)
	}
	if want := f.run2.SnapshotTime.UTC().Format("2006-01-02 15:04:05"); !strings.HasPrefix(shown, want) {
		t.Fatalf("snapshot time %q, want %s", shown, want)
	}
	// Counts: numbers with #,##0.
	for _, label := range []string{"accounts", "effective_access", "Findings", "Dormant accounts"} {
		if id, _ := numFmt(cell(label, 2)); id != 3 {
			t.Fatalf("%s: number format %d, want 3 (#,##0)", label, id)
		}
	}
	// High-severity findings: the count of the findings table's high rows,
	// highlighted when not zero.
	high := 0
	fb, _ := os.ReadFile(filepath.Join(dir, "findings.csv"))
	for _, line := range strings.Split(string(fb), "\n") {
		if strings.Contains(line, ",high,") {
			high++
		}
	}
	hc := cell("High-severity findings", 2)
	if v, _ := wb.GetCellValue(SummarySheet, hc); v != strconv.Itoa(high) || high == 0 {
		t.Fatalf("high-severity findings %s, the findings table has %d", v, high)
	}
	id, _ := wb.GetCellStyle(SummarySheet, hc)
	if st, _ := wb.GetStyle(id); st.Fill.Type != "pattern" || st.Font == nil || !st.Font.Bold {
		t.Fatalf("high-severity findings are not highlighted: %+v", st)
	}
	if v, _ := wb.GetCellValue(SummarySheet, cell(FindGuestPrivileged, 3)); v != "high" {
		t.Fatalf("severity of %s: %q", FindGuestPrivileged, v)
	}
	// The long privileged-groups line wraps in its column.
	id, _ = wb.GetCellStyle(SummarySheet, cell("Privileged groups", 2))
	if st, _ := wb.GetStyle(id); st.Alignment == nil || !st.Alignment.WrapText {
		t.Fatal("the privileged groups line does not wrap")
	}

	// The chart: right of the value columns, value labels on.
	files := map[string]string{}
	zr, _ := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	for _, zf := range zr.File {
		r, _ := zf.Open()
		b, _ := io.ReadAll(r)
		r.Close()
		files[zf.Name] = string(b)
	}
	if d := files["xl/drawings/drawing1.xml"]; !strings.Contains(d, "<xdr:from><xdr:col>4</xdr:col>") {
		t.Fatalf("the chart is not anchored at column E: %.300s", d)
	}
	if ch := files["xl/charts/chart1.xml"]; !regexp.MustCompile(`showVal val="(1|true)"`).MatchString(ch) {
		t.Fatal("the chart's bars carry no value labels")
	}
	// No cell anywhere holds an empty string.
	empty := regexp.MustCompile(`<is><t\s*/>|<is><t>\s*</t></is>|<v></v>`)
	for name, body := range files {
		if strings.HasPrefix(name, "xl/worksheets/") && empty.MatchString(body) {
			t.Fatalf("%s holds an empty-string cell: %s", name, empty.FindString(body))
		}
	}
	if strings.Contains(files["xl/sharedStrings.xml"], "<t></t>") || strings.Contains(files["xl/sharedStrings.xml"], "<t/>") {
		t.Fatal("the shared strings hold an empty string")
	}

	// Columns: last, one row per column of every table (and the review
	// columns), nullability as the tables say.
	sheets := wb.GetSheetList()
	if sheets[len(sheets)-1] != ColumnsSheet {
		t.Fatalf("sheets %v: Columns is not last", sheets)
	}
	crow, _ := wb.GetRows(ColumnsSheet)
	want := 1
	for _, tbl := range PacketTables {
		want += len(tbl.Columns)
		if tbl.Review {
			want += 3
		}
	}
	if len(crow) != want || strings.Join(crow[0], ",") != "table,column,type,nullable,key,description" {
		t.Fatalf("Columns: %d rows (want %d), header %v", len(crow), want, crow[0])
	}
	for _, r := range crow[1:] {
		if r[0] == "accounts" && r[1] == "mail" && (r[3] != "TRUE" || r[4] != "FALSE") || r[0] == "accounts" && r[1] == "descriptor" && (r[3] != "FALSE" || r[4] != "TRUE") {
			t.Fatalf("Columns row %v", r)
		}
	}
	_ = m
}

// Every worksheet declares its true used range in <dimension ref>, the
// first and last cell it holds (readers in read-only mode, openpyxl's
// among them, size a sheet by it), and a sheet split at the row limit
// declares each part's own.
func TestWorkbookDimensions(t *testing.T) {
	f := storeFixture(t, "small")
	old := xlsxMaxDataRows
	xlsxMaxDataRows = 40 // effective_access continues on more sheets
	t.Cleanup(func() { xlsxMaxDataRows = old })
	dir := t.TempDir()
	if _, err := ExportPacket(context.Background(), f.st, NewLocalSink(dir), PacketOptions{Formats: []string{FormatXLSX}}); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(filepath.Join(dir, WorkbookName))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	dimRe := regexp.MustCompile(`<dimension ref="([A-Z0-9:]+)"`)
	cellRe := regexp.MustCompile(`<c r="([A-Z]+)([0-9]+)"`)
	sheets := 0
	for _, zf := range zr.File {
		if !strings.HasPrefix(zf.Name, "xl/worksheets/sheet") {
			continue
		}
		sheets++
		rc, _ := zf.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		m := dimRe.FindSubmatch(b)
		if m == nil {
			t.Errorf("%s: no dimension", zf.Name)
			continue
		}
		maxCol, maxRow := 1, 1
		for _, c := range cellRe.FindAllSubmatch(b, -1) {
			col, _ := excelize.ColumnNameToNumber(string(c[1]))
			row, _ := strconv.Atoi(string(c[2]))
			maxCol, maxRow = max(maxCol, col), max(maxRow, row)
		}
		want := "A1"
		if maxCol > 1 || maxRow > 1 {
			want = "A1:" + cellName(maxCol, maxRow)
		}
		if string(m[1]) != want {
			t.Errorf("%s: dimension %s, its cells span %s", zf.Name, m[1], want)
		}
	}
	if sheets < 5 {
		t.Fatalf("%d worksheets", sheets)
	}
}

// A table split over several sheets keeps them together ("x", "x (2)",
// "x (3)", then the next table); each sheet's filter is named for that
// sheet; an empty table's filter covers its header row alone.
func TestWorkbookSplitSheetsAndFilters(t *testing.T) {
	f := storeFixture(t, "small")
	old := xlsxMaxDataRows
	xlsxMaxDataRows = 40
	t.Cleanup(func() { xlsxMaxDataRows = old })
	dir := t.TempDir()
	if _, err := ExportPacket(context.Background(), f.st, NewLocalSink(dir), PacketOptions{Formats: []string{FormatXLSX}}); err != nil {
		t.Fatal(err)
	}
	wb, err := excelize.OpenFile(filepath.Join(dir, WorkbookName))
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	list := wb.GetSheetList()
	split := 0
	for i, sh := range list {
		base, n, ok := strings.Cut(sh, " (")
		if !ok {
			continue
		}
		split++
		k, _ := strconv.Atoi(strings.TrimSuffix(n, ")"))
		want := base
		if k > 2 {
			want = fmt.Sprintf("%s (%d)", base, k-1)
		}
		if i == 0 || list[i-1] != want {
			t.Errorf("sheet %s follows %s, want %s", sh, list[i-1], want)
		}
	}
	if split == 0 {
		t.Fatalf("no table was split: %v", list)
	}
	filters := 0
	for _, dn := range wb.GetDefinedName() {
		if dn.Name != "_xlnm._FilterDatabase" {
			continue
		}
		filters++
		if !strings.HasPrefix(strings.Trim(dn.RefersTo, "="), "'"+dn.Scope+"'!") && !strings.HasPrefix(strings.Trim(dn.RefersTo, "="), dn.Scope+"!") {
			t.Errorf("the filter of %s refers to %s", dn.Scope, dn.RefersTo)
		}
		if dn.Scope == "applied_decisions" && !strings.HasSuffix(dn.RefersTo, "$1") {
			t.Errorf("the empty applied_decisions sheet's filter covers %s, want its header row", dn.RefersTo)
		}
	}
	if filters < len(list)-2 {
		t.Errorf("%d filters for %d sheets", filters, len(list))
	}
	if rows, _ := wb.GetRows("applied_decisions"); len(rows) != 1 {
		t.Fatalf("applied_decisions has %d rows, want the header alone", len(rows))
	}
}

package export

import (
	"archive/zip"
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/xuri/excelize/v2"
)

// Review columns follow a review table's own columns in the workbook. The
// reviewer fills them in; 'apply' reads them back by these names.
const (
	DecisionColumn = "Decision"
	ReviewerColumn = "Reviewer"
	CommentColumn  = "Comment"
	// AttentionColumn leads the review sheets of a campaign's workbooks:
	// why a row needs a human (privileged, gained since baseline, dormant,
	// disabled, deleted in Entra, guest); rows with a reason come first.
	AttentionColumn = "Attention"
)

// reviewLead are the columns a reviewer reads first on the review sheets
// 'apply' reads, in this order, before the Decision columns; the table's
// other columns (its descriptors, kept for 'apply') follow them.
var reviewLead = map[string][]string{
	"accounts":         {"display_name", "principal_name", "mail", "kind", "meta_type", "license_display_name", "status", "last_accessed", "dormant", "deleted_in_origin"},
	"effective_access": {"member_name", "member_kind", "group_name", "path", "direct"},
	"privileged_access": {"member_name", "principal_name", "role", "project", "group_name", "path", "direct", "last_accessed", "dormant",
		"meta_type", "status", "license_display_name"},
}

// sheetLayout places a table's columns on its sheet: pos[i] is the sheet
// column (0-based) of the table's column i, dec that of Decision (-1: not
// a review table), width the sheet's columns. marked adds the Attention
// column first, on the sheets reviewLead orders.
func sheetLayout(t *Table, marked bool) (pos []int, dec, width int) {
	pos = make([]int, len(t.Columns))
	lead, ordered := reviewLead[t.Name]
	if !t.Review {
		for i := range pos {
			pos[i] = i
		}
		return pos, -1, len(pos)
	}
	if !ordered {
		for i := range pos {
			pos[i] = i
		}
		return pos, len(pos), len(pos) + 3
	}
	at := 0
	if marked {
		at = 1
	}
	placed := make([]bool, len(t.Columns))
	for _, name := range lead {
		i := t.Index(name)
		pos[i], placed[i] = at, true
		at++
	}
	dec = at
	at += 3
	for i := range pos {
		if !placed[i] {
			pos[i] = at
			at++
		}
	}
	return pos, dec, at
}

// SheetHeader is the header row of a table's sheet (marked: a campaign's
// workbook, with the Attention column).
func SheetHeader(t *Table, marked bool) []string {
	pos, dec, width := sheetLayout(t, marked)
	h := make([]string, width)
	for i, c := range t.Columns {
		h[pos[i]] = c.Name
	}
	if dec >= 0 {
		h[dec], h[dec+1], h[dec+2] = DecisionColumn, ReviewerColumn, CommentColumn
	}
	if marked && h[0] == "" {
		h[0] = AttentionColumn
	}
	return h
}

// Decisions are the values the Decision column's drop-down offers.
var Decisions = []string{"Keep", "Revoke", "Change"}

// SummarySheet is the name of the workbook's first sheet.
const SummarySheet = "Summary"

// xlsxMaxDataRows is how many data rows fit on one sheet under its header
// (Excel's limit is 1,048,576 rows). A table with more continues on
// "name (2)", "name (3)", …, each next to the one before. Tests
// lower it.
var xlsxMaxDataRows = 1_048_575

// workbook writes an XLSX file: a Summary sheet, then one sheet per table
// with a frozen, styled header row, an autofilter over its rows, column
// widths by column, and for review tables the Decision, Reviewer and
// Comment columns.
//
// Every value from Azure DevOps is written as a plain string cell (an
// inline string), never a formula or a hyperlink, whatever it begins with:
// "=HYPERLINK(…)" shows as that text. Integers and booleans are numbers
// and booleans; instants are dates (UTC) with a yyyy-mm-dd hh:mm:ss format.
//
// Memory stays flat however big the tables: excelize's stream writer
// keeps up to 16 MiB of every sheet it streams until the workbook is
// saved, so each sheet is streamed by an excelize file of its own, whose
// worksheet XML goes to a temporary file as soon as the sheet is done. The
// workbook itself (Summary, styles, sheet list, filters) is one more
// excelize file; when it is saved, each table sheet's part is copied in
// from its temporary file.
type workbook struct {
	f      *excelize.File
	styles xlsxStyles
	sheets map[string][]string   // table -> its sheets, in order
	rows   map[string]int64      // table -> data rows
	parts  map[string]*sheetPart // sheet -> its worksheet XML, compressed, in a temporary file
	// filters are the table sheets' filtered ranges, named in the
	// workbook (_xlnm._FilterDatabase, by sheet position) once every
	// sheet is in its place.
	filters [][2]string // sheet, range
	tmp     string
	wg      sync.WaitGroup // sheets being compressed
	busy    chan struct{}  // one sheet compresses at a time, bounding memory
	// mark, when set (a campaign's workbook), says why a row of a review
	// sheet needs a human ("" when it does not), in its Attention column.
	mark func(t *Table, r Row) string
}

// sheetPart is one sheet's worksheet XML, deflated into a temporary file
// in the background while the next tables are written, and copied into
// the workbook as it is.
type sheetPart struct {
	path         string
	dimension    string // the sheet's used range, "A1:T41"
	crc          uint32
	size, zipped int64
	err          error
}

// xlsxStyles are the cell styles of table sheets. Every excelize file of
// a workbook creates them first and in this order, so their ids agree.
type xlsxStyles struct{ header, date int }

func newStyles(f *excelize.File) (xlsxStyles, error) {
	var s xlsxStyles
	var err error
	s.header, err = f.NewStyle(&excelize.Style{
		Font:      &excelize.Font{Bold: true},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
		Alignment: &excelize.Alignment{Vertical: "top"},
	})
	if err != nil {
		return s, err
	}
	dateFmt := "yyyy-mm-dd hh:mm:ss"
	s.date, err = f.NewStyle(&excelize.Style{CustomNumFmt: &dateFmt})
	return s, err
}

// newWorkbook creates a workbook whose sheets are, in order, Summary and
// the given tables (created empty; each is filled by Table).
func newWorkbook(title string, tables []*Table) (*workbook, error) {
	tmp, err := os.MkdirTemp("", "export-xlsx-*")
	if err != nil {
		return nil, err
	}
	f := excelize.NewFile()
	wb := &workbook{f: f, sheets: map[string][]string{}, rows: map[string]int64{}, parts: map[string]*sheetPart{}, tmp: tmp, busy: make(chan struct{}, 1)}
	if wb.styles, err = newStyles(f); err != nil {
		wb.Close()
		return nil, err
	}
	if err := f.SetSheetName("Sheet1", SummarySheet); err != nil {
		wb.Close()
		return nil, err
	}
	for _, t := range tables {
		if _, err := f.NewSheet(t.Name); err != nil {
			wb.Close()
			return nil, fmt.Errorf("xlsx: sheet %s: %w", t.Name, err)
		}
	}
	_ = f.SetDocProps(&excelize.DocProperties{Title: title, Creator: "ado-access exporter"})
	return wb, nil
}

// Close removes the workbook's temporary files.
func (wb *workbook) Close() error {
	wb.wg.Wait()
	err := wb.f.Close()
	os.RemoveAll(wb.tmp)
	return err
}

// writeZip writes the workbook as it is assembled, without holding the
// whole file in memory (excelize's own Write buffers it all), copying
// each table sheet's compressed worksheet XML in from its temporary file.
func (wb *workbook) writeZip(w io.Writer) error {
	wb.wg.Wait()
	parts := map[string]*sheetPart{} // part name in the package -> its sheet
	for id, name := range wb.f.GetSheetMap() {
		if p, ok := wb.parts[name]; ok {
			if p.err != nil {
				return fmt.Errorf("xlsx: sheet %s: %w", name, p.err)
			}
			parts["xl/worksheets/sheet"+strconv.Itoa(id)+".xml"] = p
		}
	}
	for _, fl := range wb.filters {
		if err := wb.f.AutoFilter(fl[0], fl[1], nil); err != nil {
			return fmt.Errorf("xlsx: filter on %s: %w", fl[0], err)
		}
	}
	// The sheets written cell by cell (Summary, Columns) declare their
	// used range too; excelize leaves them at A1.
	for _, name := range wb.f.GetSheetList() {
		if _, ok := wb.parts[name]; ok {
			continue
		}
		if err := setDimension(wb.f, name); err != nil {
			return fmt.Errorf("xlsx: sheet %s: %w", name, err)
		}
	}
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, xlsxDeflateLevel) })
	sz := &swapZip{zw: zw, parts: parts}
	wb.f.SetZipWriter(func(io.Writer) excelize.ZipWriter { return sz })
	if err := wb.f.Write(io.Discard); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	if len(sz.swapped) != len(parts) {
		return fmt.Errorf("xlsx: %d of %d sheets found in the workbook", len(sz.swapped), len(parts))
	}
	return nil
}

// setDimension sets a small sheet's dimension to the cells it holds.
func setDimension(f *excelize.File, sheet string) error {
	rows, err := f.GetRows(sheet)
	if err != nil {
		return err
	}
	cols := 0
	for _, r := range rows {
		cols = max(cols, len(r))
	}
	if len(rows) == 0 || cols == 0 {
		return nil
	}
	last, err := excelize.CoordinatesToCellName(cols, len(rows))
	if err != nil {
		return err
	}
	return f.SetSheetDimension(sheet, "A1:"+last)
}

// xlsxDeflateLevel trades size for speed: klauspost's level 5 compresses
// about as well as the standard library's default, several times faster.
const xlsxDeflateLevel = 5

// swapZip writes the workbook's zip, taking the table sheets' parts from
// their temporary files instead of from excelize.
type swapZip struct {
	zw      *zip.Writer
	parts   map[string]*sheetPart
	swapped []string
}

func (z *swapZip) Create(name string) (io.Writer, error) {
	p, ok := z.parts[name]
	if !ok {
		return z.zw.Create(name)
	}
	w, err := z.zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Now(),
		CRC32: p.crc, CompressedSize64: uint64(p.zipped), UncompressedSize64: uint64(p.size)})
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return nil, err
	}
	z.swapped = append(z.swapped, name)
	return io.Discard, nil // the (empty) sheet excelize holds
}

func (z *swapZip) AddFS(fsys fs.FS) error { return z.zw.AddFS(fsys) }
func (z *swapZip) Close() error           { return z.zw.Close() }

// Sheets lists the sheets a table was written to.
func (wb *workbook) Sheets(table string) []string { return wb.sheets[table] }

// Table starts writing a table's rows to its sheet.
func (wb *workbook) Table(t *Table) (*sheetWriter, error) {
	s := &sheetWriter{wb: wb, t: t}
	_, ordered := reviewLead[t.Name]
	s.marked = wb.mark != nil && ordered
	s.pos, s.dec, s.cols = sheetLayout(t, s.marked)
	s.vals = make([]any, s.cols)
	return s, s.start()
}

// sheetWriter streams one table to one or more sheets, each through an
// excelize file of its own.
type sheetWriter struct {
	wb     *workbook
	t      *Table
	pf     *excelize.File // the current sheet's own file
	sw     *excelize.StreamWriter
	sheet  string // the current sheet's name in the workbook
	cols   int
	pos    []int // the sheet column of each table column
	dec    int   // the Decision column (-1: none)
	marked bool  // the Attention column comes first
	row    int   // rows written on the current sheet, header included
	part   int
	vals   []any
}

// partSheet is the sheet's name in its own file.
const partSheet = "Sheet1"

func (s *sheetWriter) start() error {
	s.part++
	s.sheet = s.t.Name
	if s.part > 1 {
		s.sheet = fmt.Sprintf("%s (%d)", s.t.Name, s.part)
		if _, err := s.wb.f.NewSheet(s.sheet); err != nil {
			return fmt.Errorf("xlsx: sheet %s: %w", s.sheet, err)
		}
		// Next to the table's sheet before it, not at the end.
		parts := s.wb.sheets[s.t.Name]
		list := s.wb.f.GetSheetList()
		if i := slices.Index(list, parts[len(parts)-1]); i >= 0 && i+1 < len(list) && list[i+1] != s.sheet {
			if err := s.wb.f.MoveSheet(s.sheet, list[i+1]); err != nil {
				return fmt.Errorf("xlsx: sheet %s: %w", s.sheet, err)
			}
		}
	}
	s.wb.sheets[s.t.Name] = append(s.wb.sheets[s.t.Name], s.sheet)
	pf := excelize.NewFile()
	s.pf = pf
	// Another sheet is the active one, so this one is not "selected" when
	// it joins the workbook.
	if _, err := pf.NewSheet("other"); err != nil {
		return err
	}
	pf.SetActiveSheet(1)
	styles, err := newStyles(pf)
	if err != nil {
		return err
	}
	if styles != s.wb.styles {
		return fmt.Errorf("xlsx: style ids %+v of a sheet differ from the workbook's %+v", styles, s.wb.styles)
	}
	sw, err := pf.NewStreamWriter(partSheet)
	if err != nil {
		return fmt.Errorf("xlsx: sheet %s: %w", s.sheet, err)
	}
	s.sw, s.row = sw, 0
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}}}); err != nil {
		return err
	}
	for i, c := range s.t.Columns {
		if err := sw.SetColWidth(s.pos[i]+1, s.pos[i]+1, columnWidth(c)); err != nil {
			return err
		}
	}
	if s.dec >= 0 {
		if err := sw.SetColWidth(s.dec+1, s.dec+1, 12); err != nil {
			return err
		}
		if err := sw.SetColWidth(s.dec+2, s.dec+3, 24); err != nil {
			return err
		}
	}
	if s.marked {
		if err := sw.SetColWidth(1, 1, 30); err != nil {
			return err
		}
	}
	header := make([]any, 0, s.cols)
	for _, name := range SheetHeader(s.t, s.marked) {
		header = append(header, excelize.Cell{StyleID: styles.header, Value: name})
	}
	s.row = 1
	return sw.SetRow("A1", header)
}

func columnWidth(c Column) float64 {
	if c.width > 0 {
		return c.width
	}
	switch c.Type {
	case Timestamp:
		return 20
	case Bool, Int64:
		return max(10, float64(len(c.Name))+2)
	}
	return max(14, float64(len(c.Name))+2)
}

func (s *sheetWriter) Write(r Row) error {
	if s.row > xlsxMaxDataRows {
		if err := s.finish(); err != nil {
			return err
		}
		if err := s.start(); err != nil {
			return err
		}
	}
	clear(s.vals)
	for i, v := range r {
		at := s.pos[i]
		switch x := v.(type) {
		case time.Time:
			s.vals[at] = excelize.Cell{StyleID: s.wb.styles.date, Value: x.UTC()}
		case string:
			if x != "" { // an empty string would be a cell Excel counts as filled
				s.vals[at] = x
			}
		default: // int64, bool, nil: plain values (strings inline, never formulas)
			s.vals[at] = v
		}
	}
	if s.marked {
		if m := s.wb.mark(s.t, r); m != "" {
			s.vals[0] = m
		}
	}
	s.row++
	cell, err := excelize.CoordinatesToCellName(1, s.row)
	if err != nil {
		return err
	}
	if err := s.sw.SetRow(cell, s.vals); err != nil {
		return fmt.Errorf("xlsx: sheet %s row %d: %w", s.sheet, s.row, err)
	}
	s.wb.rows[s.t.Name]++
	return nil
}

// Close ends the table's last sheet.
func (s *sheetWriter) Close() error { return s.finish() }

// finish seals the current sheet and hands its own excelize file to a
// goroutine that deflates its worksheet XML into a temporary file and then
// drops it.
func (s *sheetWriter) finish() error {
	pf := s.pf
	if pf == nil {
		return nil
	}
	s.pf = nil
	if err := s.seal(pf); err != nil {
		pf.Close()
		return err
	}
	lastCol, _ := excelize.ColumnNumberToName(s.cols)
	part := &sheetPart{path: filepath.Join(s.wb.tmp, fmt.Sprintf("sheet-%d.xml.deflate", len(s.wb.parts))),
		dimension: fmt.Sprintf("A1:%s%d", lastCol, s.row)}
	s.wb.parts[s.sheet] = part
	s.wb.wg.Add(1)
	s.wb.busy <- struct{}{} // waits for the sheet before to be compressed
	go func() {
		defer s.wb.wg.Done()
		defer func() { <-s.wb.busy }()
		defer pf.Close()
		part.err = part.compress(pf)
	}()
	return nil
}

// seal adds the autofilter and the Decision drop-down to a finished
// sheet and flushes it.
func (s *sheetWriter) seal(pf *excelize.File) error {
	last := max(s.row, 2) // the drop-down reaches row 2 even on an empty sheet
	lastCol, _ := excelize.ColumnNumberToName(s.cols)
	ref := fmt.Sprintf("A1:%s%d", lastCol, s.row) // the header and the rows written
	if err := pf.AutoFilter(partSheet, ref, nil); err != nil {
		return fmt.Errorf("xlsx: filter on %s: %w", s.sheet, err)
	}
	// The workbook names the filtered range too (writeZip).
	s.wb.filters = append(s.wb.filters, [2]string{s.sheet, ref})
	if s.dec >= 0 {
		col, _ := excelize.ColumnNumberToName(s.dec + 1)
		dv := excelize.NewDataValidation(true)
		dv.Sqref = fmt.Sprintf("%s2:%s%d", col, col, last)
		if err := dv.SetDropList(Decisions); err != nil {
			return err
		}
		dv.SetError(excelize.DataValidationErrorStyleStop, "Decision", "Choose Keep, Revoke or Change.")
		dv.SetInput("Decision", "Keep, Revoke or Change")
		if err := pf.AddDataValidation(partSheet, dv); err != nil {
			return fmt.Errorf("xlsx: decision list on %s: %w", s.sheet, err)
		}
	}
	if err := s.sw.Flush(); err != nil {
		return fmt.Errorf("xlsx: sheet %s: %w", s.sheet, err)
	}
	return nil
}

// compress deflates the worksheet XML of a sheet's own file into the
// part's temporary file, noting its CRC-32 and sizes for the zip.
func (p *sheetPart) compress(pf *excelize.File) error {
	out, err := os.Create(p.path)
	if err != nil {
		return err
	}
	defer out.Close()
	counted := &countWriter{w: out}
	fw, err := flate.NewWriter(counted, xlsxDeflateLevel)
	if err != nil {
		return err
	}
	crc := crc32.NewIEEE()
	plain := &countWriter{w: io.MultiWriter(fw, crc)}
	dim := &dimensionWriter{w: plain, ref: p.dimension}
	capture := &captureZip{want: "xl/worksheets/sheet1.xml", w: dim}
	pf.SetZipWriter(func(io.Writer) excelize.ZipWriter { return capture })
	if err := pf.Write(io.Discard); err != nil {
		return err
	}
	if !capture.found {
		return fmt.Errorf("no %s in the sheet's file", capture.want)
	}
	if err := dim.flush(); err != nil {
		return err
	}
	if err := fw.Close(); err != nil {
		return err
	}
	p.crc, p.size, p.zipped = crc.Sum32(), plain.n, counted.n
	return out.Close()
}

// dimensionWriter writes the used range into a streamed sheet's
// <dimension ref="A1">: excelize's stream writer writes that element
// before the first row, when the range is not known yet, so it is
// rewritten here as the part passes (it comes within the part's first
// bytes; the rest is copied as it is).
type dimensionWriter struct {
	w    io.Writer
	ref  string
	head []byte
	done bool
}

// streamDimension is the element as excelize writes it.
var streamDimension = regexp.MustCompile(`<dimension ref="[A-Z0-9:]*"\s*(/>|></dimension>)`)

func (d *dimensionWriter) Write(b []byte) (int, error) {
	if d.done {
		return d.w.Write(b)
	}
	d.head = append(d.head, b...)
	if loc := streamDimension.FindIndex(d.head); loc != nil {
		d.head = slices.Concat(d.head[:loc[0]], []byte(`<dimension ref="`+d.ref+`"/>`), d.head[loc[1]:])
		return len(b), d.flush()
	}
	if bytes.Contains(d.head, []byte("<sheetData")) || len(d.head) > 64<<10 {
		return len(b), d.flush() // no such element before the rows
	}
	return len(b), nil
}

// flush writes what is held back; from then on, writes pass through.
func (d *dimensionWriter) flush() error {
	if d.done {
		return nil
	}
	d.done = true
	_, err := d.w.Write(d.head)
	d.head = nil
	return err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// captureZip keeps one part of what excelize saves and drops the rest.
type captureZip struct {
	want  string
	w     io.Writer
	found bool
}

func (z *captureZip) Create(name string) (io.Writer, error) {
	if name == z.want {
		z.found = true
		return z.w, nil
	}
	return io.Discard, nil
}

func (z *captureZip) AddFS(fs.FS) error { return nil }
func (z *captureZip) Close() error      { return nil }

package provision

import (
	"archive/zip"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/ado-access/ado-access/internal/export"
)

// readWorkbook reads a filled-in packet.xlsx: the packet id from the
// Summary sheet, and the rows of the review tables' sheets ("accounts",
// "accounts (2)", …) through excelize's streaming reader, so a large
// workbook is read in constant memory.
func readWorkbook(ctx context.Context, r *packetRead) error {
	// The limits first: nothing is decompressed whole before they hold.
	markup, err := inspectWorkbook(ctx, r.path, isReviewSheet)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &InputError{Problems: []Problem{{Source: Source{File: r.path}, Msg: "not a readable workbook: " + err.Error()}}}
	}
	f, err := excelize.OpenFile(r.path, excelize.Options{UnzipSizeLimit: MaxWorkbookUnzipped, UnzipXMLSizeLimit: workbookStream})
	if err != nil {
		return &InputError{Problems: []Problem{{Source: Source{File: r.path}, Msg: "not a readable workbook: " + err.Error()}}}
	}
	defer f.Close()
	sheets := f.GetSheetList()
	r.packetID = summaryValue(f, "Packet id")
	bulk, who := summaryValue(f, export.BulkKeepLabel), summaryValue(f, export.BulkReviewerLabel)
	switch {
	case strings.EqualFold(bulk, export.BulkKeepYes) && who == "":
		r.p.add(Source{File: r.path, Sheet: export.SummarySheet}, "%q is Yes without a %s: say who certifies the rows left without a decision", export.BulkKeepLabel, export.BulkReviewerLabel)
	case strings.EqualFold(bulk, export.BulkKeepYes):
		r.d.BulkReviewer = who
	case bulk != "" && !strings.EqualFold(bulk, export.BulkKeepNo):
		r.p.add(Source{File: r.path, Sheet: export.SummarySheet}, "%q is %q: want Yes or No", export.BulkKeepLabel, bulk)
	}
	var read []string
	for _, t := range reviewTables() {
		for _, sh := range sheets {
			if sheetOf(sh) == t.name {
				read = append(read, sh)
			}
		}
	}
	if len(read) == 0 {
		r.p.add(Source{File: r.path}, "no accounts, effective_access or privileged_access sheet: not a review packet's workbook")
		return nil
	}
	for _, sh := range read {
		if err := ctx.Err(); err != nil {
			return err
		}
		t, _ := reviewTableByName(sheetOf(sh))
		if err := readSheet(f, r, t, sh, markup[sh]); err != nil {
			return err
		}
	}
	return nil
}

// sheetOf is the review table a sheet holds ("accounts", "accounts (2)",
// …), or "".
func sheetOf(sheet string) string {
	for _, t := range reviewTables() {
		if sheet == t.name || (strings.HasPrefix(sheet, t.name+" (") && strings.HasSuffix(sheet, ")")) {
			return t.name
		}
	}
	return ""
}

func isReviewSheet(sheet string) bool { return sheetOf(sheet) != "" }

// summaryValue finds the value beside a label in column A of the Summary sheet.
func summaryValue(f *excelize.File, label string) string {
	rows, err := f.Rows(export.SummarySheet)
	if err != nil {
		return ""
	}
	defer rows.Close()
	for rows.Next() {
		cells, _ := rows.Columns()
		if len(cells) >= 2 && cells[0] == label {
			return strings.TrimSpace(cells[1])
		}
	}
	return ""
}

func readSheet(f *excelize.File, r *packetRead, t reviewTable, sheet string, marked map[string]string) error {
	rows, err := f.Rows(sheet)
	if err != nil {
		return fmt.Errorf("read sheet %s: %w", sheet, err)
	}
	defer rows.Close()
	if !rows.Next() {
		r.p.add(Source{File: r.path, Sheet: sheet}, "the sheet is empty: no header row")
		return nil
	}
	header, err := rows.Columns()
	if err != nil {
		return fmt.Errorf("read sheet %s: %w", sheet, err)
	}
	row := 1
	return r.table(t, sheet, header, func() ([]string, []string, error) {
		if !rows.Next() {
			if err := rows.Error(); err != nil {
				return nil, nil, err
			}
			return nil, nil, io.EOF
		}
		row++
		cells, err := rows.Columns()
		if err != nil {
			return nil, nil, err
		}
		var markup []string
		if len(marked) > 0 {
			markup = make([]string, len(header))
			for i := range markup {
				name, _ := excelize.CoordinatesToCellName(i+1, row)
				markup[i] = marked[name]
			}
		}
		return cells, markup, nil
	})
}

// sheetParts maps sheet names to their worksheet parts: xl/workbook.xml
// names the sheets with relationship ids, and its relationships give the
// parts.
func sheetParts(zr *zip.Reader) (map[string]string, error) {
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			RID  string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	var rels struct {
		Rels []struct {
			ID     string `xml:"Id,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	if err := decodePart(zr, "xl/workbook.xml", &wb); err != nil {
		return nil, err
	}
	if err := decodePart(zr, "xl/_rels/workbook.xml.rels", &rels); err != nil {
		return nil, err
	}
	target := map[string]string{}
	for _, r := range rels.Rels {
		t := r.Target
		if strings.HasPrefix(t, "/") {
			t = strings.TrimPrefix(t, "/")
		} else {
			t = path.Join("xl", t)
		}
		target[r.ID] = t
	}
	out := map[string]string{}
	for _, s := range wb.Sheets {
		out[s.Name] = target[s.RID]
	}
	return out, nil
}

func decodePart(zr *zip.Reader, name string, v any) error {
	f, err := zr.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return xml.NewDecoder(io.LimitReader(f, 64<<20)).Decode(v)
}

// scanMarkup streams a worksheet's XML and notes each cell with a formula
// (<f> inside <c r="…">) and each cell a hyperlink covers (<hyperlink
// ref="A1" or "A1:C3">). excelize's streaming reader gives values only,
// and its cell-by-cell formula and link calls load a whole sheet into
// memory, hence this scan for those two markers alone.
func scanMarkup(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	dec := xml.NewDecoder(r)
	cell := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "c":
				cell = attr(el, "r")
			case "f":
				if cell != "" {
					out[cell] = "formula"
				}
			case "hyperlink":
				if err := coverRange(out, attr(el, "ref"), "hyperlink"); err != nil {
					return nil, err
				}
			}
		case xml.EndElement:
			if el.Name.Local == "c" {
				cell = ""
			}
		}
	}
}

func attr(el xml.StartElement, name string) string {
	for _, a := range el.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// coverRange marks every cell of a reference ("B2" or "B2:D9"); a range
// of more than a million cells marks none of them one by one but is
// refused, as no decision sheet needs links at all.
func coverRange(out map[string]string, ref, what string) error {
	from, to, isRange := strings.Cut(ref, ":")
	if !isRange {
		to = from
	}
	c1, r1, err := excelize.CellNameToCoordinates(from)
	if err != nil {
		return nil // not a cell reference: nothing to mark
	}
	c2, r2, err := excelize.CellNameToCoordinates(to)
	if err != nil {
		return nil
	}
	if c2 < c1 {
		c1, c2 = c2, c1
	}
	if r2 < r1 {
		r1, r2 = r2, r1
	}
	if (c2-c1+1)*(r2-r1+1) > 1_000_000 {
		return fmt.Errorf("a %s covers %s, more than a million cells", what, ref)
	}
	for c := c1; c <= c2; c++ {
		for r := r1; r <= r2; r++ {
			name, _ := excelize.CoordinatesToCellName(c, r)
			out[name] = what
		}
	}
	return nil
}

package export

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// ColumnsSheet is the name of the workbook's last sheet: the data
// dictionary of its tables.
const ColumnsSheet = "Columns"

// summaryValueWidth is the width of the Summary's value column, in
// characters; longer text wraps inside it rather than running on beneath
// the chart.
const summaryValueWidth = 48

// summaryStyles are the Summary sheet's cell styles.
type summaryStyles struct {
	title, bold, count, instant, wrap, top, high, highLabel int
}

func newSummaryStyles(f *excelize.File) (summaryStyles, error) {
	var s summaryStyles
	instant := `yyyy-mm-dd hh:mm:ss "UTC"`
	red := excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"F8CBAD"}}
	for _, x := range []struct {
		id    *int
		style *excelize.Style
	}{
		{&s.title, &excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}}},
		{&s.bold, &excelize.Style{Font: &excelize.Font{Bold: true}}},
		{&s.count, &excelize.Style{NumFmt: 3, Alignment: &excelize.Alignment{Horizontal: "left"}}}, // #,##0
		{&s.instant, &excelize.Style{CustomNumFmt: &instant, Alignment: &excelize.Alignment{Horizontal: "left"}}},
		{&s.wrap, &excelize.Style{Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}}},
		{&s.top, &excelize.Style{Alignment: &excelize.Alignment{Vertical: "top"}}},
		{&s.high, &excelize.Style{NumFmt: 3, Font: &excelize.Font{Bold: true, Color: "9C0006"}, Fill: red, Alignment: &excelize.Alignment{Horizontal: "left"}}},
		{&s.highLabel, &excelize.Style{Font: &excelize.Font{Bold: true, Color: "9C0006"}, Fill: red}},
	} {
		id, err := f.NewStyle(x.style)
		if err != nil {
			return s, err
		}
		*x.id = id
	}
	return s, nil
}

// Summary fills the Summary sheet: what the packet is (the snapshot time a
// real date-time, in UTC), rows per table (and the sheets each table
// fills), the dormant, privileged and findings counts (high-severity ones
// counted apart and highlighted), and the changes by kind with a bar chart
// of them beside. Counts show thousands separators; a cell without a value
// is left empty, not given an empty string.
func (wb *workbook) Summary(s *Summary) error {
	f := wb.f
	const sh = SummarySheet
	st, err := newSummaryStyles(f)
	if err != nil {
		return err
	}
	row := 1
	bulk := 0 // the bulk control's row
	// put writes a label and its values on the next row: strings as text
	// (none when empty), counts with separators, instants as date-times.
	put := func(label string, labelStyle int, vals ...any) error {
		r := row
		row++
		if err := f.SetCellStr(sh, cellName(1, r), label); err != nil {
			return err
		}
		if labelStyle != 0 {
			if err := f.SetCellStyle(sh, cellName(1, r), cellName(1, r), labelStyle); err != nil {
				return err
			}
		}
		for i, v := range vals {
			cell := cellName(2+i, r)
			style := 0
			switch x := v.(type) {
			case string:
				if x == "" {
					continue
				}
				if err := f.SetCellStr(sh, cell, x); err != nil {
					return err
				}
				if utf8.RuneCountInString(x) > summaryValueWidth && i == 0 {
					style = st.wrap
					lines := (utf8.RuneCountInString(x) + summaryValueWidth - 1) / summaryValueWidth
					if err := f.SetRowHeight(sh, r, 15*float64(lines)); err != nil {
						return err
					}
					if err := f.SetCellStyle(sh, cellName(1, r), cellName(1, r), st.top); err != nil {
						return err
					}
				}
			case int64:
				if err := f.SetCellInt(sh, cell, x); err != nil {
					return err
				}
				style = st.count
			case highCount:
				if err := f.SetCellInt(sh, cell, int64(x)); err != nil {
					return err
				}
				style = st.count
				if x > 0 {
					style = st.high
					if err := f.SetCellStyle(sh, cellName(1, r), cellName(1, r), st.highLabel); err != nil {
						return err
					}
				}
			case instant:
				if x.IsZero() {
					continue
				}
				if err := f.SetCellValue(sh, cell, x.UTC()); err != nil {
					return err
				}
				style = st.instant
			default:
				return fmt.Errorf("summary value %T", v)
			}
			if style != 0 {
				if err := f.SetCellStyle(sh, cell, cell, style); err != nil {
					return err
				}
			}
		}
		return nil
	}
	steps := []func() error{
		func() error { return put("Access review packet", st.title) },
		func() error { return put("Organization", 0, s.Organization) },
		func() error {
			if s.RunText != "" {
				return put("Runs", 0, s.RunText)
			}
			return put("Run", 0, s.Run)
		},
		func() error { return put("Snapshot time", 0, instant{s.SnapshotTime}) },
		func() error { return put("Packet id", 0, s.PacketID) },
		func() error { return put("Tool version", 0, s.ToolVersion) },
		func() error { return put("Changes since", 0, s.Baseline) },
		func() error {
			if s.Scope == "" {
				return nil
			}
			return put("Scope", 0, s.Scope)
		},
		func() error { row++; return put("Review", st.bold) },
		func() error { bulk = row; return put(BulkKeepLabel, 0, BulkKeepNo) },
		func() error { return put(BulkReviewerLabel, 0, "") },
		func() error {
			return put("How to decide", 0, "Decide the rows that need it first (they lead each review sheet): Keep, Revoke or Change in Decision, your name in Reviewer. "+
				"To certify every row you left without a decision as Keep, set \""+BulkKeepLabel+"\" to Yes and write your name as "+BulkReviewerLabel+".")
		},
		func() error { return put("Dormant after (days)", 0, int64(s.DormantDays)) },
		func() error { return put("Privileged groups", 0, strings.Join(s.PrivilegedGroups, "; ")) },
		func() error { return put("Most members expected in a privileged group", 0, int64(s.MaxPrivileged)) },
		func() error { row++; return put("Controls", st.bold) },
		func() error { return put("High-severity findings", 0, highCount(s.HighFindings)) },
		func() error { return put("Findings", 0, total(s.Findings)) },
	}
	for _, c := range s.Findings {
		steps = append(steps, func() error {
			sev := s.Severity[c.Name]
			if sev == severityHigh {
				return put("  "+c.Name, 0, highCount(c.N), sev)
			}
			return put("  "+c.Name, 0, c.N, sev)
		})
	}
	steps = append(steps,
		func() error { return put("Dormant accounts", 0, s.Dormant) },
		func() error { return put("Accounts with privileged access", 0, s.Privileged) },
		func() error { row++; return put("Rows per table", st.bold, "", "sheets") },
	)
	for _, t := range s.Tables {
		steps = append(steps, func() error { return put(t.Name, 0, t.N, strings.Join(wb.sheets[t.Name], ", ")) })
	}
	var first, last int
	steps = append(steps,
		func() error { row++; return put("Changes by kind", st.bold) },
		func() error { first = row; return nil },
	)
	for _, c := range s.Changes {
		steps = append(steps, func() error { return put(c.Name, 0, c.N) })
	}
	steps = append(steps, func() error { last = row - 1; return nil })
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("xlsx: summary: %w", err)
		}
	}
	for col, width := range map[string]float64{"A": 44, "B": summaryValueWidth + 2, "C": 30, "D": 4} {
		if err := f.SetColWidth(sh, col, col, width); err != nil {
			return err
		}
	}
	dv := excelize.NewDataValidation(true)
	dv.Sqref = cellName(2, bulk)
	if err := dv.SetDropList([]string{BulkKeepYes, BulkKeepNo}); err != nil {
		return err
	}
	if err := f.AddDataValidation(sh, dv); err != nil {
		return fmt.Errorf("xlsx: summary: %w", err)
	}
	// Printed, the summary fits the width of a landscape page.
	fit := true
	if err := f.SetSheetProps(sh, &excelize.SheetPropsOptions{FitToPage: &fit}); err != nil {
		return err
	}
	landscape, one, tall := "landscape", 1, 0
	if err := f.SetPageLayout(sh, &excelize.PageLayoutOptions{Orientation: &landscape, FitToWidth: &one, FitToHeight: &tall}); err != nil {
		return err
	}
	if last < first {
		return nil
	}
	// The chart sits right of the value columns (E), so no text runs
	// beneath it; bars are labelled with their counts, axes in a legible
	// size.
	chart := &excelize.Chart{
		Type: excelize.Bar,
		Series: []excelize.ChartSeries{{
			Name:       "Changes",
			Categories: fmt.Sprintf("%s!$A$%d:$A$%d", sh, first, last),
			Values:     fmt.Sprintf("%s!$B$%d:$B$%d", sh, first, last),
		}},
		Title:     excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: "Changes by kind", Font: &excelize.Font{Size: 12, Bold: true}}}},
		Legend:    excelize.ChartLegend{Position: "none"},
		PlotArea:  excelize.ChartPlotArea{ShowVal: true},
		XAxis:     excelize.ChartAxis{Font: excelize.Font{Size: 10, Color: "000000"}},
		YAxis:     excelize.ChartAxis{Font: excelize.Font{Size: 10, Color: "000000"}, NumFmt: excelize.ChartNumFmt{CustomNumFmt: "#,##0"}},
		Dimension: excelize.ChartDimension{Width: 560, Height: 380},
		Format:    excelize.GraphicOptions{OffsetX: 10, OffsetY: 10},
	}
	if err := f.AddChart(sh, "E2", chart); err != nil {
		return fmt.Errorf("xlsx: summary chart: %w", err)
	}
	return nil
}

// highCount is a count of high-severity findings: highlighted when not 0.
type highCount int64

// instant is a date-time cell of the Summary, shown in UTC.
type instant struct{ time.Time }

// Columns adds the Columns sheet, after every other: the data dictionary
// of the tables (schema.json in a sheet), one row per column, with the
// review columns of review sheets.
func (wb *workbook) Columns(tables []*Table) error {
	f := wb.f
	const sh = ColumnsSheet
	if _, err := f.NewSheet(sh); err != nil {
		return fmt.Errorf("xlsx: sheet %s: %w", sh, err)
	}
	header := []any{"table", "column", "type", "nullable", "key", "description"}
	if err := f.SetSheetRow(sh, "A1", &header); err != nil {
		return err
	}
	if err := f.SetCellStyle(sh, "A1", "F1", wb.styles.header); err != nil {
		return err
	}
	row := 2
	add := func(vals ...any) error {
		err := f.SetSheetRow(sh, cellName(1, row), &vals)
		row++
		return err
	}
	for _, t := range tables {
		for _, c := range t.Columns {
			if err := add(t.Name, c.Name, c.Type.String(), c.Nullable, slices.Contains(t.Key, c.Name), c.Doc); err != nil {
				return err
			}
		}
		if t.Review {
			docs := map[string]string{
				DecisionColumn: "for the reviewer: Keep, Revoke or Change ('exporter apply' reads it)",
				ReviewerColumn: "for the reviewer: who decided",
				CommentColumn:  "for the reviewer: why",
			}
			for _, name := range []string{DecisionColumn, ReviewerColumn, CommentColumn} {
				if err := add(t.Name, name, "string", true, false, docs[name]); err != nil {
					return err
				}
			}
		}
	}
	for col, width := range map[string]float64{"A": 20, "B": 24, "C": 11, "D": 10, "E": 8, "F": 90} {
		if err := f.SetColWidth(sh, col, col, width); err != nil {
			return err
		}
	}
	if err := f.SetPanes(sh, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	return f.AutoFilter(sh, fmt.Sprintf("A1:F%d", row-1), nil)
}

func cellName(col, row int) string {
	c, _ := excelize.CoordinatesToCellName(col, row)
	return c
}

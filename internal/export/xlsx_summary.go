package export

import (
	"fmt"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Summary fills the Summary sheet: what the packet is, rows per table (and
// the sheets each table fills), the dormant, privileged and findings
// counts, and the changes by kind with a bar chart of them.
func (wb *workbook) Summary(s *Summary) error {
	f := wb.f
	const sh = SummarySheet
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	title, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}})
	if err != nil {
		return err
	}
	row := 1
	put := func(vals ...any) error {
		cell, _ := excelize.CoordinatesToCellName(1, row)
		row++
		return f.SetSheetRow(sh, cell, &vals)
	}
	heading := func(text string, style int) error {
		cell, _ := excelize.CoordinatesToCellName(1, row)
		if err := put(text); err != nil {
			return err
		}
		return f.SetCellStyle(sh, cell, cell, style)
	}
	snap := ""
	if !s.SnapshotTime.IsZero() {
		snap = formatInstant(s.SnapshotTime)
	}
	steps := []func() error{
		func() error { return heading("Access review packet", title) },
		func() error { return put("Organization", s.Organization) },
		func() error { return put("Run", s.Run) },
		func() error { return put("Snapshot time (UTC)", snap) },
		func() error { return put("Packet id", s.PacketID) },
		func() error { return put("Tool version", s.ToolVersion) },
		func() error { return put("Changes since", s.Baseline) },
		func() error { return put("Dormant after (days)", int64(s.DormantDays)) },
		func() error { return put("Privileged groups", strings.Join(s.PrivilegedGroups, "; ")) },
		func() error { return put("Most members expected in a privileged group", int64(s.MaxPrivileged)) },
		func() error { row++; return heading("Rows per table", bold) },
	}
	for _, t := range s.Tables {
		steps = append(steps, func() error { return put(t.Name, t.N, strings.Join(wb.sheets[t.Name], ", ")) })
	}
	steps = append(steps,
		func() error { row++; return heading("Controls", bold) },
		func() error { return put("Dormant accounts", s.Dormant) },
		func() error { return put("Accounts with privileged access", s.Privileged) },
		func() error { return put("Findings", total(s.Findings)) },
	)
	for _, c := range s.Findings {
		steps = append(steps, func() error { return put("  "+c.Name, c.N) })
	}
	var first, last int
	steps = append(steps,
		func() error { row++; return heading("Changes by kind", bold) },
		func() error { first = row; return nil },
	)
	for _, c := range s.Changes {
		steps = append(steps, func() error { return put(c.Name, c.N) })
	}
	steps = append(steps, func() error { last = row - 1; return nil })
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("xlsx: summary: %w", err)
		}
	}
	if err := f.SetColWidth(sh, "A", "A", 44); err != nil {
		return err
	}
	if err := f.SetColWidth(sh, "B", "B", 40); err != nil {
		return err
	}
	if err := f.SetColWidth(sh, "C", "C", 30); err != nil {
		return err
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
	chart := &excelize.Chart{
		Type: excelize.Bar,
		Series: []excelize.ChartSeries{{
			Name:       "Changes",
			Categories: fmt.Sprintf("%s!$A$%d:$A$%d", sh, first, last),
			Values:     fmt.Sprintf("%s!$B$%d:$B$%d", sh, first, last),
		}},
		Title:  excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: "Changes by kind"}}},
		Legend: excelize.ChartLegend{Position: "none"},
		Format: excelize.GraphicOptions{OffsetX: 10, OffsetY: 10},
	}
	if err := f.AddChart(sh, "E2", chart); err != nil {
		return fmt.Errorf("xlsx: summary chart: %w", err)
	}
	return nil
}

// Package report draws report.html: one self-contained page (inline CSS,
// SVG charts drawn here, a small inline script to sort and filter tables;
// nothing fetched from any host) with what an auditor looks at first in a
// review packet or a campaign. It is a pure renderer: the caller (the
// packet writer, the campaign writer) fills Data from what it reads; the
// page is drawn by html/template, which escapes every value.
package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"time"
)

// MaxTableRows bounds the rows a table embeds in the page (the page says
// when it shows fewer than the table has, and which file holds them all);
// MaxBars bounds a bar chart's bars (the rest are summed in one "other").
// They keep the page of a 50,000-user organization a few MB that a
// browser opens at once.
const (
	MaxTableRows = 2000
	MaxBars      = 20
	MaxTrend     = 24 // runs in the trend chart, the latest
)

// Data is everything a report shows. Every field may be left empty: the
// page leaves out what it has no data for.
type Data struct {
	Title    string // "Access review: fabrikam"
	Subtitle string // one line under the title
	Kind     string // "packet" or "campaign"

	Org          string
	Run          int64
	SnapshotTime time.Time
	CreatedAt    time.Time
	PacketID     string
	ToolVersion  string
	Baseline     string // in words: "run 3", "none", …

	// Figures are the headline numbers, in order.
	Figures []Figure

	AccessLevels        []Count // accounts by access level
	PrivilegedByProject []Count // accounts with privileged access, per project ("(organization)" for collection groups)
	FindingsBySeverity  []Count // high, medium, low
	FindingsByKind      []Count
	Changes             []Count // changes since the baseline, by kind
	Gained, Lost        int64   // access gained and lost since the baseline
	Trend               []TrendPoint
	Completion          []ScopeCompletion

	// Tables are shown sortable and filterable, in order (privileged
	// access, findings, changes). Evidence is nil until decisions are
	// applied.
	Tables   []Table
	Evidence *Evidence
}

// Figure is one headline number.
type Figure struct {
	Label string
	Value int64
	Note  string // a few words under the number
	Alert bool   // drawn in the warning colour when not zero
}

// Count is a named number.
type Count struct {
	Name string
	N    int64
}

// TrendPoint is one complete run of the store.
type TrendPoint struct {
	Run      int64
	Time     time.Time
	Accounts int64 // accounts in the snapshot
	Licensed int64 // of which with an access level
	Gained   int64 // direct memberships and access levels added since the run before
	Lost     int64 // removed since the run before
}

// ScopeCompletion is the review progress of one scope of a campaign.
type ScopeCompletion struct {
	Scope         string
	Reviewers     []string
	Rows          int
	DecidedByHand int
	KeptInBulk    int
	Revokes       int
	Verifies      bool // the workbook still verifies against its manifest
}

// Done is the rows decided, by hand or kept in bulk.
func (s ScopeCompletion) Done() int { return s.DecidedByHand + s.KeptInBulk }

// Table is a table of the page. Rows beyond MaxTableRows are dropped by
// Render, which says so; Total is the table's full row count (0: len(Rows)).
type Table struct {
	ID      string // the HTML id (letters, digits, '-')
	Title   string
	Note    string // a sentence under the title
	File    string // the packet file holding every row, named when the page shows fewer
	Columns []string
	Rows    [][]string
	Total   int64
}

// Evidence is what 'exporter apply' did, as the apply journal recorded it
// and this run's snapshot confirms.
type Evidence struct {
	ByStatus  []Count // actions by journal status (done, skipped, refused, failed, …)
	ByAction  []Count // grant, revoke, …
	Approvers []Count // actions per approver
	// Verified counts the done grants and revokes this run's snapshot
	// confirms; Unverified those it contradicts.
	Verified, Unverified int64
	Actions              Table
}

//go:embed report.html.tmpl
var pageText string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"num":      formatInt,
	"pct":      pct,
	"when":     when,
	"int64":    func(n int) int64 { return int64(n) },
	"barEnd":   func(w float64) float64 { return barLabelW + w + 6 },
	"barX":     func() int { return barLabelW },
	"barTextX": func() int { return barLabelW - 6 },
	"barWidth": func() int { return barWidth },
	"rows": func(n int64) string {
		if n == 1 {
			return "1 row"
		}
		return formatInt(n) + " rows"
	},
}).Parse(pageText))

// Render writes the page of d to w.
func Render(w io.Writer, d *Data) error {
	v := build(d)
	var buf bytes.Buffer
	if err := page.Execute(&buf, v); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// formatInt writes n with thousands separators: 1,234,567.
func formatInt(n int64) string {
	s := fmt.Sprint(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func pct(part, whole int) int {
	if whole <= 0 {
		return 100
	}
	return part * 100 / whole
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

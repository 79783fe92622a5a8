package report

import (
	"fmt"
	"strings"
)

// The charts are SVG whose geometry is computed here; the template only
// places numbers and escaped text, so a name can never become markup.

// view is what the template draws: the data, and the charts and tables
// made from it.
type view struct {
	*Data
	Charts     []barChart
	GainLoss   *barChart
	Trend      *lineChart
	Tables     []tableView
	Evidence   *evidenceView
	Completion *completionView
}

type barChart struct {
	ID, Title, Note string
	Bars            []bar
	Height          int
	Total           int64
}

type bar struct {
	Label, Full string // Label may be shortened; Full is the whole name
	N           int64
	Y, TextY    int
	W           float64 // the bar's width, out of barSpan
	Class       string
}

// Bar chart geometry (SVG user units; the SVG scales to its box).
const (
	barLabelW = 230 // the labels' column
	barSpan   = 300 // the longest bar
	barRow    = 26
	barThick  = 18
	barWidth  = barLabelW + barSpan + 90
)

// newBarChart draws counts as horizontal bars, the largest MaxBars kept
// in their order and the rest summed as "other"; class names each bar's
// colour.
func newBarChart(id, title, note string, cs []Count, class func(string) string) barChart {
	c := barChart{ID: id, Title: title, Note: note}
	capped := len(cs) > MaxBars
	cs = capCounts(cs)
	var max int64
	for i, x := range cs {
		c.Total += x.N
		if !capped || i < len(cs)-1 { // the bars drawn to scale
			max = maxInt(max, x.N)
		}
	}
	for i, x := range cs {
		b := bar{Label: shorten(x.Name, 32), Full: x.Name, N: x.N, Y: i*barRow + 4, TextY: i*barRow + 4 + barThick - 5, Class: class(x.Name)}
		if capped && i == len(cs)-1 {
			// The rest, summed, would dwarf the bars drawn: a number alone.
			c.Bars = append(c.Bars, b)
			continue
		}
		if max > 0 {
			b.W = float64(x.N) * barSpan / float64(max)
			if x.N > 0 && b.W < 2 {
				b.W = 2
			}
		}
		c.Bars = append(c.Bars, b)
	}
	c.Height = len(c.Bars)*barRow + 8
	return c
}

// capCounts keeps MaxBars-1 counts and sums the rest as "other".
func capCounts(cs []Count) []Count {
	if len(cs) <= MaxBars {
		return cs
	}
	out := append([]Count(nil), cs[:MaxBars-1]...)
	other := Count{Name: fmt.Sprintf("%d others together", len(cs)-(MaxBars-1))}
	for _, x := range cs[MaxBars-1:] {
		other.N += x.N
	}
	return append(out, other)
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// plain colours every bar alike.
func plain(string) string { return "b-main" }

func severityClass(s string) string {
	switch strings.ToLower(s) {
	case "high":
		return "b-high"
	case "medium":
		return "b-medium"
	}
	return "b-low"
}

func changeClass(kind string) string {
	switch kind {
	case "access_gained", "added", "enabled":
		return "b-gain"
	case "access_lost", "removed", "disabled":
		return "b-loss"
	}
	return "b-main"
}

// lineChart is the trend over the store's runs: accounts and accounts
// with an access level as lines, access gained and lost as columns above
// and below a middle line.
type lineChart struct {
	Accounts, Licensed string // polyline points
	Dots               []dot
	Columns            []column
	Ticks              []tick
	MaxAccounts        int64
	MaxChange          int64
	Runs               int
}

type dot struct {
	X, Y  float64
	Title string
}

type column struct {
	X, Y, H, W float64
	Class      string
	Title      string
}

type tick struct {
	X     float64
	Label string
}

// Trend chart geometry: the lines in the upper band, the columns in the
// lower one, around the line at changeMid.
const (
	trendW      = 640
	trendLeft   = 56
	trendRight  = 28 // room for the last run's column of losses
	trendTop    = 14
	trendLineH  = 130
	changeMid   = 215
	changeHalf  = 40
	trendHeight = 290
)

func newLineChart(ps []TrendPoint) *lineChart {
	if len(ps) == 0 {
		return nil
	}
	if len(ps) > MaxTrend {
		ps = ps[len(ps)-MaxTrend:]
	}
	c := &lineChart{Runs: len(ps)}
	for _, p := range ps {
		c.MaxAccounts = maxInt(c.MaxAccounts, p.Accounts)
		c.MaxChange = maxInt(c.MaxChange, maxInt(p.Gained, p.Lost))
	}
	span := float64(trendW - trendLeft - trendRight)
	step := span
	if len(ps) > 1 {
		step = span / float64(len(ps)-1)
	}
	x := func(i int) float64 {
		if len(ps) == 1 {
			return trendLeft + span/2
		}
		return trendLeft + float64(i)*step
	}
	y := func(n int64) float64 {
		if c.MaxAccounts == 0 {
			return trendTop + trendLineH
		}
		return trendTop + trendLineH - float64(n)*trendLineH/float64(c.MaxAccounts)
	}
	h := func(n int64) float64 {
		if c.MaxChange == 0 {
			return 0
		}
		return float64(n) * changeHalf / float64(c.MaxChange)
	}
	colW := min(step*0.35, 18)
	// Ticks name the runs' dates, or the runs when two share a date.
	dates := map[string]bool{}
	byRun := false
	for _, p := range ps {
		d := p.Time.UTC().Format("Jan 2")
		byRun = byRun || p.Time.IsZero() || dates[d]
		dates[d] = true
	}
	var acc, lic []string
	for i, p := range ps {
		acc = append(acc, fmt.Sprintf("%.1f,%.1f", x(i), y(p.Accounts)))
		lic = append(lic, fmt.Sprintf("%.1f,%.1f", x(i), y(p.Licensed)))
		c.Dots = append(c.Dots, dot{X: x(i), Y: y(p.Accounts), Title: fmt.Sprintf("run %d: %s accounts, %s with an access level", p.Run, formatInt(p.Accounts), formatInt(p.Licensed))})
		if g := h(p.Gained); g > 0 {
			c.Columns = append(c.Columns, column{X: x(i) - colW, Y: changeMid - g, H: g, W: colW, Class: "b-gain", Title: fmt.Sprintf("run %d: %s gained", p.Run, formatInt(p.Gained))})
		}
		if l := h(p.Lost); l > 0 {
			c.Columns = append(c.Columns, column{X: x(i), Y: changeMid, H: l, W: colW, Class: "b-loss", Title: fmt.Sprintf("run %d: %s lost", p.Run, formatInt(p.Lost))})
		}
		// A tick for every run while they fit, else about eight.
		if len(ps) <= 12 || i%((len(ps)+7)/8) == 0 || i == len(ps)-1 {
			label := p.Time.UTC().Format("Jan 2")
			if byRun {
				label = fmt.Sprintf("run %d", p.Run)
			}
			c.Ticks = append(c.Ticks, tick{X: x(i), Label: label})
		}
	}
	c.Accounts, c.Licensed = strings.Join(acc, " "), strings.Join(lic, " ")
	return c
}

// tableView is a table bounded to MaxTableRows.
type tableView struct {
	Table
	Shown int
	All   int64
	Cut   bool
}

func newTableView(t Table) tableView {
	v := tableView{Table: t, All: t.Total}
	if v.All < int64(len(t.Rows)) {
		v.All = int64(len(t.Rows))
	}
	if len(t.Rows) > MaxTableRows {
		v.Rows = t.Rows[:MaxTableRows]
	}
	v.Shown = len(v.Rows)
	v.Cut = int64(v.Shown) < v.All
	return v
}

type evidenceView struct {
	*Evidence
	Status  barChart
	Actions tableView
}

type completionView struct {
	Scopes              []ScopeCompletion
	Rows, Done, Revokes int
	Complete            int
}

func build(d *Data) *view {
	v := &view{Data: d}
	if len(d.AccessLevels) > 0 {
		v.Charts = append(v.Charts, newBarChart("chart-levels", "Accounts by access level", "", d.AccessLevels, plain))
	}
	if len(d.PrivilegedByProject) > 0 {
		v.Charts = append(v.Charts, newBarChart("chart-privileged", "Privileged accounts per project", "accounts with access to a privileged group, direct or nested", d.PrivilegedByProject, func(string) string { return "b-priv" }))
	}
	if len(d.FindingsBySeverity) > 0 {
		v.Charts = append(v.Charts, newBarChart("chart-severity", "Findings by severity", "", d.FindingsBySeverity, severityClass))
	}
	if len(d.Changes) > 0 {
		v.Charts = append(v.Charts, newBarChart("chart-changes", "Changes since the baseline", "baseline: "+orNone(d.Baseline), d.Changes, changeClass))
	}
	if d.Gained > 0 || d.Lost > 0 || len(d.Changes) > 0 {
		c := newBarChart("chart-gainloss", "Access gained and lost since the baseline", "effective access, direct and through groups",
			[]Count{{Name: "gained", N: d.Gained}, {Name: "lost", N: d.Lost}},
			func(s string) string {
				if s == "gained" {
					return "b-gain"
				}
				return "b-loss"
			})
		v.GainLoss = &c
	}
	v.Trend = newLineChart(d.Trend)
	for _, t := range d.Tables {
		v.Tables = append(v.Tables, newTableView(t))
	}
	if e := d.Evidence; e != nil {
		v.Evidence = &evidenceView{Evidence: e, Status: newBarChart("chart-applied", "Actions by outcome", "", e.ByStatus, statusClass), Actions: newTableView(e.Actions)}
	}
	if len(d.Completion) > 0 {
		c := &completionView{Scopes: d.Completion}
		for _, s := range d.Completion {
			c.Rows += s.Rows
			c.Done += s.Done()
			c.Revokes += s.Revokes
			if s.Done() >= s.Rows && s.Verifies {
				c.Complete++
			}
		}
		v.Completion = c
	}
	return v
}

func statusClass(s string) string {
	switch s {
	case "done", "skipped":
		return "b-gain"
	case "failed", "refused", "started":
		return "b-loss"
	}
	return "b-main"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

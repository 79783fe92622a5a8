package export

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ado-access/ado-access/internal/diff"
	"github.com/ado-access/ado-access/internal/report"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// ReportName is a packet's page for people (internal/report draws it).
const ReportName = "report.html"

// reportTables are the tables report.html shows rows of, with the
// columns it shows, in order.
var reportTables = map[*Table][]string{
	PrivilegedAccess: {"member_name", "principal_name", "project", "role", "meta_type", "license_display_name", "last_accessed", "dormant", "member_kind", "path"},
	Findings:         {"severity", "finding", "subject_name", "group_name", "detail"},
	Changes:          {"kind", "entity", "name", "details", "path"},
	AppliedDecisions: {"action", "subject_name", "target_name", "status", "approver", "ticket", "reason", "source_file", "source_row", "finished_at"},
}

// reportRows collects, from the packet's tables as they stream past, what
// report.html shows: the first report.MaxTableRows rows of each table of
// reportTables, privileged accounts per project, and the applied actions
// to verify. It is a part of each of those tables (it writes in the
// table's goroutine; read it only after the table is staged).
type reportRows struct {
	mu       sync.Mutex
	tables   map[string]*report.Table
	privProj map[string]map[string]bool // project → privileged accounts
	applied  []appliedAction
	appStat  map[string]int64
	appAct   map[string]int64
	approver map[string]int64
}

// appliedAction is a done action, to check against the snapshot.
type appliedAction struct {
	org                     string
	action, subject, target string
}

func newReportRows() *reportRows {
	return &reportRows{tables: map[string]*report.Table{}, privProj: map[string]map[string]bool{},
		appStat: map[string]int64{}, appAct: map[string]int64{}, approver: map[string]int64{}}
}

// part returns the report's part of table t (src: the packet table it is
// made from, t with an org column for a packet of several organizations),
// or nil when the report shows none of it.
func (rr *reportRows) part(src, t *Table) *part {
	cols, ok := reportTables[src]
	if !ok || rr == nil {
		return nil
	}
	if t != src {
		cols = append([]string{"org"}, cols...)
	}
	w := &reportWriter{rr: rr, src: src, t: t, at: make([]int, len(cols))}
	for i, c := range cols {
		w.at[i] = t.Index(c)
	}
	rr.tables[src.Name] = &report.Table{ID: strings.ReplaceAll(src.Name, "_", "-"), File: src.Name + ".csv", Columns: headings(cols)}
	return &part{format: "report", w: w}
}

// headings are column names as people read them.
func headings(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = strings.ReplaceAll(strings.TrimSuffix(c, "_display_name"), "_", " ")
	}
	return out
}

type reportWriter struct {
	rr  *reportRows
	src *Table
	t   *Table
	at  []int
}

func (w *reportWriter) Write(r Row) error {
	rr := w.rr
	rr.mu.Lock()
	defer rr.mu.Unlock()
	tb := rr.tables[w.src.Name]
	tb.Total++
	if len(tb.Rows) < report.MaxTableRows {
		cells := make([]string, len(w.at))
		for i, j := range w.at {
			cells[i] = cellText(r[j])
		}
		tb.Rows = append(tb.Rows, cells)
	}
	get := func(name string) string {
		i := w.t.Index(name)
		if i < 0 {
			return "" // org, in a packet of one organization
		}
		s, _ := r[i].(string)
		return s
	}
	switch w.src {
	case PrivilegedAccess:
		p := get("project")
		if p == "" {
			p = "(organization)"
		}
		if rr.privProj[p] == nil {
			rr.privProj[p] = map[string]bool{}
		}
		rr.privProj[p][get("org")+"\x00"+get("member_descriptor")] = true
	case AppliedDecisions:
		status, action := get("status"), get("action")
		rr.appStat[status]++
		rr.appAct[action]++
		rr.approver[cmp.Or(get("approver"), "(no approver)")]++
		if status == snapshot.JournalDone && verifiable[action] && len(rr.applied) < maxVerified {
			rr.applied = append(rr.applied, appliedAction{org: get("org"), action: action, subject: get("subject"), target: get("target")})
		}
	}
	return nil
}

func (w *reportWriter) Close() error { return nil }

// verifiable are the actions report.html checks against the snapshot.
var verifiable = map[string]bool{"grant": true, "revoke": true, "revoke-pat": true, "remove-role": true, "close-pipelines": true}

// maxVerified bounds the applied actions report.html checks against the
// snapshot (one indexed lookup each).
const maxVerified = 20000

// cellText is a value as the page shows it.
func cellText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		if v {
			return "yes"
		}
		return "no"
	case time.Time:
		return v.UTC().Format("2006-01-02 15:04")
	}
	return fmt.Sprint(v)
}

// stageReport draws report.html of the packet and stages it.
func stageReport(ctx context.Context, jobs []*job, names []string, sink Sink, m *Manifest, rr *reportRows) (File, SinkFile, error) {
	d, err := reportData(ctx, jobs, names, m, rr)
	if err != nil {
		return File{}, nil, err
	}
	var buf bytes.Buffer
	if err := report.Render(&buf, d); err != nil {
		return File{}, nil, err
	}
	f, err := sink.Create(ctx, ReportName)
	if err != nil {
		return File{}, nil, err
	}
	dig := newDigest(f)
	if _, err := dig.Write(buf.Bytes()); err != nil {
		f.Abort()
		return File{}, nil, fmt.Errorf("write %s: %w", ReportName, err)
	}
	if err := f.Stage(); err != nil {
		f.Abort()
		return File{}, nil, err
	}
	return File{Path: ReportName, Format: "html", Bytes: dig.n, SHA256: dig.sum()}, f, nil
}

// WritePage draws d and writes it as name in sink (a campaign's own
// report.html), returning its entry for a manifest.
func WritePage(ctx context.Context, sink Sink, name string, d *report.Data) (File, error) {
	var buf bytes.Buffer
	if err := report.Render(&buf, d); err != nil {
		return File{}, err
	}
	sum := sha256.Sum256(buf.Bytes())
	if err := writeFile(ctx, sink, name, buf.Bytes()); err != nil {
		return File{}, err
	}
	return File{Path: name, Format: "html", Bytes: int64(buf.Len()), SHA256: hex.EncodeToString(sum[:])}, nil
}

// reportData fills the report of a packet from what its jobs found.
func reportData(ctx context.Context, jobs []*job, names []string, m *Manifest, rr *reportRows) (*report.Data, error) {
	j := jobs[0]
	d := &report.Data{
		Kind: "packet", Title: "Access review: " + OrgName(j.run.Org), Org: j.run.Org, Run: j.run.ID, SnapshotTime: j.snap,
		CreatedAt: time.Now().UTC(), PacketID: m.PacketID, ToolVersion: j.opts.ToolVersion, Baseline: j.changes.desc,
	}
	if d.Baseline == "" {
		d.Baseline = "none"
	}
	d.Subtitle = fmt.Sprintf("Review packet of run %d: who has access, what is privileged, what changed since the baseline, and what was decided", j.run.ID)
	if names != nil {
		d.Title = "Access review: " + strings.Join(names, ", ")
		d.Org, d.Run, d.Baseline = fmt.Sprintf("%d organizations", len(names)), 0, "each organization's previous run"
		d.Subtitle = "Review packet of the latest run of each organization"
	}
	var accounts, dormant, privileged, high int64
	levels := map[string]int64{}
	changes := map[string]int64{}
	var findings []report.Count
	for _, jj := range jobs {
		accounts += int64(len(jj.accounts))
		dormant += jj.dormant
		privileged += int64(len(jj.privAccounts))
		high += jj.highFindings()
		for _, a := range jj.accounts {
			levels[cmp.Or(a.license, "no access level")]++
		}
		for k, n := range jj.changeKinds {
			changes[k] += n
		}
		for _, c := range jj.findingCounts() {
			findings = addReportCount(findings, c.Name, c.N)
		}
	}
	d.AccessLevels = sortedCounts(levels)
	severities := map[string]int64{}
	for _, c := range findings {
		severities[FindingSeverity[c.Name]] += c.N
		if c.N > 0 {
			d.FindingsByKind = append(d.FindingsByKind, c)
		}
	}
	for _, s := range []string{severityHigh, severityMd, severityLow} {
		d.FindingsBySeverity = append(d.FindingsBySeverity, report.Count{Name: s, N: severities[s]})
	}
	if j.changes.kind != "none" {
		for _, k := range diff.Kinds {
			if changes[k] > 0 {
				d.Changes = append(d.Changes, report.Count{Name: k, N: changes[k]})
			}
		}
		d.Gained, d.Lost = changes[diff.AccessGained], changes[diff.AccessLost]
	}
	proj := map[string]int64{}
	for p, set := range rr.privProj {
		proj[p] = int64(len(set))
	}
	d.PrivilegedByProject = sortedCounts(proj)

	d.Figures = []report.Figure{
		{Label: "accounts", Value: accounts},
		{Label: "with privileged access", Value: privileged, Note: "direct or through groups"},
		{Label: "dormant", Value: dormant, Note: fmt.Sprintf("no sign-in for %d days or more", j.opts.DormantDays)},
		{Label: "high-severity findings", Value: high, Alert: true},
	}
	if j.changes.kind != "none" {
		d.Figures = append(d.Figures,
			report.Figure{Label: "access gained", Value: d.Gained, Note: "since the baseline"},
			report.Figure{Label: "access lost", Value: d.Lost, Note: "since the baseline"})
	}
	for _, t := range []*Table{PrivilegedAccess, Findings, Changes} {
		tb, ok := rr.tables[t.Name]
		if !ok {
			continue
		}
		tb.Title, tb.Note = reportTitles[t.Name][0], reportTitles[t.Name][1]
		d.Tables = append(d.Tables, *tb)
	}
	if tb := rr.tables[AppliedDecisions.Name]; tb != nil && tb.Total > 0 {
		e := &report.Evidence{ByStatus: sortedCounts(rr.appStat), ByAction: sortedCounts(rr.appAct), Approvers: sortedCounts(rr.approver), Actions: *tb}
		e.Actions.Title, e.Actions.Note = "Actions applied", "every action 'exporter apply' journaled since the baseline: what was decided, by whom, and what happened"
		if err := verifyApplied(ctx, jobs, names, rr.applied, e); err != nil {
			return nil, err
		}
		d.Evidence = e
		d.Figures = append(d.Figures, report.Figure{Label: "decisions applied", Value: tb.Total, Note: fmt.Sprintf("%d confirmed by this snapshot", e.Verified)})
	}
	if names == nil {
		trend, err := reportTrend(ctx, j.st, j.run.ID)
		if err != nil {
			return nil, err
		}
		d.Trend = trend
	}
	return d, nil
}

var reportTitles = map[string][2]string{
	PrivilegedAccess.Name: {"Privileged access", "every account in a privileged group, directly or through nested groups"},
	Findings.Name:         {"Findings", "what a reviewer should look at first, most severe first"},
	Changes.Name:          {"Changes since the baseline", "accounts, groups, memberships and access added, removed or changed"},
}

func addReportCount(cs []report.Count, name string, n int64) []report.Count {
	for i := range cs {
		if cs[i].Name == name {
			cs[i].N += n
			return cs
		}
	}
	return append(cs, report.Count{Name: name, N: n})
}

// sortedCounts are counts largest first (ties by name).
func sortedCounts(m map[string]int64) []report.Count {
	out := make([]report.Count, 0, len(m))
	for k, n := range m {
		out = append(out, report.Count{Name: k, N: n})
	}
	slices.SortFunc(out, func(a, b report.Count) int { return cmp.Or(cmp.Compare(b.N, a.N), strings.Compare(a.Name, b.Name)) })
	return out
}

// verifyApplied checks each done action against the packet's snapshot: a
// revoked membership must be gone, a granted one there; a revoked token or
// removed role gone, a resource closed to all pipelines no longer open.
func verifyApplied(ctx context.Context, jobs []*job, names []string, acts []appliedAction, e *report.Evidence) error {
	for _, a := range acts {
		j := jobs[0]
		if names != nil {
			if i := slices.Index(names, a.org); i >= 0 {
				j = jobs[i]
			}
		}
		var present bool
		query, args := "apply_membership", []any{sql.Named("container", a.target), sql.Named("member", a.subject), sql.Named("run", j.run.ID)}
		if a.action != "grant" && a.action != "revoke" { // a token, role or pipeline permission taken away
			query, args = "apply_pipeline_item", append(args, sql.Named("action", a.action))
		}
		err := j.st.Rows(ctx, query, args, nil, func([]any) error { present = true; return nil })
		if err != nil {
			return err
		}
		if present == (a.action == "grant") {
			e.Verified++
		} else {
			e.Unverified++
		}
	}
	return nil
}

// reportTrend sums the store's row versions into one point per complete
// run up to run (the latest report.MaxTrend).
func reportTrend(ctx context.Context, st *snapshot.Store, run int64) ([]report.TrendPoint, error) {
	runs, err := st.Runs(ctx)
	if err != nil {
		return nil, err
	}
	type key struct {
		tbl    string
		run    int64
		opened bool
	}
	n := map[key]int64{}
	err = st.Rows(ctx, "report_versions", nil, nil, func(v []any) error {
		tbl, _ := v[0].(string)
		r, _ := v[1].(int64)
		op, _ := v[2].(int64)
		c, _ := v[3].(int64)
		n[key{tbl, r, op == 1}] += c
		return nil
	})
	if err != nil {
		return nil, err
	}
	var ids []int64
	for r := range n {
		ids = append(ids, r.run)
	}
	sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
	ids = slices.Compact(ids)
	var out []report.TrendPoint
	var accounts, licensed, gained, lost int64
	next := 0
	for _, r := range runs {
		if r.Status != "complete" || r.ID > run {
			continue
		}
		for ; next < len(ids) && ids[next] <= r.ID; next++ {
			id := ids[next]
			accounts += n[key{"accounts", id, true}] - n[key{"accounts", id, false}]
			licensed += n[key{"entitlements", id, true}] - n[key{"entitlements", id, false}]
			gained += n[key{"memberships", id, true}]
			lost += n[key{"memberships", id, false}]
		}
		p := report.TrendPoint{Run: r.ID, Time: r.StartedAt, Accounts: accounts, Licensed: licensed, Gained: gained, Lost: lost}
		if r.SnapshotTime != nil {
			p.Time = *r.SnapshotTime
		}
		if len(out) == 0 {
			p.Gained, p.Lost = 0, 0 // the first run's memberships are not a change
		}
		gained, lost = 0, 0
		out = append(out, p)
	}
	if len(out) > report.MaxTrend {
		out = out[len(out)-report.MaxTrend:]
	}
	return out, nil
}

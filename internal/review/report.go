package review

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/report"
)

// ReportName is the campaign's page, beside campaign.json: the completion
// of every scope (each scope's own packet carries its own report.html).
const ReportName = "report.html"

// writeReport renders the campaign's report.html into sink: st nil is a
// campaign just written, nothing decided yet.
func writeReport(ctx context.Context, sink export.Sink, c *Campaign, st *Status) error {
	var buf bytes.Buffer
	if err := RenderReport(&buf, c, st); err != nil {
		return err
	}
	return put(ctx, sink, ReportName, buf.Bytes())
}

// RenderReport draws the campaign's page: headline figures, the completion
// of each scope, and a table of the scopes.
func RenderReport(w *bytes.Buffer, c *Campaign, st *Status) error {
	d := &report.Data{
		Kind: "campaign", Title: "Access review campaign: " + c.OrgName, Org: c.Org, Run: c.Run,
		PacketID: c.CampaignID, ToolVersion: c.ToolVersion, CreatedAt: time.Now().UTC(),
		Subtitle: fmt.Sprintf("%d scopes, one packet each: each project for its administrators, the organization level for the security team", len(c.Scopes)),
	}
	if c.SnapshotTime != nil {
		d.SnapshotTime = *c.SnapshotTime
	}
	if c.Baseline != nil {
		d.Baseline = c.Baseline.Kind
		if c.Baseline.Run != 0 {
			d.Baseline = "run " + strconv.FormatInt(c.Baseline.Run, 10)
		}
	}
	byScope := map[string]ScopeStatus{}
	if st != nil {
		for _, s := range st.Scopes {
			byScope[s.Scope] = s
		}
	}
	var rows, decided, revokes, complete int64
	tb := report.Table{ID: "scopes", Title: "Scopes", Note: "every scope of the campaign, its reviewers and how far its review is",
		Columns: []string{"scope", "folder", "reviewers", "rows to decide", "marked", "decided by hand", "kept in bulk", "revokes", "verifies", "complete"}}
	for _, sc := range c.Scopes {
		s, ok := byScope[sc.Name]
		if !ok {
			s = ScopeStatus{Verified: true}
		}
		var who []string
		if len(s.Reviewers) > 0 {
			who = s.Reviewers
		} else {
			for _, r := range sc.Reviewers {
				who = append(who, r.Name)
			}
		}
		d.Completion = append(d.Completion, report.ScopeCompletion{Scope: sc.Name, Reviewers: who, Rows: int(sc.RowsToDecide),
			DecidedByHand: int(s.DecidedByHand), KeptInBulk: int(s.KeptInBulk), Revokes: int(s.Revokes), Verifies: s.Verified})
		rows += sc.RowsToDecide
		decided += s.DecidedByHand + s.KeptInBulk
		revokes += s.Revokes
		if s.Complete {
			complete++
		}
		names := fmt.Sprint(len(who)) + " reviewer(s)"
		if len(who) <= 3 {
			names = fmt.Sprint(who)
		}
		tb.Rows = append(tb.Rows, []string{sc.Name, sc.Dir, names, fmt.Sprint(sc.RowsToDecide), fmt.Sprint(sc.Marked),
			fmt.Sprint(s.DecidedByHand), fmt.Sprint(s.KeptInBulk), fmt.Sprint(s.Revokes), yes(s.Verified), yes(s.Complete)})
	}
	d.Figures = []report.Figure{
		{Label: "scopes", Value: int64(len(c.Scopes)), Note: fmt.Sprintf("%d complete", complete)},
		{Label: "rows to decide", Value: rows, Note: fmt.Sprintf("%d decided", decided)},
		{Label: "revokes", Value: revokes, Note: "decided so far"},
		{Label: "scopes open", Value: int64(len(c.Scopes)) - complete, Alert: true},
	}
	d.Tables = []report.Table{tb}
	return report.Render(w, d)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

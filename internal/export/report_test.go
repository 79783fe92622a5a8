package export

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ado-access/ado-access/internal/chromium"
	"github.com/ado-access/ado-access/internal/report"
)

// Every packet carries report.html, listed in its manifest, whose figures
// are the packet's own.
func TestPacketReport(t *testing.T) {
	f := storeFixture(t, "small")
	dir := t.TempDir()
	ctx := context.Background()
	m, err := ExportPacket(ctx, f.st, NewLocalSink(dir), PacketOptions{Formats: []string{"csv"}, Baseline: Baseline{Run: f.run1.ID}})
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join(dir, ReportName))
	if err != nil {
		t.Fatal(err)
	}
	var listed *File
	for i := range m.Files {
		if m.Files[i].Path == ReportName {
			listed = &m.Files[i]
		}
	}
	sum := sha256.Sum256(body)
	if listed == nil || listed.SHA256 != hex.EncodeToString(sum[:]) || listed.Bytes != int64(len(body)) {
		t.Fatalf("the manifest lists report.html as %+v", listed)
	}
	if rep, err := Verify(ctx, NewLocalSink(dir), ""); err != nil || !rep.OK() || len(rep.Unlisted) > 0 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	page := string(body)
	rows := func(table string) int64 { return countOf(m.Tables, table) }
	for _, want := range []string{
		"Access review: " + OrgName(f.run2.Org),
		fmt.Sprintf(`<div class="n">%s</div><div class="l">accounts</div>`, commas(rows("accounts"))),
		fmt.Sprintf(`Privileged access <span class="count">(%s rows)</span>`, commas(rows("privileged_access"))),
		fmt.Sprintf(`Changes since the baseline <span class="count">(%s rows)</span>`, commas(rows("changes"))),
		"the latest 2 complete runs", "Privileged accounts per project", "Accounts by access level",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(page, `id="evidence"`) {
		t.Error("a packet with nothing applied shows evidence")
	}

	// Opened in a browser: it shows the same, fetches nothing, no script
	// error; and it prints.
	b := chromium.Need(t)
	file := filepath.Join(dir, ReportName)
	p := b.Open(t, file, filepath.Join(t.TempDir(), "packet.png"), 1366, 1800)
	if len(p.Requests) > 0 {
		t.Errorf("report.html made requests: %v", p.Requests)
	}
	if !regexp.MustCompile(`<html[^>]*data-report-ready="\d+"`).MatchString(p.DOM) || regexp.MustCompile(`<html[^>]*data-script-errors=`).MatchString(p.DOM) {
		t.Errorf("report.html's script failed or was blocked: %.400q", p.DOM)
	}
	if !strings.Contains(p.DOM, "Access review: "+OrgName(f.run2.Org)) {
		t.Error("the browser does not show the title")
	}
	pdf := filepath.Join(t.TempDir(), "report.pdf")
	if reqs := b.PrintPDF(t, file, pdf); len(reqs) > 0 {
		t.Errorf("printing made requests: %v", reqs)
	}
	if head, _ := os.ReadFile(pdf); !strings.HasPrefix(string(head), "%PDF-") || len(head) < 20_000 {
		t.Errorf("the printed report is not a PDF of some pages (%d bytes)", len(head))
	}
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// The evidence counts a done revoke as confirmed when the snapshot no
// longer holds the membership, and a done grant when it does.
func TestReportVerifiesApplied(t *testing.T) {
	f := storeFixture(t, "small")
	ctx := context.Background()
	j, err := newJob(ctx, f.st, Options{Run: f.run2.ID})
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	var group, member string
	err = f.st.Rows(ctx, "export_memberships", []any{sql.Named("run", f.run2.ID)}, nil, func(v []any) error {
		if group == "" {
			group, member = v[0].(string), v[1].(string)
		}
		return nil
	})
	if err != nil || group == "" {
		t.Fatalf("no membership at run 2: %v", err)
	}
	rr := newReportRows()
	p := rr.part(AppliedDecisions, AppliedDecisions)
	row := func(action, subject, target, status, approver string) Row {
		r := make(Row, len(AppliedDecisions.Columns))
		for i, c := range AppliedDecisions.Columns {
			switch c.Type {
			case Int64:
				r[i] = int64(0)
			case String:
				if !c.Nullable {
					r[i] = ""
				}
			}
		}
		set := func(name string, v any) { r[AppliedDecisions.Index(name)] = v }
		set("action", action)
		set("subject", subject)
		set("target", target)
		set("status", status)
		set("approver", approver)
		return r
	}
	for _, r := range []Row{
		row("grant", member, group, "done", "ann"),             // present: confirmed
		row("revoke", member, group, "done", "ann"),            // present: contradicted
		row("revoke", "aad.nobody", group, "done", "bob"),      // absent: confirmed
		row("revoke", "aad.nobody", group, "failed", "bob"),    // not done: not checked
		row("set-license", member, "Basic", "done", "carol")} { // not a membership: not checked
		if err := p.w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	e := &report.Evidence{}
	if err := verifyApplied(ctx, []*job{j}, nil, rr.applied, e); err != nil {
		t.Fatal(err)
	}
	if e.Verified != 2 || e.Unverified != 1 {
		t.Errorf("verified %d, unverified %d; want 2 and 1", e.Verified, e.Unverified)
	}
	if rr.appStat["done"] != 4 || rr.appStat["failed"] != 1 || rr.approver["bob"] != 2 || rr.tables["applied_decisions"].Total != 5 {
		t.Errorf("counts: status %v approvers %v", rr.appStat, rr.approver)
	}
}

// A campaign's page goes through the same renderer; a blob serves it as a
// page, not a download.
func TestWritePage(t *testing.T) {
	dir := t.TempDir()
	f, err := WritePage(context.Background(), NewLocalSink(dir), ReportName, &report.Data{Title: "Campaign 2026-Q4",
		Completion: []report.ScopeCompletion{{Scope: "Phoenix", Reviewers: []string{"ann"}, Rows: 10, DecidedByHand: 4, KeptInBulk: 6, Verifies: true}}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, ReportName))
	sum := sha256.Sum256(b)
	if f.SHA256 != hex.EncodeToString(sum[:]) || f.Bytes != int64(len(b)) || !strings.Contains(string(b), "1 of 1 scopes complete") {
		t.Errorf("page %+v", f)
	}
	if ct := contentType(ReportName); ct != "text/html; charset=utf-8" {
		t.Errorf("report.html uploads as %q", ct)
	}
}

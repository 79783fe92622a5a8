package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/review"
)

// rewriteWorkbook saves a workbook the way another program would: every
// cell copied, as text, into a new workbook written by excelize's
// cell-by-cell API (shared strings, not the inline strings of the export's
// stream writer; no styles, drop-downs or filters kept).
func rewriteWorkbook(t *testing.T, path string, edit func(sheet string, rows [][]string)) {
	t.Helper()
	src, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := excelize.NewFile()
	for i, sh := range src.GetSheetList() {
		rows, err := src.GetRows(sh)
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(sh, rows)
		}
		if i == 0 {
			out.SetSheetName("Sheet1", sh)
		} else if _, err := out.NewSheet(sh); err != nil {
			t.Fatal(err)
		}
		for r, row := range rows {
			for c, v := range row {
				if v == "" {
					continue
				}
				cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
				if err := out.SetCellStr(sh, cell, v); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	src.Close()
	if err := out.SaveAs(path); err != nil {
		t.Fatal(err)
	}
}

// setSummary sets the value beside a Summary label.
func setSummary(rows [][]string, label, value string) {
	for i, r := range rows {
		if len(r) >= 1 && r[0] == label {
			rows[i] = append(r[:1], value)
		}
	}
}

func reviewStatus(t *testing.T, env map[string]string, dir string) (int, *review.Status) {
	t.Helper()
	code, out, errs := cli(t, env, "review", "status", dir, "--format", "json")
	var st review.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("review status: exit %d: %v\n%s\n%s", code, err, out, errs)
	}
	return code, &st
}

// The campaign loop: a campaign by project, one workbook filled in by
// hand-picked Revokes, the others by the bulk Keep, all saved by another
// writer; review status says 1, then 0; apply --decisions DIR/ carries out
// exactly those revokes, each traceable to its reviewer and scope.
func TestCampaignFullLoop(t *testing.T) {
	sim, env := simEnv(t, adosim.Options{Preset: "small"})
	env["ADO_PAT"] = sim.Credential("readwrite")
	dir := filepath.Join(t.TempDir(), "campaign")
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	code, out, errs := cli(t, env, "export", "packet", "--split-by", "project", "--to", dir)
	if code != 0 || !strings.Contains(out, "campaign ") {
		t.Fatalf("export: exit %d\n%s\n%s", code, out, errs)
	}
	raw, err := os.ReadFile(filepath.Join(dir, review.CampaignName))
	if err != nil {
		t.Fatal(err)
	}
	var c review.Campaign
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Scopes) < 3 || c.Scopes[0].Name != export.ScopeOrganization {
		t.Fatalf("scopes: %+v", c.Scopes)
	}
	withAdmins := 0
	for _, s := range c.Scopes {
		if s.ReviewersFrom != "project administrators" {
			t.Fatalf("scope %s: reviewers from %q", s.Name, s.ReviewersFrom)
		}
		if len(s.Reviewers) > 0 {
			withAdmins++
		}
	}
	if withAdmins == 0 {
		t.Fatal("no scope got its administrators as reviewers")
	}

	// Nothing decided yet: exit 1.
	code, st := reviewStatus(t, env, dir)
	if code != 1 || st.Complete != 0 || st.Decided != 0 {
		t.Fatalf("before any decision: exit %d, %+v", code, st)
	}

	// Scope A: two hand-picked Revokes of direct members of built-in groups.
	var a review.Scope
	var revoked []string
	for _, s := range c.Scopes[1:] {
		book := filepath.Join(dir, s.Dir, export.WorkbookName)
		var keys []string
		rewriteWorkbook(t, book, func(sheet string, rows [][]string) {
			if sheet != "effective_access" || a.Name != "" {
				return
			}
			col := map[string]int{}
			for i, h := range rows[0] {
				col[h] = i
			}
			for ri := range rows[1:] {
				r := rows[ri+1]
				get := func(c string) string {
					if col[c] < len(r) {
						return r[col[c]]
					}
					return ""
				}
				builtin := strings.HasSuffix(get("group_name"), `\Contributors`) || strings.HasSuffix(get("group_name"), `\Readers`)
				if len(keys) == 2 || get("direct") != "TRUE" || !strings.HasPrefix(get("group_descriptor"), "vssgp.") || get("member_kind") != "user" || !builtin {
					continue
				}
				for len(r) <= col["Comment"] {
					r = append(r, "")
				}
				r[col["Decision"]], r[col["Reviewer"]], r[col["Comment"]] = "Revoke", "alice@fabrikam.example", "left the project"
				rows[ri+1] = r // GetRows rows may be short: the longer one goes back
				keys = append(keys, get("group_descriptor")+" > "+get("member_descriptor"))
			}
		})
		if len(keys) == 2 {
			a, revoked = s, keys
			break
		}
	}
	if a.Name == "" {
		t.Fatal("no project scope with two revocable rows")
	}
	sort.Strings(revoked)
	code, st = reviewStatus(t, env, dir)
	sa := st.Scopes[indexOf(c, a.Name)]
	if code != 1 || sa.DecidedByHand != 2 || sa.Revokes != 2 || sa.KeptInBulk != 0 || !sa.Verified || sa.Complete ||
		len(sa.Reviewers) != 1 || sa.Reviewers[0] != "alice@fabrikam.example" {
		t.Fatalf("after the revokes: exit %d, scope %+v", code, sa)
	}

	// Every scope certified in bulk, A's reviewer too (after her revokes).
	for _, s := range c.Scopes {
		who := "security@fabrikam.example"
		if s.Name == a.Name {
			who = "alice@fabrikam.example"
		}
		rewriteWorkbook(t, filepath.Join(dir, s.Dir, export.WorkbookName), func(sheet string, rows [][]string) {
			if sheet == export.SummarySheet {
				setSummary(rows, export.BulkKeepLabel, "Yes")
				setSummary(rows, export.BulkReviewerLabel, who)
			}
		})
	}
	code, st = reviewStatus(t, env, dir)
	sa = st.Scopes[indexOf(c, a.Name)]
	if code != 0 || st.Complete != st.Total || st.Decided != st.RowsToDecide {
		t.Fatalf("after the bulk Keep: exit %d, %d of %d complete, %d of %d rows", code, st.Complete, st.Total, st.Decided, st.RowsToDecide)
	}
	if sa.DecidedByHand != 2 || sa.KeptInBulk != sa.RowsToDecide-2 || sa.BulkReviewer != "alice@fabrikam.example" {
		t.Fatalf("scope A counts a decided row twice, or loses its reviewer: %+v", sa)
	}
	page := filepath.Join(t.TempDir(), "report.html")
	if code, _, errs := cli(t, env, "review", "status", dir, "--report", page); code != 0 {
		t.Fatalf("review status --report: exit %d: %s", code, errs)
	}
	html, err := os.ReadFile(page)
	if err != nil || !strings.Contains(string(html), a.Name) || !strings.Contains(string(html), "alice@fabrikam.example") {
		t.Fatalf("the campaign report does not show scope %s and its reviewer: %v", a.Name, err)
	}
	if _, err := os.Stat(filepath.Join(dir, review.ReportName)); err != nil {
		t.Fatalf("the campaign has no report.html: %v", err)
	}

	code, out, errs = cli(t, env, "apply", "--decisions", dir+"/", "--apply")
	if code != 0 || !strings.Contains(out, "2 done") {
		t.Fatalf("apply the campaign: exit %d\n%s\n%s", code, out, errs)
	}
	var planID string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "plan" {
			planID = f[1]
			break
		}
	}
	code, out, errs = cli(t, env, "apply", "--status", planID)
	if code != 0 || strings.Count(out, "alice@fabrikam.example") != 2 || strings.Count(out, a.Dir+"/packet.xlsx") != 2 {
		t.Fatalf("apply --status %s does not name each action's reviewer and scope: exit %d\n%s\n%s", planID, code, out, errs)
	}

	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync after apply: %s", errs)
	}
	code, out, errs = cli(t, env, "diff", "--format", "json")
	if code != 0 {
		t.Fatalf("diff: %s", errs)
	}
	var changes []struct{ Kind, Entity, Key string }
	if err := json.Unmarshal([]byte(out), &changes); err != nil {
		t.Fatalf("diff json: %v\n%s", err, out)
	}
	var got []string
	for _, ch := range changes {
		if ch.Entity != "memberships" || ch.Kind != "removed" {
			t.Errorf("diff shows more than the revokes: %+v", ch)
			continue
		}
		got = append(got, ch.Key)
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(revoked, "\n") {
		t.Fatalf("memberships lost:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(revoked, "\n"))
	}

	// The next packet's report shows exactly those revokes in its evidence,
	// confirmed by its snapshot.
	next := filepath.Join(t.TempDir(), "packet-after")
	if code, _, errs := cli(t, env, "export", "packet", "--format", "csv", "--to", next); code != 0 {
		t.Fatalf("export after apply: exit %d %s", code, errs)
	}
	pageBytes, err := os.ReadFile(filepath.Join(next, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	evidence := string(pageBytes)
	confirmed := fmt.Sprintf(`<div class="n">%d</div><div class="l">confirmed by this snapshot</div>`, len(revoked))
	if !strings.Contains(evidence, "Evidence: decisions applied") || !strings.Contains(evidence, confirmed) {
		t.Errorf("report.html after the campaign's apply lacks the evidence of %d confirmed revokes", len(revoked))
	}
	if n := strings.Count(evidence, "<tr><td>revoke</td>"); n != len(revoked) {
		t.Errorf("report.html lists %d revokes, want %d", n, len(revoked))
	}
}

func indexOf(c review.Campaign, name string) int {
	for i, s := range c.Scopes {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// A scheduled campaign: a pipeline syncs and writes the quarter's
// campaign, and a review-status job reports its completion in the run's
// JSON summary.
func TestScheduledCampaignAndStatus(t *testing.T) {
	_, env := simEnv(t, adosim.Options{Preset: "small"})
	dir, out := writeSchedules(t, `
jobs:
  - name: quarterly
    schedule: "@daily"
    kind: pipeline
    steps:
      - kind: sync
      - kind: packet
        split_by: project
        formats: [csv, xlsx]
        to: OUT/{org}/{quarter}
  - name: status
    schedule: "@weekly"
    kind: review-status
    campaign: OUT/{org}/{quarter}
`)
	code, stdout, stderr := cli(t, env, "--log-level", "warn", "run", "--schedules", dir, "quarterly")
	if code != 0 {
		t.Fatalf("run quarterly: exit %d\n%s\n%s", code, stdout, stderr)
	}
	s := lastJSON(t, stdout)
	if len(s.Outputs) != 2 || !review.IsCampaign(s.Outputs[1]) || !strings.Contains(s.Outputs[1], out+"/fabrikam/20") || !strings.Contains(s.Outputs[1], "-Q") {
		t.Fatalf("the quarterly job wrote %v, not a campaign in the quarter's folder", s.Outputs)
	}
	code, stdout, stderr = cli(t, env, "--log-level", "warn", "run", "--schedules", dir, "status")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var sum struct {
		Status string
		Review *struct {
			ScopesComplete int   `json:"scopes_complete"`
			ScopesTotal    int   `json:"scopes_total"`
			RowsDecided    int64 `json:"rows_decided"`
			RowsToDecide   int64 `json:"rows_to_decide"`
		}
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || code != 0 || sum.Status != "ok" || sum.Review == nil {
		t.Fatalf("run status: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	if sum.Review.ScopesTotal < 3 || sum.Review.ScopesComplete != 0 || sum.Review.RowsToDecide == 0 || sum.Review.RowsDecided != 0 {
		t.Fatalf("review completion %+v", *sum.Review)
	}
}

// Bad input exits 2 and says why.
func TestCampaignBadInput(t *testing.T) {
	_, env := simEnv(t, adosim.Options{Preset: "small"})
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	tmp := t.TempDir()
	reviewers := filepath.Join(tmp, "reviewers.csv")
	os.WriteFile(reviewers, []byte("scope,reviewer\nNo Such Project,alice@fabrikam.example\n"), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"review", "status", tmp}, "no campaign.json"},
		{[]string{"review", "status", filepath.Join(tmp, "missing")}, "not a campaign folder"},
		{[]string{"review", "status"}, "review status DIR"},
		{[]string{"export", "packet", "--split-by", "project", "--format", "csv", "--to", filepath.Join(tmp, "c1")}, "keep xlsx"},
		{[]string{"export", "packet", "--reviewers", reviewers, "--to", filepath.Join(tmp, "c2")}, "--reviewers"},
		{[]string{"export", "packet", "--split-by", "team"}, "want project"},
		{[]string{"export", "packet", "--split-by", "project", "--reviewers", reviewers, "--to", filepath.Join(tmp, "c3")}, "No Such Project"},
		{[]string{"apply", "--decisions", tmp + "/"}, "is a folder"},
	} {
		code, _, errs := cli(t, env, tt.args...)
		if code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d, want 2 saying %q: %s", tt.args, code, tt.want, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "c3", review.CampaignName)); err == nil {
		t.Error("a campaign with a bad reviewers file was written")
	}
}

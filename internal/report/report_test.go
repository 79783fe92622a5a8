package report

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// sample is a report with every section, names that try to break out of
// the page, and a table longer than the page embeds.
func sample() *Data {
	t0 := time.Date(2026, 9, 1, 6, 0, 0, 0, time.UTC)
	d := &Data{
		Title: "Access review: fabrikam", Subtitle: "Review packet of run 12", Kind: "packet",
		Org: "https://dev.azure.com/fabrikam", Run: 12, SnapshotTime: t0.AddDate(0, 0, 77), CreatedAt: t0.AddDate(0, 0, 77),
		PacketID: "5b1c1c7e-0000-4000-8000-000000000001", ToolVersion: "v1.2.3", Baseline: "run 11",
		Figures: []Figure{
			{Label: "accounts", Value: 5210}, {Label: "with privileged access", Value: 48},
			{Label: "dormant", Value: 312, Note: "no sign-in for 90 days"}, {Label: "high-severity findings", Value: 7, Alert: true},
			{Label: "access gained", Value: 1234}, {Label: "access lost", Value: 98},
		},
		AccessLevels:        []Count{{"Basic", 3100}, {"Stakeholder", 1500}, {"Visual Studio Enterprise subscription", 410}, {"none", 200}},
		PrivilegedByProject: []Count{{"(organization)", 9}, {"Phoenix", 14}, {"<script>alert(1)</script>", 3}, {"Apollo", 22}},
		FindingsBySeverity:  []Count{{"high", 7}, {"medium", 31}, {"low", 4}},
		Changes:             []Count{{"added", 40}, {"removed", 12}, {"access_gained", 1234}, {"access_lost", 98}},
		Gained:              1234, Lost: 98,
		Completion: []ScopeCompletion{
			{Scope: "(organization)", Reviewers: []string{"ciso@fabrikam.com"}, Rows: 120, DecidedByHand: 120, Verifies: true, Revokes: 3},
			{Scope: "Phoenix", Reviewers: []string{"ann@fabrikam.com", "bob@fabrikam.com"}, Rows: 900, DecidedByHand: 20, KeptInBulk: 400, Verifies: true, Revokes: 2},
			{Scope: "Apollo", Reviewers: []string{"eve@fabrikam.com"}, Rows: 300, Verifies: false},
		},
	}
	for i := range 14 {
		d.Trend = append(d.Trend, TrendPoint{Run: int64(i + 1), Time: t0.AddDate(0, 0, 7*i), Accounts: 5000 + int64(i*15), Licensed: 4800 + int64(i*10), Gained: int64(20 + i*3%17), Lost: int64(5 + i*7%11)})
	}
	priv := Table{ID: "privileged", Title: "Privileged access", File: "privileged_access.csv",
		Columns: []string{"project", "role", "member", "principal name", "access level", "last access", "dormant", "how"}}
	for i := range MaxTableRows + 50 {
		priv.Rows = append(priv.Rows, []string{"Phoenix", "Project Administrators", fmt.Sprintf("User %04d", i), fmt.Sprintf("user%04d@fabrikam.com", i), "Basic", "2026-11-01", "no", "direct"})
	}
	priv.Rows[0][2] = `Mallory "><img src=x onerror=alert(1)>`
	d.Tables = []Table{priv,
		{ID: "findings", Title: "Findings", Columns: []string{"severity", "finding", "subject", "group", "detail"},
			Rows: [][]string{{"high", "guest_in_privileged_group", "guest@outside.com", "[Phoenix]\\Project Administrators", "a guest account is in it"}}},
		{ID: "changes", Title: "Changes since the baseline", Columns: []string{"kind", "entity", "name", "details"}},
	}
	d.Evidence = &Evidence{
		ByStatus: []Count{{"done", 5}, {"skipped", 1}, {"failed", 1}}, ByAction: []Count{{"revoke", 6}, {"grant", 1}},
		Approvers: []Count{{"ann@fabrikam.com", 7}}, Verified: 5,
		Actions: Table{ID: "actions", Title: "Actions", Columns: []string{"action", "subject", "target", "status", "approver"},
			Rows: [][]string{{"revoke", "User 0007", "[Phoenix]\\Project Administrators", "done", "ann@fabrikam.com"}}},
	}
	return d
}

func render(t *testing.T, d *Data) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, d); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRenderEscapesAndBounds(t *testing.T) {
	out := render(t, sample())
	for _, bad := range []string{"<script>alert(1)</script>", "<img src=x", `"><img`} {
		if strings.Contains(out, bad) {
			t.Errorf("page holds unescaped %q", bad)
		}
	}
	if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the project name with markup is not shown escaped")
	}
	if n := strings.Count(out, "<tr><td>Phoenix</td><td>Project Administrators</td>"); n != MaxTableRows {
		t.Errorf("privileged table embeds %d rows, want %d", n, MaxTableRows)
	}
	if !strings.Contains(out, "shows the first 2,000 of 2,050 rows; privileged_access.csv in the packet holds them all") {
		t.Error("the cut table does not say so")
	}
	for _, want := range []string{"chart-levels", "chart-privileged", "chart-severity", "chart-gainloss", "chart-trend", "Review completion", "1 of 3 scopes complete", "Evidence: decisions applied", "Visual Studio Enterprise subscr…"} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// TestRenderFetchesNothing: no attribute of the page names anything to
// load, and the page's policy forbids loading anything but inline code.
func TestRenderFetchesNothing(t *testing.T) {
	out := render(t, sample())
	if m := regexp.MustCompile(`(?i)<[^>]*\s(src|href|srcset|action|xlink:href)\s*=`).FindString(out); m != "" {
		t.Errorf("page has a %q attribute", m)
	}
	if m := regexp.MustCompile(`(?i)url\(|@import`).FindString(out); m != "" {
		t.Errorf("page's CSS loads with %q", m)
	}
	if !strings.Contains(out, `default-src 'none'`) {
		t.Error("page has no content security policy forbidding requests")
	}
}

func TestRenderEmpty(t *testing.T) {
	out := render(t, &Data{Title: "empty"})
	for _, absent := range []string{`id="charts"`, `id="evidence"`, `id="completion"`, `id="figures"`} {
		if strings.Contains(out, absent) {
			t.Errorf("an empty report draws %s", absent)
		}
	}
}

func TestBarChartCapsBars(t *testing.T) {
	var cs []Count
	for i := range 30 {
		cs = append(cs, Count{fmt.Sprintf("p%d", i), int64(100 - i)})
	}
	c := newBarChart("x", "x", "", cs, plain)
	if len(c.Bars) != MaxBars {
		t.Fatalf("%d bars, want %d", len(c.Bars), MaxBars)
	}
	last := c.Bars[MaxBars-1]
	var want int64
	for i := MaxBars - 1; i < 30; i++ {
		want += int64(100 - i)
	}
	if last.Full != "11 others together" || last.N != want || last.W != 0 {
		t.Errorf("last bar %q %d %.1f wide, want 11 others together %d, not drawn", last.Full, last.N, last.W, want)
	}
	if c.Total != 100*30-29*30/2 {
		t.Errorf("total %d", c.Total)
	}
	if c.Bars[0].W != barSpan {
		t.Errorf("the largest bar drawn is %.1f wide, want %d", c.Bars[0].W, barSpan)
	}
}

func TestFormatInt(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567", 50000: "50,000"} {
		if got := formatInt(n); got != want {
			t.Errorf("formatInt(%d) = %q, want %q", n, got, want)
		}
	}
}

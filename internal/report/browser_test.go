package report

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ado-access/ado-access/internal/chromium"
)

// TestReportInBrowser opens the sample report in headless Chromium: the
// page shows what it should, its script ran without error, and the
// browser fetched nothing from any host. REPORT_SCREENSHOT=FILE keeps the
// screenshot (docs/report.png is made so).
func TestReportInBrowser(t *testing.T) {
	b := chromium.Need(t)
	var buf bytes.Buffer
	if err := Render(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	file := chromium.WriteTemp(t, "report.html", buf.Bytes())
	shot := filepath.Join(t.TempDir(), "report.png")
	if s := os.Getenv("REPORT_SCREENSHOT"); s != "" {
		shot, _ = filepath.Abs(s)
	}
	p := b.Open(t, file, shot, 1366, 2400)
	if len(p.Requests) > 0 {
		t.Errorf("the page made requests: %v", p.Requests)
	}
	if !regexp.MustCompile(`<html[^>]*data-report-ready="\d+"`).MatchString(p.DOM) {
		t.Errorf("the page's script did not finish (no data-report-ready); DOM starts %.300q", p.DOM)
	}
	if regexp.MustCompile(`<html[^>]*data-script-errors=`).MatchString(p.DOM) || !strings.Contains(p.DOM, `<div id="script-errors" hidden=""></div>`) {
		t.Errorf("the page reports a script error or blocked request: %s", between(p.DOM, `id="script-errors"`, "</div>"))
	}
	for _, want := range []string{
		"Access review: fabrikam", ">5,210<", "Accounts by access level", "Privileged accounts per project",
		"Findings by severity", "Access gained and lost since the baseline", "Trend over the store's runs",
		"Review completion", "Evidence: decisions applied", "shows the first 2,000 of 2,050 rows",
		`title="Sort by project"`, // the script made the headers sortable
		"&lt;script&gt;alert(1)&lt;/script&gt;",
	} {
		if !strings.Contains(p.DOM, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
	if strings.Contains(p.DOM, "<img") {
		t.Error("a name in the data became an element of the page")
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Errorf("screenshot %s: %v (a blank page is a few KB)", shot, err)
	}
}

// TestBrowserSeesRequests: the recording proxy does catch a page that
// fetches from another host, and a script error shows in the DOM, so the
// test above can fail.
func TestBrowserSeesRequests(t *testing.T) {
	b := chromium.Need(t)
	page := `<!DOCTYPE html><html><body><img src="http://cdn.example.invalid/x.png"><img src="http://127.0.0.1:8123/y.png"><script>window.onerror=function(){document.body.setAttribute("data-err","1")};nosuch();</script></body></html>`
	p := b.Open(t, chromium.WriteTemp(t, "fetch.html", []byte(page)), "", 0, 0)
	if !slicesContain(p.Requests, "cdn.example.invalid") || !slicesContain(p.Requests, "127.0.0.1:8123") {
		t.Errorf("the proxy did not record the page's request; recorded %v", p.Requests)
	}
	if !strings.Contains(p.DOM, `data-err="1"`) {
		t.Errorf("the script error did not show in the DOM: %.500q", p.DOM)
	}

	// A report made to load an image: its policy blocks the request and
	// the page says so.
	var buf bytes.Buffer
	if err := Render(&buf, &Data{Title: "x"}); err != nil {
		t.Fatal(err)
	}
	html := strings.Replace(buf.String(), "<main>", `<main><img src="https://cdn.example.invalid/logo.png">`, 1)
	p = b.Open(t, chromium.WriteTemp(t, "report.html", []byte(html)), "", 0, 0)
	if !regexp.MustCompile(`<html[^>]*data-script-errors="1"`).MatchString(p.DOM) || !strings.Contains(p.DOM, "Blocked request: https://cdn.example.invalid/logo.png") {
		t.Errorf("the report did not show the request its policy blocked: %s", between(p.DOM, `id="script-errors"`, "</div>"))
	}
}

func slicesContain(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s, to); j >= 0 {
		return s[:j]
	}
	return s
}

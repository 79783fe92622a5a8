// Package chromium opens pages in headless Chromium for tests, as a person
// would see them: the page's DOM after its scripts ran, a screenshot, and
// every request the browser made. Chromium comes from Debian's packages
// (scripts/chromium.sh installs it).
//
// Every request goes through a recording proxy on the loopback: Chromium
// runs with --proxy-server pointing at it and --proxy-bypass-list=<-loopback>
// (so not even loopback hosts are exempt), with what can be of its own
// background traffic turned off. A page that fetches anything from any
// host shows up in Page.Requests. Chromium 156 still checks the time and
// its components and lists accounts at start whatever the flags: requests
// to those few service hosts of its own (browserHosts) are kept apart in
// Page.Background. (A report forbids every request by its own policy, and
// says so in its DOM, so that a page asking one of those hosts is caught
// too.)
//
// The browser is found through CHROMIUM_BIN, else Debian's
// /usr/lib/chromium/chromium, else chromium or chromium-browser on PATH. Without it the tests that need it skip, unless
// CHROMIUM_REQUIRED=1 (as .ci/run sets it): then they fail, so that CI
// never passes without having run them.
package chromium

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// debianBin is the browser itself, behind Debian's launcher script
// (/usr/bin/chromium), which adds Google API keys and remote extensions:
// with them the browser signs in and updates components over the network.
const debianBin = "/usr/lib/chromium/chromium"

// Bin is the browser, or "" if none is installed.
func Bin() string {
	if b := os.Getenv("CHROMIUM_BIN"); b != "" {
		return b
	}
	if _, err := os.Stat(debianBin); err == nil {
		return debianBin
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser runs headless Chromium.
type Browser struct {
	bin     string
	Timeout time.Duration // per run of the browser; 0: 90 s
}

// Need returns a Browser, or skips the test when Chromium is not installed
// (fails it under CHROMIUM_REQUIRED=1).
func Need(t testing.TB) *Browser {
	t.Helper()
	b := Bin()
	if b == "" {
		msg := "Chromium is not installed: run scripts/chromium.sh install (or set CHROMIUM_BIN)"
		if os.Getenv("CHROMIUM_REQUIRED") == "1" {
			t.Fatalf("CHROMIUM_REQUIRED=1: %s", msg)
		}
		t.Skipf("skipping the browser test: %s", msg)
	}
	return &Browser{bin: b}
}

// Page is what the browser made of a page.
type Page struct {
	DOM        string        // the DOM after the page's scripts ran (--dump-dom)
	Elapsed    time.Duration // wall time of the run that dumped the DOM, browser start included
	Requests   []string      // every request the browser sent, of either run, but for
	Background []string      // the browser's own requests to browserHosts
	Log        string        // the browser's stderr
}

// Open loads the file (an absolute path) twice: once to dump its DOM, once
// to take a screenshot of width×height pixels into shot (skipped when shot
// is "").
func (b *Browser) Open(t testing.TB, file, shot string, width, height int) Page {
	t.Helper()
	rec, stop := record(t)
	defer stop()
	url := "file://" + file
	var p Page
	start := time.Now()
	out, log := b.run(t, rec, "--dump-dom", url)
	p.Elapsed = time.Since(start)
	p.DOM, p.Log = out, log
	if shot != "" {
		_, log := b.run(t, rec, fmt.Sprintf("--window-size=%d,%d", width, height), "--hide-scrollbars", "--screenshot="+shot, url)
		p.Log += log
		if _, err := os.Stat(shot); err != nil {
			t.Fatalf("chromium wrote no screenshot: %v\n%s", err, log)
		}
	}
	p.Requests, p.Background = rec.list()
	return p
}

// PrintPDF prints the file to a PDF, as a person printing the page would,
// and returns the requests made (but the browser's own).
func (b *Browser) PrintPDF(t testing.TB, file, pdf string) []string {
	t.Helper()
	rec, stop := record(t)
	defer stop()
	_, log := b.run(t, rec, "--no-pdf-header-footer", "--print-to-pdf="+pdf, "file://"+file)
	if _, err := os.Stat(pdf); err != nil {
		t.Fatalf("chromium printed no PDF: %v\n%s", err, log)
	}
	reqs, _ := rec.list()
	return reqs
}

// run runs the browser once, in a process group of its own that is killed
// at the end (Chromium leaves helper processes behind otherwise).
func (b *Browser) run(t testing.TB, rec *recorder, args ...string) (stdout, stderr string) {
	t.Helper()
	timeout := b.Timeout
	if timeout == 0 {
		timeout = 90 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	profile := t.TempDir()
	base := []string{
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--user-data-dir=" + profile, "--no-first-run", "--no-default-browser-check",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--disable-domain-reliability",
		"--disable-client-side-phishing-detection", "--disable-breakpad", "--metrics-recording-only",
		"--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
		"--proxy-server=http://" + rec.addr, "--proxy-bypass-list=<-loopback>",
		"--run-all-compositor-stages-before-draw", "--virtual-time-budget=10000",
	}
	cmd := exec.CommandContext(ctx, b.bin, append(base, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Env = append(os.Environ(), "HOME="+profile)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // helpers left behind
	}
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, tail(errb.String()))
	}
	return out.String(), errb.String()
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// recorder is an HTTP proxy on the loopback that answers every request
// (CONNECT included) with 403 and remembers what was asked.
type recorder struct {
	addr      string
	mu        sync.Mutex
	reqs, own []string
}

// browserHosts are the services Chromium calls on its own at start, with
// no page asking: network time, the component updater, account listing.
var browserHosts = map[string]bool{"clients2.google.com": true, "update.googleapis.com": true, "accounts.google.com": true}

func record(t testing.TB) (*recorder, func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{addr: l.Addr().String()}
	srv := &http.Server{Handler: rec, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	return rec, func() { srv.Close() }
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	u, host := req.URL.String(), req.URL.Hostname()
	if req.Method == http.MethodConnect {
		u = "https://" + req.Host
		host, _, _ = net.SplitHostPort(req.Host)
	}
	r.mu.Lock()
	if browserHosts[host] {
		r.own = append(r.own, req.Method+" "+u)
	} else {
		r.reqs = append(r.reqs, req.Method+" "+u)
	}
	r.mu.Unlock()
	http.Error(w, "the test forbids requests", http.StatusForbidden)
}

func (r *recorder) list() (page, own []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...), append([]string(nil), r.own...)
}

// WriteTemp writes a page into a temporary folder of the test and returns
// its absolute path.
func WriteTemp(t testing.TB, name string, body []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/ado-access/ado-access/internal/chromium"
	"github.com/ado-access/ado-access/internal/export"
)

// BenchmarkReportLarge measures report.html of the large organization's
// packet (the store of BenchmarkExportLarge; EXPORT_BENCH_DB reuses one):
// its bytes, and how long headless Chromium takes to show it: the wall
// time of a run that loads it and dumps its DOM (browser start included,
// beside the same for an empty page), and the page's own time from
// navigation to its script done (data-report-ready).
func BenchmarkReportLarge(b *testing.B) {
	br := chromium.Need(b)
	bin := exporterBinary(b)
	db := os.Getenv("EXPORT_BENCH_DB")
	if db == "" {
		db = filepath.Join(b.TempDir(), "large.db")
	}
	if _, err := os.Stat(db); err != nil {
		buildLargeStore(b, bin, db)
	}
	env := []string{"EXPORTER_DB=" + db, "EXPORTER_LOG_LEVEL=warn"}
	ready := regexp.MustCompile(`<html[^>]*data-report-ready="(\d+)"`)
	for i := 0; i < b.N; i++ {
		packet := filepath.Join(b.TempDir(), "packet")
		runExporter(b, bin, env, "export", "packet", "--format", "csv", "--to", packet)
		page := filepath.Join(packet, export.ReportName)
		st, err := os.Stat(page)
		if err != nil {
			b.Fatal(err)
		}
		benchLine("report.large.bytes", float64(st.Size())/1024, "KiB")

		empty := br.Open(b, chromium.WriteTemp(b, "empty.html", []byte("<!DOCTYPE html><title>x</title>")), "", 0, 0)
		p := br.Open(b, page, "", 0, 0)
		if len(p.Requests) > 0 {
			b.Errorf("report.html made requests: %v", p.Requests)
		}
		m := ready.FindStringSubmatch(p.DOM)
		if m == nil {
			b.Fatalf("report.html did not finish its script")
		}
		ms, _ := strconv.Atoi(m[1])
		benchLine("report.large.browser_wall", p.Elapsed.Seconds(), "s")
		benchLine("report.large.browser_wall_empty_page", empty.Elapsed.Seconds(), "s")
		benchLine("report.large.page_ready", float64(ms)/1000, "s")
	}
}

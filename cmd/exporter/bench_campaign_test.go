package main

import (
	"encoding/json"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/review"
)

// BenchmarkCampaign exports a review campaign split by project (large: 1,000
// projects, so 1,001 scopes) against the single packet of the same run,
// each exporter in its own process so its peak RSS is its own; then the
// largest and the median workbook, 'review status' of the whole campaign
// and 'apply --decisions DIR/' planning it (every workbook verified and
// read). CAMPAIGN_BENCH_PRESET picks a smaller organization (small,
// medium) to try it quickly.
func BenchmarkCampaign(b *testing.B) {
	preset := os.Getenv("CAMPAIGN_BENCH_PRESET")
	if preset == "" {
		preset = "large"
	}
	bin := exporterBinary(b)
	sim, err := adosim.New(adosim.Options{Preset: preset})
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	db := filepath.Join(b.TempDir(), preset+".db")
	env := []string{"ADO_ORG_URL=" + sim.URL(), "ADO_PAT=" + sim.Credential("readwrite"), "EXPORTER_DB=" + db, "EXPORTER_LOG_LEVEL=warn"}
	runExporter(b, bin, env, "sync")
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		single := runExporter(b, bin, env, "export", "packet", "--to", filepath.Join(dir, "packet"))
		m := readManifest(b, filepath.Join(dir, "packet", export.ManifestName))
		_, singleBytes := manifestTotals(m)
		benchLine("campaign."+preset+".single_packet.wall", single.wall.Seconds(), "s")
		benchLine("campaign."+preset+".single_packet.peak_rss", single.peakRSS, "MiB")
		benchLine("campaign."+preset+".single_packet.bytes", float64(singleBytes)/(1<<20), "MiB")

		cdir := filepath.Join(dir, "campaign")
		c := runExporter(b, bin, env, "export", "packet", "--split-by", "project", "--to", cdir)
		benchLine("campaign."+preset+".export.wall", c.wall.Seconds(), "s")
		benchLine("campaign."+preset+".export.peak_rss", c.peakRSS, "MiB")
		raw, err := os.ReadFile(filepath.Join(cdir, review.CampaignName))
		if err != nil {
			b.Fatal(err)
		}
		var camp review.Campaign
		if err := json.Unmarshal(raw, &camp); err != nil {
			b.Fatal(err)
		}
		benchLine("campaign."+preset+".scopes", float64(len(camp.Scopes)), "scopes")
		var sizes []int64
		var total int64
		var largest export.File
		secondSheets := 0
		for _, s := range camp.Scopes {
			sm := readManifest(b, filepath.Join(cdir, s.Dir, export.ManifestName))
			for _, f := range sm.Files {
				total += f.Bytes
				if f.Format != export.FormatXLSX {
					continue
				}
				sizes = append(sizes, f.Bytes)
				if f.Bytes > largest.Bytes {
					largest = f
				}
				for sh := range f.Sheets {
					if strings.HasSuffix(sh, " (2)") {
						secondSheets++
					}
				}
			}
		}
		slices.Sort(sizes)
		median := sizes[len(sizes)/2]
		benchLine("campaign."+preset+".bytes", float64(total)/(1<<20), "MiB")
		benchLine("campaign."+preset+".largest_workbook.rows", float64(largest.Rows), "rows")
		benchLine("campaign."+preset+".largest_workbook.bytes", float64(largest.Bytes)/(1<<20), "MiB")
		benchLine("campaign."+preset+".median_workbook.bytes", float64(median)/(1<<20), "MiB")
		benchLine("campaign."+preset+".workbooks_with_a_second_sheet", float64(secondSheets), "workbooks")
		if median > 5<<20 {
			b.Errorf("the median workbook is %.1f MiB, over the 5 MiB target", float64(median)/(1<<20))
		}

		st := runExporterExit(b, bin, env, 1, "review", "status", cdir, "--format", "json")
		benchLine("campaign."+preset+".review_status.wall", st.wall.Seconds(), "s")
		benchLine("campaign."+preset+".review_status.peak_rss", st.peakRSS, "MiB")
		ap := runExporter(b, bin, env, "apply", "--decisions", cdir+"/")
		benchLine("campaign."+preset+".apply_plan.wall", ap.wall.Seconds(), "s")
		benchLine("campaign."+preset+".apply_plan.peak_rss", ap.peakRSS, "MiB")
	}
}

// runExporterExit runs the exporter and expects the exit code want.
func runExporterExit(b *testing.B, bin string, env []string, want int, args ...string) processRun {
	b.Helper()
	cmd := osexec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	wall := time.Since(start)
	code := 0
	var ee *osexec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		b.Fatal(err)
	}
	if code != want {
		b.Fatalf("exporter %v: exit %d, want %d\n%s", args, code, want, out)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return processRun{wall: wall, peakRSS: float64(ru.Maxrss) / 1024}
}

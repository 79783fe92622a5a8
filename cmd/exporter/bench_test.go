package main

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// benchLine prints a figure in the form 'make bench' collects.
func benchLine(name string, value float64, unit string) {
	if value == float64(int64(value)) {
		fmt.Printf("bench: %s %d %s\n", name, int64(value), unit)
		return
	}
	fmt.Printf("bench: %s %.3f %s\n", name, value, unit)
}

// processRun is one run of the exporter binary, measured from outside.
type processRun struct {
	wall    time.Duration
	peakRSS float64 // MiB, the process's own high-water mark (getrusage)
}

func runExporter(b *testing.B, bin string, env []string, args ...string) processRun {
	b.Helper()
	cmd := osexec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("exporter %v: %v\n%s", args, err, out)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return processRun{wall: wall, peakRSS: float64(ru.Maxrss) / 1024} // Linux reports KiB
}

// BenchmarkSyncLarge syncs the large organization (50k users, 10k groups,
// 1,000 projects, ~600k direct memberships) with 20 ms of latency on every
// request, twice: the second sync finds nothing changed. The exporter runs
// as its own process so that its peak RSS is its own, not the simulator's.
func BenchmarkSyncLarge(b *testing.B) {
	bin := exporterBinary(b)
	sim, err := adosim.New(adosim.Options{Preset: "large", Faults: adosim.Faults{Latency: adosim.Duration(20 * time.Millisecond)}})
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	db := filepath.Join(b.TempDir(), "large.db")
	env := []string{"ADO_ORG_URL=" + sim.URL(), "ADO_PAT=" + sim.Credential("readonly"), "EXPORTER_DB=" + db, "EXPORTER_LOG_LEVEL=warn"}
	for i := 0; i < b.N; i++ {
		first := runExporter(b, bin, env, "sync")
		second := runExporter(b, bin, env, "sync")

		st, err := snapshot.OpenExisting(context.Background(), db)
		if err != nil {
			b.Fatal(err)
		}
		runs, _ := st.Runs(context.Background(), "")
		st.Close()
		r1, r2 := runs[len(runs)-2], runs[len(runs)-1]
		benchLine("sync.full.large.requests", float64(r1.APIRequests), "req")
		benchLine("sync.full.large.wall", first.wall.Seconds(), "s")
		benchLine("sync.full.large.rows", float64(r1.RowsSeen), "rows")
		benchLine("sync.full.large.rows_per_second", float64(r1.RowsSeen)/first.wall.Seconds(), "rows/s")
		benchLine("sync.full.large.peak_rss", first.peakRSS, "MiB")
		benchLine("sync.full.large.versions_written", float64(r1.VersionsWritten), "versions")
		benchLine("sync.full.large.unchanged.requests", float64(r2.APIRequests), "req")
		benchLine("sync.full.large.unchanged.wall", second.wall.Seconds(), "s")
		benchLine("sync.full.large.unchanged.peak_rss", second.peakRSS, "MiB")
		benchLine("sync.full.large.unchanged.versions_written", float64(r2.VersionsWritten), "versions")
		if r2.VersionsWritten != 0 {
			b.Errorf("an unchanged second sync wrote %d versions", r2.VersionsWritten)
		}
		if first.peakRSS > 512 || second.peakRSS > 512 {
			b.Errorf("peak RSS %.0f / %.0f MiB, over the 512 MiB budget", first.peakRSS, second.peakRSS)
		}
		if i+1 < b.N {
			os.Remove(db)
		}
	}
}

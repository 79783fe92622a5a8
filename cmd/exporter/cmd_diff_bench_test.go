package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/diff"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// BenchmarkDiffLarge builds a store of the large organization (50k users,
// 10k groups, ~600k direct memberships): a full sync, ~1% of it changed
// (6,000 audited changes, mostly memberships), a second sync. Then it
// measures, each in its own process (see runMeasured):
//
//   - exporter diff: the direct diff of the two runs;
//   - exporter diff --effective --kind effective: the effective-access diff;
//   - the effective-access closure of one run (diff.Effective), run by this
//     test binary as a child (see TestEffectiveClosureProcess), until an
//     exporter command prints it.
//
// Building the store takes about a minute of syncing.
func BenchmarkDiffLarge(b *testing.B) {
	bin := exporterBinary(b)
	sim, err := adosim.New(adosim.Options{Preset: "large"})
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	db := filepath.Join(b.TempDir(), "large.db")
	env := []string{"ADO_ORG_URL=" + sim.URL(), "ADO_PAT=" + sim.Credential("readonly"), "EXPORTER_DB=" + db, "EXPORTER_LOG_LEVEL=warn"}
	start := time.Now()
	runExporter(b, bin, env, "sync", "--mode", "full")
	const changes = 6000
	if _, err := sim.Mutate(adosim.MutateRequest{Count: changes, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	runExporter(b, bin, env, "sync", "--mode", "full")
	b.Logf("built the store in %s", time.Since(start).Round(time.Second))
	latestRun, prevRun := latestRuns(b, db)
	latest, prev := latestRun.ID, prevRun.ID
	count := func(opts diff.Options) int {
		st, err := snapshot.OpenExisting(context.Background(), db)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		n := 0
		if err := diff.Between(context.Background(), st, prev, latest, opts, func(diff.Change) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		return n
	}
	for i := 0; i < b.N; i++ {
		direct := runMeasured(b, bin, env, "diff", "--format", "json")
		benchLine("diff.direct.large.mutations", changes, "changes")
		benchLine("diff.direct.large.versions", float64(latestRun.VersionsWritten), "versions")
		benchLine("diff.direct.large.changes", float64(count(diff.Options{})), "changes")
		benchLine("diff.direct.large.wall", direct.wall.Seconds(), "s")
		benchLine("diff.direct.large.peak_rss", direct.peakRSS, "MiB")
		if direct.wall > time.Second {
			b.Errorf("direct diff took %s, target 1 s", direct.wall)
		}

		eff := runMeasured(b, bin, env, "diff", "--effective", "--kind", "effective", "--format", "json")
		benchLine("diff.effective.large.changes", float64(count(diff.Options{Effective: true, Entities: []string{diff.EntEffectiveAccess}})), "changes")
		benchLine("diff.effective.large.wall", eff.wall.Seconds(), "s")
		benchLine("diff.effective.large.peak_rss", eff.peakRSS, "MiB")

		out := filepath.Join(b.TempDir(), "grants")
		child := append(env, "EXPORTER_BENCH_CLOSURE="+db, "EXPORTER_BENCH_CLOSURE_RUN="+strconv.FormatInt(latest, 10),
			"EXPORTER_BENCH_CLOSURE_OUT="+out, "GOMEMLIMIT=384MiB")
		closure := runMeasured(b, os.Args[0], child, "-test.run", "^TestEffectiveClosureProcess$")
		grants, err := os.ReadFile(out)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := strconv.Atoi(string(grants))
		benchLine("diff.closure.large.grants", float64(n), "grants")
		benchLine("diff.closure.large.wall", closure.wall.Seconds(), "s")
		benchLine("diff.closure.large.peak_rss", closure.peakRSS, "MiB")
		if closure.wall > 15*time.Second || closure.peakRSS > 1024 {
			b.Errorf("effective closure took %s and %.0f MiB, targets 15 s and 1 GiB", closure.wall, closure.peakRSS)
		}
	}
}

// latestRuns are the latest complete run and the one before.
func latestRuns(b *testing.B, db string) (latest, prev snapshot.Run) {
	b.Helper()
	ctx := context.Background()
	st, err := snapshot.OpenExisting(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	r, err := st.LatestRun(ctx)
	if err != nil {
		b.Fatal(err)
	}
	p, err := runBefore(ctx, st, r)
	if err != nil {
		b.Fatal(err)
	}
	return r, p
}

// TestEffectiveClosureProcess computes the effective-access closure of one
// run when BenchmarkDiffLarge starts it as a child process, and writes how
// many grants it found.
func TestEffectiveClosureProcess(t *testing.T) {
	db := os.Getenv("EXPORTER_BENCH_CLOSURE")
	if db == "" {
		t.Skip("run by BenchmarkDiffLarge")
	}
	run, err := strconv.ParseInt(os.Getenv("EXPORTER_BENCH_CLOSURE_RUN"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	st, err := snapshot.OpenExisting(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	if err := diff.Effective(context.Background(), st, run, func(diff.Grant) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv("EXPORTER_BENCH_CLOSURE_OUT"), []byte(strconv.Itoa(n)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runMeasured runs bin through this test binary as a launcher
// (TestBenchLauncher), which starts it and reports its wall time and peak
// RSS. The launcher is there because Go starts processes with vfork: until
// it execs, the child shares its parent's memory, and Linux carries that
// memory's high-water mark into the child's ru_maxrss. Started straight
// from this process, which holds the large simulator, every child would
// report at least the simulator's RSS; started from the small launcher, at
// most the launcher's (~20 MiB).
func runMeasured(b *testing.B, bin string, env []string, args ...string) processRun {
	b.Helper()
	spec, _ := json.Marshal(append([]string{bin}, args...))
	out := filepath.Join(b.TempDir(), "measured")
	launch := append(slices.Clip(env), "EXPORTER_BENCH_LAUNCH="+string(spec), "EXPORTER_BENCH_LAUNCH_OUT="+out)
	runExporter(b, os.Args[0], launch, "-test.run", "^TestBenchLauncher$")
	got, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	var wall, cpu time.Duration
	var rssKiB int64
	if _, err := fmt.Sscan(string(got), &wall, &rssKiB, &cpu); err != nil {
		b.Fatalf("launcher wrote %q: %v", got, err)
	}
	return processRun{wall: wall, peakRSS: float64(rssKiB) / 1024, cpu: cpu}
}

// TestBenchLauncher runs the command in EXPORTER_BENCH_LAUNCH (a JSON
// array) for runMeasured and writes its wall time (ns), peak RSS (KiB) and
// CPU time (ns, user and system).
func TestBenchLauncher(t *testing.T) {
	spec := os.Getenv("EXPORTER_BENCH_LAUNCH")
	if spec == "" {
		t.Skip("run by runMeasured")
	}
	var argv []string
	if err := json.Unmarshal([]byte(spec), &argv); err != nil {
		t.Fatal(err)
	}
	cmd := osexec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr // stdout (the diff) is discarded
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	wall := time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if err := os.WriteFile(os.Getenv("EXPORTER_BENCH_LAUNCH_OUT"), []byte(fmt.Sprintf("%d %d %d", wall.Nanoseconds(), ru.Maxrss, cpuTime(ru).Nanoseconds())), 0o644); err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/duckdb"
	"github.com/ado-access/ado-access/internal/export"
)

// A warehouse export killed with SIGKILL at random points, replacing the
// partition of one run with another's, never leaves a reader two runs:
// each time, the manifest names one complete run (it verifies), and DuckDB,
// reading the partition as a Hive dataset, finds that run's rows exactly
// once (anything else there is another run's leftovers, told apart by
// run_id). An export run to the end removes the leftovers: one run per
// partition, row counts equal to the manifest.
func TestWarehouseExportKilledReadsOneRun(t *testing.T) {
	t.Parallel()
	db := duckdb.Need(t)
	bin := exporterBinary(t)
	sim, env := simEnv(t, adosim.Options{Preset: "small"})
	for i := range 2 {
		if code, _, errs := cli(t, env, "sync"); code != 0 {
			t.Fatalf("sync: %s", errs)
		}
		if i == 0 {
			if _, err := sim.Mutate(adosim.MutateRequest{Count: 40, Seed: 4}); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := t.TempDir()
	const date = "2026-11-05"
	exportCmd := func(run int) *osexec.Cmd {
		cmd := osexec.Command(bin, "export", "warehouse", "--to", dir, "--date", date, "--run", fmt.Sprint(run))
		cmd.Env = append(os.Environ(), "EXPORTER_DB="+env["EXPORTER_DB"], "EXPORTER_LOG_LEVEL=error")
		return cmd
	}
	start := time.Now()
	if out, err := exportCmd(1).CombinedOutput(); err != nil {
		t.Fatalf("export run 1: %v\n%s", err, out)
	}
	took := time.Since(start)
	mdirs, _ := filepath.Glob(filepath.Join(dir, "_manifests", "org=fabrikam", "org_id=*", "snapshot_date="+date))
	if len(mdirs) != 1 {
		t.Fatalf("manifest folders %v", mdirs)
	}
	mdir, _ := filepath.Rel(dir, mdirs[0])
	partition := strings.TrimPrefix(filepath.ToSlash(mdir), "_manifests/")

	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 15))
	t.Logf("seed %d; a whole export takes %s", seed, took.Round(time.Millisecond))
	outcomes := map[string]int{}
	run := 1
	for i := range 6 {
		run = 3 - run // replace the published run with the other one
		cmd := exportCmd(run)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(r.Int64N(int64(took))))
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		m := checkOneRun(t, db, dir, mdir, partition, false)
		switch {
		case err == nil:
			outcomes["finished before the kill"]++
		case m.Run == int64(run):
			outcomes["killed after publishing"]++
		default:
			outcomes["killed before publishing"]++
		}
		t.Logf("kill %d (run %d): manifest of run %d", i, run, m.Run)
	}
	t.Logf("outcomes: %v", outcomes)
	if out, err := exportCmd(run).CombinedOutput(); err != nil {
		t.Fatalf("export run %d to the end: %v\n%s", run, err, out)
	}
	if m := checkOneRun(t, db, dir, mdir, partition, true); m.Run != int64(run) {
		t.Fatalf("after the export ran to the end, the manifest is run %d's, want %d", m.Run, run)
	}
}

// checkOneRun reads the partition's manifest, verifies it, and reads every
// table of the partition with DuckDB: the manifest's run must be there
// exactly once with the manifest's row counts; with alone, no other run
// may be there at all.
func checkOneRun(t *testing.T, db *duckdb.DB, dir, mdir, partition string, alone bool) *export.Manifest {
	t.Helper()
	rep, err := export.Verify(context.Background(), export.NewLocalSink(dir), filepath.ToSlash(mdir))
	if err != nil || !rep.OK() {
		t.Fatalf("the partition's manifest does not verify: %+v %v", rep, err)
	}
	m := rep.Manifest
	var stmts []string
	for _, tbl := range export.WarehouseTables {
		glob := filepath.Join(dir, tbl.Name, filepath.FromSlash(partition), "*.parquet")
		stmts = append(stmts, fmt.Sprintf(`SELECT run_id, count(*) AS n, count(DISTINCT filename) AS files
			FROM read_parquet(%s, hive_partitioning = true, filename = true) GROUP BY run_id`, duckdb.Quote(glob)))
	}
	res := db.Query(t, stmts...)
	for i, tbl := range export.WarehouseTables {
		want := int64(0)
		for _, c := range m.Tables {
			if c.Name == tbl.Name {
				want = c.N
			}
		}
		var got int64
		for _, row := range res[i] {
			run := duckdb.Int(row["run_id"])
			switch {
			case run == m.Run:
				got = duckdb.Int(row["n"])
				if duckdb.Int(row["files"]) != 1 {
					t.Fatalf("%s: run %d's rows are in %v files", tbl.Name, run, row["files"])
				}
			case alone:
				t.Fatalf("%s: rows of run %d beside the manifest's run %d after a whole export", tbl.Name, run, m.Run)
			}
		}
		if got != want {
			t.Fatalf("%s: DuckDB reads %d rows of run %d, its manifest says %d", tbl.Name, got, m.Run, want)
		}
	}
	if alone && len(rep.Unlisted) > 0 {
		t.Fatalf("files left beside the export: %v", rep.Unlisted)
	}
	return m
}

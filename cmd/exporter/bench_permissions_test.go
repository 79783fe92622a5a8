package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ado-access/ado-access/internal/diff"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// BenchmarkPermissionsLarge measures permissions on the large organization
// (1,000 projects and their repositories, 20 ms added to every request):
// what reading the ACLs adds to a full sync (the same unchanged full sync
// without and with them, after a first sync has filled the store), and the
// effective permissions of every account on every project, repository
// and branch, computed from the store in a process of their own.
func BenchmarkPermissionsLarge(b *testing.B) {
	bin := exporterBinary(b)
	_, db, env := slowLargeOrg(b, "readwrite")
	for i := 0; i < b.N; i++ {
		runMeasured(b, bin, env, "sync", "--mode", "full", "--no-permissions") // fills the store
		without := runMeasured(b, bin, env, "sync", "--mode", "full", "--no-permissions")
		r1, _ := latestRuns(b, db)
		with := runMeasured(b, bin, env, "sync", "--mode", "full")
		r2, _ := latestRuns(b, db)
		benchLine("permissions.sync.large.requests", float64(r2.RequestsByArea["security"]), "req")
		benchLine("permissions.sync.large.extra_requests", float64(r2.APIRequests-r1.APIRequests), "req")
		benchLine("permissions.sync.large.extra_wall", (with.wall - without.wall).Seconds(), "s")
		benchLine("permissions.sync.large.wall_with", with.wall.Seconds(), "s")
		benchLine("permissions.sync.large.wall_without", without.wall.Seconds(), "s")
		benchLine("permissions.sync.large.peak_rss_with", with.peakRSS, "MiB")
		benchLine("permissions.sync.large.peak_rss_without", without.peakRSS, "MiB")
		benchLine("permissions.sync.large.versions_written", float64(r2.VersionsWritten), "versions")

		out := filepath.Join(b.TempDir(), "count")
		eff := runMeasured(b, os.Args[0], []string{"EXPORTER_BENCH_PERMS=" + db, "EXPORTER_BENCH_PERMS_RUN=" + strconv.FormatInt(r2.ID, 10),
			"EXPORTER_BENCH_PERMS_OUT=" + out}, "-test.run", "^TestEffectivePermissionsProcess$")
		got, err := os.ReadFile(out)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := strconv.ParseFloat(string(got), 64)
		benchLine("permissions.effective.large.rows", n, "rows")
		benchLine("permissions.effective.large.wall", eff.wall.Seconds(), "s")
		benchLine("permissions.effective.large.rows_per_second", n/eff.wall.Seconds(), "rows/s")
		benchLine("permissions.effective.large.peak_rss", eff.peakRSS, "MiB")
		if r2.RequestsByArea["security"] != int64(1+5) {
			b.Errorf("the permission sync made %d security requests, want 6 (the list and one per namespace)", r2.RequestsByArea["security"])
		}
		if i+1 < b.N {
			os.Remove(db)
		}
	}
}

// TestEffectivePermissionsProcess computes every effective permission of
// one run when BenchmarkPermissionsLarge starts it as a child process, and
// writes how many it found.
func TestEffectivePermissionsProcess(t *testing.T) {
	db := os.Getenv("EXPORTER_BENCH_PERMS")
	if db == "" {
		t.Skip("run by BenchmarkPermissionsLarge")
	}
	run, err := strconv.ParseInt(os.Getenv("EXPORTER_BENCH_PERMS_RUN"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	st, err := snapshot.OpenExisting(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	if err := diff.EffectivePermissions(context.Background(), st, run, diff.PermissionFilter{IncludeDeny: true}, func(diff.EffectivePermission) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv("EXPORTER_BENCH_PERMS_OUT"), []byte(strconv.Itoa(n)), 0o644); err != nil {
		t.Fatal(err)
	}
}

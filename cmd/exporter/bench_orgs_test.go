package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// BenchmarkManyOrgs syncs ten organizations of the medium preset (each
// ~5k users, its own seed) with 20 ms of latency on every request: once in
// one run (--org all: four side by side under one budget of 16 requests in
// flight), then as ten separate runs one after another, the way a script
// looping over --org would. The exporter runs as its own process each time.
func BenchmarkManyOrgs(b *testing.B) {
	bin := exporterBinary(b)
	const n = 10
	var more []adosim.OrgOptions
	for i, name := range adosim.MoreOrgNames(n - 1) {
		more = append(more, adosim.OrgOptions{Name: name, Preset: "medium", Seed: uint64(i + 2)})
	}
	sim, err := adosim.New(adosim.Options{Preset: "medium", MoreOrgs: more, Faults: adosim.Faults{Latency: adosim.Duration(20 * time.Millisecond)}})
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	base := []string{"ADO_PAT=" + sim.Credential("readonly"), "ADO_ACCOUNTS_URL=" + sim.AccountsURL(), "EXPORTER_LOG_LEVEL=warn"}
	requests := func(dir string) (total int64) {
		entries, err := snapshot.Folder{Dir: dir}.List(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range entries {
			st, err := snapshot.OpenExisting(context.Background(), e.Path)
			if err != nil {
				b.Fatal(err)
			}
			r, _ := st.LatestRun(context.Background())
			total += r.APIRequests
			st.Close()
		}
		if len(entries) != n {
			b.Fatalf("%d stores, want %d", len(entries), n)
		}
		return total
	}
	for i := 0; i < b.N; i++ {
		one := filepath.Join(b.TempDir(), "one") + "/"
		// The defaults but --concurrency: four organizations at once, four
		// requests each, sixteen in all.
		all := runMeasured(b, bin, append(base, "EXPORTER_DB="+one), "sync", "--org", "all", "--concurrency", "16")
		allReq := requests(one)

		sep := filepath.Join(b.TempDir(), "sep") + "/"
		var sepWall time.Duration
		var sepRSS float64
		for _, o := range sim.Orgs() {
			p := runMeasured(b, bin, append(base, "EXPORTER_DB="+sep), "sync", "--org", sim.OrgURL(o.Name), "--concurrency", "8")
			sepWall += p.wall
			sepRSS = max(sepRSS, p.peakRSS)
		}
		sepReq := requests(sep)
		benchLine("orgs.10x_medium.one_run.wall", all.wall.Seconds(), "s")
		benchLine("orgs.10x_medium.one_run.requests", float64(allReq), "req")
		benchLine("orgs.10x_medium.one_run.peak_rss", all.peakRSS, "MiB")
		benchLine("orgs.10x_medium.separate_runs.wall", sepWall.Seconds(), "s")
		benchLine("orgs.10x_medium.separate_runs.requests", float64(sepReq), "req")
		benchLine("orgs.10x_medium.separate_runs.peak_rss", sepRSS, "MiB")
		benchLine("orgs.10x_medium.one_run_vs_separate.wall_ratio", all.wall.Seconds()/sepWall.Seconds(), "ratio")
		benchLine("orgs.10x_medium.one_run_vs_separate.requests_ratio", float64(allReq)/float64(sepReq), "ratio")
		// The same work costs the same requests (give or take a retry or an
		// identity batch split differently).
		if d := float64(allReq-sepReq) / float64(sepReq); d > 0.01 || d < -0.01 {
			b.Errorf("one run made %d requests, ten runs %d", allReq, sepReq)
		}
	}
}

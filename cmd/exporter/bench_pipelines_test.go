package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
)

// BenchmarkPipelinesLarge measures what pipeline resources and personal
// access tokens add to a sync of the large organization (1,000 projects,
// 50k users, 20 ms added to every request): the same unchanged full sync
// without them, with pipeline resources, and with a token sweep too (two
// Token Admin requests per user: tokens, then SSH keys); a full sync within
// the token cadence (--token-sweep 168h, the default: tokens carried
// forward); then an incremental sync after 1,000 changes of the realistic
// mix and 100 of pipeline resources, tokens and SSH keys.
func BenchmarkPipelinesLarge(b *testing.B) {
	bin := exporterBinary(b)
	sim, db, env := slowLargeOrg(b, "readonly")
	pipeAreas := func(by map[string]int64) int64 {
		return by["serviceendpoint"] + by["distributedtask"] + by["pipelines"] + by["securityroles"] + by["checks"]
	}
	for i := 0; i < b.N; i++ {
		runMeasured(b, bin, env, "sync", "--mode", "full", "--no-pipelines", "--no-pats") // fills the store
		without := runMeasured(b, bin, env, "sync", "--mode", "full", "--no-pipelines", "--no-pats")
		r0, _ := latestRuns(b, db)
		pipes := runMeasured(b, bin, env, "sync", "--mode", "full", "--no-pats")
		r1, _ := latestRuns(b, db)
		both := runMeasured(b, bin, env, "sync", "--mode", "full", "--token-sweep", "every-run")
		r2, _ := latestRuns(b, db)
		within := runMeasured(b, bin, env, "sync", "--mode", "full", "--token-sweep", "168h")
		r4, _ := latestRuns(b, db)
		benchLine("pipelines.sync.large.full_requests_without", float64(r0.APIRequests), "req")
		benchLine("pipelines.sync.large.full_requests_pipelines", float64(pipeAreas(r1.RequestsByArea)), "req")
		benchLine("pipelines.sync.large.full_requests_tokens", float64(r2.RequestsByArea["tokenadmin"]), "req")
		benchLine("pipelines.sync.large.full_requests_within_token_cadence", float64(r4.APIRequests), "req")
		benchLine("pipelines.sync.large.full_requests_tokens_within_cadence", float64(r4.RequestsByArea["tokenadmin"]), "req")
		benchLine("pipelines.sync.large.full_wall_without", without.wall.Seconds(), "s")
		benchLine("pipelines.sync.large.full_wall_pipelines", pipes.wall.Seconds(), "s")
		benchLine("pipelines.sync.large.full_wall_both", both.wall.Seconds(), "s")
		benchLine("pipelines.sync.large.full_wall_within_token_cadence", within.wall.Seconds(), "s")
		benchLine("pipelines.sync.large.full_peak_rss_both", both.peakRSS, "MiB")

		if _, err := sim.Mutate(adosim.MutateRequest{Count: 1000, Seed: 11}); err != nil {
			b.Fatal(err)
		}
		if _, err := sim.Mutate(adosim.MutateRequest{Count: 100, Seed: 12, Kinds: adosim.PipelineMutationKinds()}); err != nil {
			b.Fatal(err)
		}
		inc := runMeasured(b, bin, env, "sync", "--mode", "incremental")
		r3, _ := latestRuns(b, db)
		benchLine("pipelines.sync.large.incremental_requests", float64(r3.APIRequests), "req")
		benchLine("pipelines.sync.large.incremental_requests_pipelines", float64(pipeAreas(r3.RequestsByArea)+r3.RequestsByArea["tokenadmin"]), "req")
		benchLine("pipelines.sync.large.incremental_wall", inc.wall.Seconds(), "s")
		// Four lists and a checks query per project, two reads per resource.
		if got, max := pipeAreas(r1.RequestsByArea), int64(5*1000+2*12000+100); got > max {
			b.Errorf("pipeline resources took %d requests on 1,000 projects, want at most %d", got, max)
		}
		benchLine("pipelines.sync.large.full_requests_checks", float64(r1.RequestsByArea["checks"]), "req")
		if n := r4.RequestsByArea["tokenadmin"]; n != 0 {
			b.Errorf("a full sync within the token cadence made %d Token Admin requests", n)
		}
	}
}

// BenchmarkTokenSweepMedium is the token cadence's cost on the medium
// organization (20 ms on every request), quick enough to run anywhere: a
// full sync that sweeps tokens and SSH keys (--token-sweep every-run), and
// one within the cadence (168h) that carries them forward.
func BenchmarkTokenSweepMedium(b *testing.B) {
	bin := exporterBinary(b)
	sim, err := adosim.New(adosim.Options{Preset: "medium", Faults: adosim.Faults{Latency: adosim.Duration(20 * time.Millisecond)}})
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sim.Close() })
	db := filepath.Join(b.TempDir(), "medium.db")
	env := []string{"ADO_ORG_URL=" + sim.URL(), "ADO_PAT=" + sim.Credential("readonly"), "EXPORTER_DB=" + db, "EXPORTER_LOG_LEVEL=warn"}
	for i := 0; i < b.N; i++ {
		runMeasured(b, bin, env, "sync", "--mode", "full", "--no-pats") // fills the store
		swept := runMeasured(b, bin, env, "sync", "--mode", "full", "--token-sweep", "every-run")
		r1, _ := latestRuns(b, db)
		within := runMeasured(b, bin, env, "sync", "--mode", "full", "--token-sweep", "168h")
		r2, _ := latestRuns(b, db)
		benchLine("tokens.sync.medium.sweep.token_requests", float64(r1.RequestsByArea["tokenadmin"]), "req")
		benchLine("tokens.sync.medium.sweep.full_requests", float64(r1.APIRequests), "req")
		benchLine("tokens.sync.medium.sweep.full_wall", swept.wall.Seconds(), "s")
		benchLine("tokens.sync.medium.within_cadence.token_requests", float64(r2.RequestsByArea["tokenadmin"]), "req")
		benchLine("tokens.sync.medium.within_cadence.full_requests", float64(r2.APIRequests), "req")
		benchLine("tokens.sync.medium.within_cadence.full_wall", within.wall.Seconds(), "s")
		if n := r2.RequestsByArea["tokenadmin"]; n != 0 {
			b.Errorf("a full sync within the token cadence made %d Token Admin requests", n)
		}
	}
}

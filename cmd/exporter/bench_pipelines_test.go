package main

import (
	"testing"

	"github.com/ado-access/ado-access/internal/adosim"
)

// BenchmarkPipelinesLarge measures what pipeline resources and personal
// access tokens add to a sync of the large organization (1,000 projects,
// 50k users, 20 ms added to every request): the same unchanged full sync
// without them, with pipeline resources, and with tokens too; then an
// incremental sync after 1,000 changes of the realistic mix and 100 of
// pipeline resources and tokens.
func BenchmarkPipelinesLarge(b *testing.B) {
	bin := exporterBinary(b)
	sim, db, env := slowLargeOrg(b, "readonly")
	pipeAreas := func(by map[string]int64) int64 {
		return by["serviceendpoint"] + by["distributedtask"] + by["pipelines"] + by["securityroles"]
	}
	for i := 0; i < b.N; i++ {
		runMeasured(b, bin, env, "sync", "--mode", "full", "--no-pipelines", "--no-pats") // fills the store
		without := runMeasured(b, bin, env, "sync", "--mode", "full", "--no-pipelines", "--no-pats")
		r0, _ := latestRuns(b, db)
		pipes := runMeasured(b, bin, env, "sync", "--mode", "full", "--no-pats")
		r1, _ := latestRuns(b, db)
		both := runMeasured(b, bin, env, "sync", "--mode", "full")
		r2, _ := latestRuns(b, db)
		benchLine("pipelines.sync.large.full_requests_without", float64(r0.APIRequests), "req")
		benchLine("pipelines.sync.large.full_requests_pipelines", float64(pipeAreas(r1.RequestsByArea)), "req")
		benchLine("pipelines.sync.large.full_requests_tokens", float64(r2.RequestsByArea["tokenadmin"]), "req")
		benchLine("pipelines.sync.large.full_wall_without", without.wall.Seconds(), "s")
		benchLine("pipelines.sync.large.full_wall_pipelines", pipes.wall.Seconds(), "s")
		benchLine("pipelines.sync.large.full_wall_both", both.wall.Seconds(), "s")
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
		if got, max := pipeAreas(r1.RequestsByArea), int64(4*1000+2*12000+100); got > max {
			b.Errorf("pipeline resources took %d requests on 1,000 projects, want at most %d", got, max)
		}
	}
}

package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// BenchmarkEntraSweepLarge measures what the sweep of Entra-side changes
// (changes with no Audit Log entry) adds to an incremental sync of the large
// organization (1,000 Entra groups, 50k users) with 20 ms on every request:
// an incremental run that does not sweep (--entra-sweep 7d, right after a
// full sync) against one that does (the default, every run) after 100
// changes made in Entra ID, then a full sync that must find nothing more.
// Then the same with Microsoft Graph (--auth entra): the sweep asks the
// groups delta query which Entra groups changed, in an unchanged tenant
// and after 100 more changes made in Entra ID.
func BenchmarkEntraSweepLarge(b *testing.B) {
	bin := exporterBinary(b)
	sim, db, env := slowLargeOrg(b, "readonly")
	lastRun := func() snapshot.Run {
		st, err := snapshot.OpenExisting(context.Background(), db)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		runs, _ := st.Runs(context.Background())
		return runs[len(runs)-1]
	}
	for i := 0; i < b.N; i++ {
		runMeasured(b, bin, env, "sync", "--mode", "full")
		quiet := runMeasured(b, bin, env, "sync", "--mode", "incremental", "--entra-sweep", "7d")
		r1 := lastRun()
		if _, err := sim.Mutate(adosim.MutateRequest{Count: 100, Seed: uint64(i + 1),
			Kinds: []string{"entra.membership.add", "entra.membership.remove", "entra.user.disable"}}); err != nil {
			b.Fatal(err)
		}
		swept := runMeasured(b, bin, env, "sync", "--mode", "incremental")
		r2 := lastRun()
		runMeasured(b, bin, env, "sync", "--mode", "full")
		r3 := lastRun()
		if !strings.Contains(r1.Note, "not swept") || !strings.Contains(r2.Note, "Entra ID swept") {
			b.Fatalf("notes: %q / %q", r1.Note, r2.Note)
		}
		benchLine("sync.entra_sweep.large.no_sweep.requests", float64(r1.APIRequests), "req")
		benchLine("sync.entra_sweep.large.no_sweep.wall", quiet.wall.Seconds(), "s")
		benchLine("sync.entra_sweep.large.sweep.requests", float64(r2.APIRequests), "req")
		benchLine("sync.entra_sweep.large.sweep.wall", swept.wall.Seconds(), "s")
		benchLine("sync.entra_sweep.large.added.requests", float64(r2.APIRequests-r1.APIRequests), "req")
		benchLine("sync.entra_sweep.large.added.wall", (swept.wall - quiet.wall).Seconds(), "s")
		benchLine("sync.entra_sweep.large.versions_written", float64(r2.VersionsWritten), "versions")
		benchLine("sync.entra_sweep.large.sweep_vs_full.requests_ratio", float64(r2.APIRequests)/float64(r3.APIRequests), "ratio")
		if r3.VersionsWritten != 0 {
			b.Errorf("the full sync after the sweep wrote %d versions: the sweep missed changes made in Entra ID", r3.VersionsWritten)
		}
		b.Logf("sweep run note: %s", r2.Note)
		benchEntraSweepDelta(b, bin, sim, env, lastRun, i)
	}
}

// benchEntraSweepDelta is BenchmarkEntraSweepLarge's Microsoft Graph case,
// run after a full sync with a PAT (so the store has no deltaLink yet).
func benchEntraSweepDelta(b *testing.B, bin string, sim *adosim.Server, env []string, lastRun func() snapshot.Run, i int) {
	entra := append(slices.Clip(env), entraAppEnv(b, sim)...)
	deltas := func() int64 { return sim.Stats().Requests["msgraph.groups.delta"] }
	runMeasured(b, bin, entra, "sync", "--mode", "incremental", "--auth", "entra") // no deltaLink yet: every group, and a new round
	if r := lastRun(); !strings.Contains(r.Note, "no Microsoft Graph deltaLink yet") {
		b.Fatalf("first run with Microsoft Graph: %q", r.Note)
	}
	quiet := runMeasured(b, bin, entra, "sync", "--mode", "incremental", "--auth", "entra", "--entra-sweep", "7d")
	r0 := lastRun()
	d0 := deltas()
	unchanged := runMeasured(b, bin, entra, "sync", "--mode", "incremental", "--auth", "entra")
	r1, d1 := lastRun(), deltas()
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 100, Seed: uint64(1000 + i),
		Kinds: []string{"entra.membership.add", "entra.membership.remove", "entra.user.disable"}}); err != nil {
		b.Fatal(err)
	}
	changed := runMeasured(b, bin, entra, "sync", "--mode", "incremental", "--auth", "entra")
	r2, d2 := lastRun(), deltas()
	runMeasured(b, bin, env, "sync", "--mode", "full")
	r3 := lastRun()
	if !strings.Contains(r0.Note, "not swept") || !strings.Contains(r1.Note, "delta query") || !strings.Contains(r2.Note, "delta query") {
		b.Fatalf("notes: %q / %q / %q", r0.Note, r1.Note, r2.Note)
	}
	benchLine("sync.entra_sweep.large.delta.unchanged.msgraph_requests", float64(d1-d0), "req")
	benchLine("sync.entra_sweep.large.delta.unchanged.added.requests", float64(r1.APIRequests-r0.APIRequests+d1-d0), "req")
	benchLine("sync.entra_sweep.large.delta.unchanged.added.wall", (unchanged.wall - quiet.wall).Seconds(), "s")
	benchLine("sync.entra_sweep.large.delta.changed.msgraph_requests", float64(d2-d1), "req")
	benchLine("sync.entra_sweep.large.delta.changed.requests", float64(r2.APIRequests+d2-d1), "req")
	benchLine("sync.entra_sweep.large.delta.changed.added.requests", float64(r2.APIRequests-r0.APIRequests+d2-d1), "req")
	benchLine("sync.entra_sweep.large.delta.changed.added.wall", (changed.wall - quiet.wall).Seconds(), "s")
	benchLine("sync.entra_sweep.large.delta.changed_vs_full.requests_ratio", float64(r2.APIRequests+d2-d1)/float64(r3.APIRequests), "ratio")
	if r3.VersionsWritten != 0 {
		b.Errorf("the full sync after the delta sweep wrote %d versions: the sweep missed changes made in Entra ID", r3.VersionsWritten)
	}
	b.Logf("delta sweep run note: %s", r2.Note)
}

// auditedKinds are the /_sim/mutate kinds that write an Audit Log entry.
func auditedKinds() []string {
	var out []string
	for _, k := range adosim.MutationKinds() {
		if !strings.HasPrefix(k, "entra.") {
			out = append(out, k)
		}
	}
	return out
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// The sync under a latency profile (BENCH_LATENCY, default 150ms on every
// request; e.g. entitlements=300ms,graph=120ms,default=150ms), judged
// against its own bounds: the chain floor (the user-entitlement pages, one
// after the other, at their latency; read from both ends, half of them)
// and the work bound (every request's
// latency spread over --concurrency slots). With BENCH_BASELINE set to an
// exporter binary built from an earlier commit, the same organization is
// synced by it first: the before and after of one run, on one machine.
//
//	git archive OLD | tar -x -C /tmp/base && (cd /tmp/base && go build -o /tmp/exporter-base ./cmd/exporter)
//	BENCH_BASELINE=/tmp/exporter-base go test -run '^$' -bench 'BenchmarkSyncProfileLarge' -benchtime 1x -timeout 60m ./cmd/exporter/

// readSecurity is a read credential that may also read ACLs (Security
// (Manage), the scope the service asks for that), as the README advises.
var readSecurity = []string{"vso.graph", "vso.memberentitlementmanagement", "vso.project", "vso.code", "vso.auditlog", "vso.identity", "vso.profile", "vso.security_manage"}

type profileSim struct {
	entraEnv []string // env for the code under test: the simulator's Entra app
	sim      *adosim.Server
	flat     time.Duration
	areas    map[string]adosim.Duration
	env      []string // but EXPORTER_DB
	conc     int
}

func startProfileSim(b *testing.B, preset string) *profileSim {
	spec := os.Getenv("BENCH_LATENCY")
	if spec == "" {
		spec = "150ms"
	}
	flat, areas, err := adosim.ParseLatency(spec)
	if err != nil {
		b.Fatal(err)
	}
	tok := make([]byte, 20)
	rand.Read(tok)
	creds := append(adosim.DefaultCredentials(), adosim.Credential{Name: "readsecurity", Token: hex.EncodeToString(tok), Scopes: readSecurity})
	sim, err := adosim.New(adosim.Options{Preset: preset, Credentials: creds, Faults: adosim.Faults{Latency: flat, AreaLatency: areas}})
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sim.Close() })
	p := &profileSim{sim: sim, flat: flat.D(), areas: areas, conc: 8}
	p.env = []string{"ADO_ORG_URL=" + sim.URL(), "ADO_PAT=" + sim.Credential("readsecurity"), "EXPORTER_LOG_LEVEL=warn"}
	// The code under test signs in as the simulator's Entra app, as a
	// deployment with Microsoft Graph permissions would: incremental runs
	// then learn Entra-side changes from Graph's delta queries (see
	// BenchmarkEntraSweepLarge for the sweep without them).
	p.entraEnv = append(slices.Clip(p.env), entraAppEnv(b, sim)...)
	benchLine("profile.latency_default", p.flat.Seconds()*1000, "ms")
	for a, d := range areas {
		benchLine("profile.latency."+a, d.D().Seconds()*1000, "ms")
	}
	return p
}

func (p *profileSim) latency(area string) time.Duration {
	if d, ok := p.areas[area]; ok {
		return d.D()
	}
	return p.flat
}

// profiled is one measured sync.
type profiled struct {
	proc              processRun
	run               snapshot.Run
	simCPU            time.Duration
	floor, work, wall time.Duration
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return cpuTime(&ru)
}

// sync runs one sync with bin into db and prints its figures under name.
func (p *profileSim) sync(b *testing.B, name, bin, db, mode string) profiled {
	pages := func() int64 { return p.sim.Stats().Requests["entitlements.users.search"] }
	pages0, cpu0 := pages(), selfCPU()
	args := []string{"sync", "--mode", mode, "--no-permissions", "--concurrency", strconv.Itoa(p.conc)}
	env := p.env
	if !strings.Contains(name, "baseline") {
		// The same reads as the baseline, which knows no pipeline
		// resources or tokens (BenchmarkPipelinesLarge measures those).
		args = append(args, "--no-pipelines", "--no-pats", "--auth", "entra")
		env = p.entraEnv
	}
	proc := runMeasured(b, bin, append(slices.Clip(env), "EXPORTER_DB="+db), args...)
	out := profiled{proc: proc, simCPU: selfCPU() - cpu0, wall: proc.wall}
	st, err := snapshot.Open(context.Background(), db) // a baseline's store may be of an older schema
	if err != nil {
		b.Fatal(err)
	}
	runs, _ := st.Runs(context.Background())
	st.Close()
	out.run = runs[len(runs)-1]
	// The code under test reads the chain from both ends at once: the
	// floor is the longer end, at best half. A baseline reads it from one
	// end unless BENCH_BASELINE_ENDS says otherwise (commits from 2c771ab
	// on read both).
	ends := int64(2)
	if strings.Contains(name, "baseline") || strings.Contains(name, "before") {
		ends = 1
		if n, err := strconv.ParseInt(os.Getenv("BENCH_BASELINE_ENDS"), 10, 64); err == nil && n > 0 {
			ends = n
		}
	}
	out.floor = time.Duration((pages()-pages0+ends-1)/ends) * p.latency("entitlements")
	var work time.Duration
	for area, n := range out.run.RequestsByArea {
		work += time.Duration(n) * p.latency(area)
	}
	out.work = work / time.Duration(p.conc)
	benchLine(name+".requests", float64(out.run.APIRequests), "req")
	for area, n := range out.run.RequestsByArea {
		benchLine(name+".requests."+area, float64(n), "req")
	}
	benchLine(name+".chain_floor", out.floor.Seconds(), "s")
	benchLine(name+".work_bound", out.work.Seconds(), "s")
	benchLine(name+".wall", out.wall.Seconds(), "s")
	benchLine(name+".wall_vs_bound", out.wall.Seconds()/max(out.floor, out.work).Seconds(), "ratio")
	benchLine(name+".exporter_cpu", proc.cpu.Seconds(), "s")
	benchLine(name+".simulator_cpu", out.simCPU.Seconds(), "s")
	benchLine(name+".peak_rss", proc.peakRSS, "MiB")
	return out
}

// baseline syncs with BENCH_BASELINE, if set, into a store of its own.
func (p *profileSim) baseline(b *testing.B, name string) {
	if bin := os.Getenv("BENCH_BASELINE"); bin != "" {
		p.sync(b, name, bin, filepath.Join(b.TempDir(), "baseline.db"), "full")
	}
}

// BenchmarkSyncProfileMedium: a full sync of the medium organization.
func BenchmarkSyncProfileMedium(b *testing.B) {
	bin := exporterBinary(b)
	p := startProfileSim(b, "medium")
	for i := 0; i < b.N; i++ {
		p.baseline(b, "profile.medium.before")
		after := p.sync(b, "profile.medium.after", bin, filepath.Join(b.TempDir(), "medium.db"), "full")
		if after.run.APIRequests > 430 {
			b.Errorf("a full sync of medium made %d requests, target 430", after.run.APIRequests)
		}
	}
}

// BenchmarkSyncProfileLarge: a full sync of the large organization, then
// 1,000 audited changes read by an incremental sync.
func BenchmarkSyncProfileLarge(b *testing.B) {
	bin := exporterBinary(b)
	p := startProfileSim(b, "large")
	for i := 0; i < b.N; i++ {
		p.baseline(b, "profile.large.before")
		db := filepath.Join(b.TempDir(), "large.db")
		after := p.sync(b, "profile.large.after", bin, db, "full")
		// 1,000 audited changes (the realistic mix without the Entra-side
		// kinds, which have no Audit Log entry): the target's measure.
		var audited []string
		for _, k := range adosim.MutationKinds() {
			if !strings.HasPrefix(k, "entra.") {
				audited = append(audited, k)
			}
		}
		if _, err := p.sim.Mutate(adosim.MutateRequest{Count: 1000, Seed: uint64(i + 1), Kinds: audited}); err != nil {
			b.Fatal(err)
		}
		inc := p.sync(b, "profile.large.incremental", bin, db, "incremental")
		// Then 1,000 of the whole mix, one in five made in Entra ID: each
		// Entra group whose members changed is re-read (one request).
		if _, err := p.sim.Mutate(adosim.MutateRequest{Count: 1000, Seed: uint64(i + 101)}); err != nil {
			b.Fatal(err)
		}
		p.sync(b, "profile.large.incremental_with_entra", bin, db, "incremental")
		// Against the full sync before the changes: a second full sync of
		// large would take minutes more on a loaded machine, and the tests
		// prove the incremental runs exact.
		reqRatio := float64(inc.run.APIRequests) / float64(after.run.APIRequests)
		wallRatio := inc.wall.Seconds() / after.wall.Seconds()
		benchLine("profile.large.incremental_vs_full.requests_ratio", reqRatio, "ratio")
		benchLine("profile.large.incremental_vs_full.wall_ratio", wallRatio, "ratio")
		if after.run.APIRequests > 3100 {
			b.Errorf("a full sync of large made %d requests, target 3,100", after.run.APIRequests)
		}
		if bound := max(after.floor, after.work); after.wall.Seconds() > 1.15*bound.Seconds() {
			b.Errorf("a full sync of large took %s, over 1.15 × its bound of %s", after.wall.Round(time.Second), bound.Round(time.Second))
		}
		if reqRatio > 0.015 || wallRatio > 0.05 {
			b.Errorf("incremental used %.2f%% of a full sync's requests and %.1f%% of its wall time (targets 1.5%% and 5%%)", 100*reqRatio, 100*wallRatio)
		}
		for _, r := range []profiled{after, inc} {
			if r.proc.peakRSS > 343 {
				b.Errorf("peak RSS %.0f MiB, over the 343 MiB of the code before", r.proc.peakRSS)
			}
		}
	}
}

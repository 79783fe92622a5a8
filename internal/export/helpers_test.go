package export

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/azurite"
	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/snapshot"
)

var genTime = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// fixture is a store synced from the simulator: two runs with audited
// changes between them. Tests only read it.
type fixture struct {
	st         *snapshot.Store
	sim        *adosim.Server
	run1, run2 snapshot.Run
}

var (
	fixtures   = map[string]*fixture{}
	fixturesMu sync.Mutex
	fixtureDir string
)

// smallSpec is the "small" preset: every hostile display name, a cycle,
// dormant and never-seen accounts, guests, deleted identities.
func storeFixture(t testing.TB, preset string) *fixture {
	t.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if f := fixtures[preset]; f != nil {
		return f
	}
	if fixtureDir == "" {
		d, err := os.MkdirTemp("", "export-fixtures-*")
		if err != nil {
			t.Fatal(err)
		}
		fixtureDir = d
	}
	// The simulated clock starts ten hours after generation and runs.
	start := time.Now()
	now := func() time.Time { return genTime.Add(10*time.Hour + time.Since(start)) }
	sim, err := adosim.New(adosim.Options{Preset: preset, Seed: 5, GeneratedAt: genTime, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := snapshot.Open(ctx, filepath.Join(fixtureDir, preset+".db"))
	if err != nil {
		t.Fatal(err)
	}
	dial := func() *collect.Client { // one client per sync, as one process per run
		c, err := collect.Dial(ctx, sim.URL(), collect.Credential{PAT: sim.Credential("readwrite")},
			collect.Options{Retry: collect.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	r1, err := collect.Sync(ctx, dial(), st, collect.SyncOptions{Teams: true, Permissions: true})
	if err != nil {
		t.Fatal(err)
	}
	// A week later, after some changes: some accounts have turned dormant.
	sim.Advance(7 * 24 * time.Hour)
	// A fixed list of kinds (those of the first rounds), so that kinds added
	// to the simulator later leave this fixture's draw alone (a different
	// draw removes the account with a hostile name that
	// TestHostileNamesStayData looks for).
	audited := []string{"membership.add", "membership.remove", "nested.add", "nested.remove", "license.change",
		"user.add", "user.remove", "user.disable", "group.create", "group.delete", "group.rename", "team.create",
		"repo.create", "repo.delete", "repo.rename", "project.create", "project.delete", "project.rename",
		"permission.set", "permission.remove", "permission.reset", "acl.inherit"}
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 40, Seed: 4, Kinds: audited}); err != nil {
		t.Fatal(err)
	}
	r2, err := collect.Sync(ctx, dial(), st, collect.SyncOptions{Teams: true, Permissions: true})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, sim: sim, run1: r1, run2: r2}
	fixtures[preset] = f
	return f
}

func TestMain(m *testing.M) {
	code := m.Run()
	azurite.Stop()
	for _, f := range fixtures {
		f.st.Close()
		f.sim.Close()
	}
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

func countOf(cs []Count, name string) int64 {
	for _, c := range cs {
		if c.Name == name {
			return c.N
		}
	}
	return 0
}

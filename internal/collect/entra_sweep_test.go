package collect

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// With --entra-sweep 24h an incremental run skips the sweep while the last
// one is younger, and says so; once it is due, the run sweeps and finds
// what changed in Entra ID meanwhile.
func TestEntraSweepCadence(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec, Seed: 2})
	c := dial(t, sim, "readonly")
	st := openStore(t)
	ctx := context.Background()
	full := syncMode(t, c, st, "full")
	opts := SyncOptions{Mode: "incremental", EntraSweep: 24 * time.Hour}
	count := func(run int64) int {
		n := 0
		if err := st.Scan(ctx, snapshot.Memberships, run, func(snapshot.Row) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count(full.ID)
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 3, Seed: 1, Kinds: []string{"entra.membership.add"}}); err != nil {
		t.Fatal(err)
	}
	sim.Advance(time.Hour)
	skipped, err := Sync(ctx, c, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(skipped.Note, "Entra ID not swept this run (--entra-sweep 24h0m0s)") || !strings.Contains(skipped.Note, "since run 1 of ") ||
		!strings.Contains(skipped.Note, "(full sync)") {
		t.Fatalf("a run within the cadence: note %q", skipped.Note)
	}
	if n := count(skipped.ID); n != before {
		t.Fatalf("a run that did not sweep changed memberships %d → %d", before, n)
	}
	if skipped.RequestsByArea["graph"] > 2 {
		t.Errorf("a run that did not sweep made %d Graph requests", skipped.RequestsByArea["graph"])
	}
	sim.Advance(24 * time.Hour)
	swept, err := Sync(ctx, c, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(swept.Note, "Entra ID swept") || !strings.Contains(swept.Note, "members of 5 Entra groups") {
		t.Fatalf("a run past the cadence: note %q", swept.Note)
	}
	if n := count(swept.ID); n != before+3 {
		t.Fatalf("after the sweep: %d memberships, want %d + 3 added in Entra ID", n, before)
	}
	// The next run within the cadence names the incremental run's sweep.
	next, err := Sync(ctx, c, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := "since run " + itoa(swept.ID) + " of "; !strings.Contains(next.Note, want) {
		t.Fatalf("note %q, want %q", next.Note, want)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

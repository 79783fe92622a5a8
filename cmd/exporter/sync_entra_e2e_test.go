package main

import (
	"context"
	"os"
	osexec "os/exec"
	"strings"
	"testing"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// sync --auth entra sweeps Entra ID through Microsoft Graph's delta query:
// the full sync keeps a deltaLink, the next incremental run asks it (one
// request for an unchanged tenant), and a change made in Entra ID is in the
// run after it.
func TestSyncEntraSweepThroughMicrosoftGraphDelta(t *testing.T) {
	bin := exporterBinary(t)
	sim, env := simEnv(t, adosim.Options{Preset: "small"})
	entra := entraAppEnv(t, sim)
	app := sim.EntraApps()[0]
	sync := func(mode string) snapshot.Run {
		t.Helper()
		cmd := osexec.Command(bin, "sync", "--mode", mode, "--auth", "entra")
		cmd.Env = append(append(os.Environ(), "ADO_ORG_URL="+env["ADO_ORG_URL"], "EXPORTER_DB="+env["EXPORTER_DB"]), entra...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sync --mode %s --auth entra: %v\n%s", mode, err, out)
		}
		st, err := snapshot.OpenExisting(context.Background(), env["EXPORTER_DB"])
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		runs, err := st.Runs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(runs[len(runs)-1].Note, app.Secret) {
			t.Fatal("the client secret is in the run's note")
		}
		return runs[len(runs)-1]
	}
	deltas := func() int64 { return sim.Stats().Requests["msgraph.groups.delta"] }
	sync("full")
	d0 := deltas()
	if d0 != 1 {
		t.Fatalf("the full sync made %d delta requests, want 1 ($deltatoken=latest)", d0)
	}
	unchanged := sync("incremental")
	if !strings.Contains(unchanged.Note, "Entra ID swept through a Microsoft Graph delta query (1 request)") ||
		!strings.Contains(unchanged.Note, "members of 0 Entra groups re-read") || deltas() != d0+1 {
		t.Fatalf("unchanged tenant: %d delta requests, note %q", deltas()-d0, unchanged.Note)
	}
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 1, Seed: 5, Kinds: []string{"entra.membership.add"}}); err != nil {
		t.Fatal(err)
	}
	changed := sync("incremental")
	if !strings.Contains(changed.Note, "members of 1 Entra groups re-read") || changed.VersionsWritten == 0 {
		t.Fatalf("after a member added in Entra ID: %d versions, note %q", changed.VersionsWritten, changed.Note)
	}
}

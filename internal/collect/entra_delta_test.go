package collect

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

func dialGraph(t testing.TB, sim *adosim.Server) *MSGraph {
	t.Helper()
	g, err := DialMSGraph(sim.MicrosoftGraphURL(), StaticToken(sim.Credential("msgraph")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// incrementalWithGraph runs an incremental sync with Microsoft Graph and
// answers the run and how many Graph requests it made.
func incrementalWithGraph(t testing.TB, c *Client, st *snapshot.Store, g *MSGraph) (snapshot.Run, int64) {
	t.Helper()
	before, _ := g.Stats.Requests()
	r, err := Sync(context.Background(), c, st, SyncOptions{Mode: "incremental", Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := g.Stats.Requests()
	return r, after - before
}

// With Microsoft Graph, the Entra sweep asks the groups delta query
// (https://learn.microsoft.com/en-us/graph/api/group-delta) which Entra
// groups' members changed since the last sweep's deltaLink and re-reads
// only those: an unchanged tenant costs one Microsoft Graph request and no
// group read. Without a deltaLink (the full sync had no Graph), or once
// Graph no longer knows it (410 Gone), the sweep reads every Entra group
// and starts a new round. Sweeps ask from a base deltaLink they move on
// only to one an hour old (entraMirrorLag).
func TestEntraSweepByDelta(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec, Seed: 3})
	c := dial(t, sim, "readonly")
	st := openStore(t)
	ctx := context.Background()
	syncMode(t, c, st, "full") // without Microsoft Graph: no deltaLink
	g := dialGraph(t, sim)
	every := "members of " + itoa(int64(propertySpec.EntraGroups)) + " Entra groups re-read"
	run := func(what string, wantNote ...string) snapshot.Run {
		t.Helper()
		r, n := incrementalWithGraph(t, c, st, g)
		t.Logf("%s: %d Microsoft Graph requests, %d Azure DevOps Graph requests", what, n, r.RequestsByArea["graph"])
		for _, w := range wantNote {
			if !strings.Contains(r.Note, w) {
				t.Fatalf("%s: note %q, want %q", what, r.Note, w)
			}
		}
		// One groups delta request and one users delta request; a fallback
		// of both (all tokens expired) adds a request from now to each.
		limit := int64(2)
		if strings.HasPrefix(what, "expired") {
			limit = 4
		}
		if n > limit {
			t.Errorf("%s: %d Microsoft Graph requests, want at most %d", what, n, limit)
		}
		return r
	}
	run("no deltaLink yet", "Entra ID swept in full (no Microsoft Graph deltaLink yet)", every)

	unchanged := run("unchanged tenant", "through a Microsoft Graph delta query (1 request)", "members of 0 Entra groups re-read")
	if n := unchanged.RequestsByArea["graph"]; n >= int64(propertySpec.EntraGroups) {
		t.Errorf("unchanged tenant: %d Azure DevOps Graph requests, no fewer than one per Entra group", n)
	}

	memberships := func(run int64) int {
		n := 0
		if err := st.Scan(ctx, snapshot.Memberships, run, func(snapshot.Row) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := memberships(unchanged.ID)
	res, err := sim.Mutate(adosim.MutateRequest{Count: 2, Seed: 1, Kinds: []string{"entra.membership.add"}})
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]bool{}
	for _, m := range res.Applied {
		groups[m.Target] = true
	}
	changed := run("2 members added", "through a Microsoft Graph delta query (1 request)", "members of "+itoa(int64(len(groups)))+" Entra groups re-read")
	if n := memberships(changed.ID); n != before+2 {
		t.Fatalf("after 2 members added in Entra ID: %d memberships, want %d", n, before+2)
	}
	// Azure DevOps may show a change made in Entra ID up to an hour late:
	// sweeps keep asking from a base deltaLink, and move it on only to one
	// at least an hour old, so the changed groups are re-read for an hour
	// or two.
	again := "members of " + itoa(int64(len(groups))) + " Entra groups re-read"
	run("within the hour", "through a Microsoft Graph delta query (1 request)", again)
	sim.Advance(61 * time.Minute)
	run("an hour later", "through a Microsoft Graph delta query (1 request)", again) // base: the link of the unchanged run
	run("after that", "through a Microsoft Graph delta query (1 request)", again)
	sim.Advance(61 * time.Minute)
	run("two hours later", "through a Microsoft Graph delta query (1 request)", again) // base: the link of the run an hour later
	run("after the changes", "through a Microsoft Graph delta query (1 request)", "members of 0 Entra groups re-read")
	// A change just before the base moves on is still asked for after.
	sim.Advance(61 * time.Minute)
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 1, Seed: 7, Kinds: []string{"entra.membership.add"}}); err != nil {
		t.Fatal(err)
	}
	run("a change as the base moves on", "through a Microsoft Graph delta query (1 request)", "members of 1 Entra groups re-read")
	last := run("right after", "through a Microsoft Graph delta query (1 request)", "members of 1 Entra groups re-read")
	before = memberships(last.ID)

	sim.ExpireEntraDeltaTokens()
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 1, Seed: 2, Kinds: []string{"entra.membership.remove"}}); err != nil {
		t.Fatal(err)
	}
	expired := run("expired deltaLink", "Entra ID swept in full (the Microsoft Graph deltaLink expired", every)
	if n := memberships(expired.ID); n != before-1 {
		t.Fatalf("after a member removed in Entra ID: %d memberships, want %d", n, before-1)
	}
	run("after the fallback", "through a Microsoft Graph delta query (1 request)", "members of 0 Entra groups re-read")
}

package collect

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// With Microsoft Graph, the account sweep asks the users delta query
// (https://learn.microsoft.com/en-us/graph/api/user-delta) which users
// changed in Entra ID and looks up only their accounts: a user deleted
// (or disabled) and one renamed in Entra ID, which write no Audit Log
// entry, are in the next incremental run's snapshot at the cost of one
// users delta request and one subject lookup of two accounts, not a
// lookup of every Entra-backed account. An expired users deltaLink falls
// back to looking up every account, and the note says why.
func TestEntraUsersDelta(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec, Seed: 5})
	c := dial(t, sim, "readonly")
	st := openStore(t)
	ctx := context.Background()
	g := dialGraph(t, sim)
	if _, err := Sync(ctx, c, st, SyncOptions{Mode: "full", Graph: g}); err != nil {
		t.Fatal(err)
	}
	aad := 0
	sync := func(what string, maxGraph int64, wantNote string) snapshot.Run {
		t.Helper()
		r, n := incrementalWithGraph(t, c, st, g)
		t.Logf("%s: %d Microsoft Graph requests, Azure DevOps requests by area %v", what, n, r.RequestsByArea)
		if n > maxGraph {
			t.Errorf("%s: %d Microsoft Graph requests, want at most %d", what, n, maxGraph)
		}
		if !strings.Contains(r.Note, wantNote) {
			t.Fatalf("%s: note %q, want %q", what, r.Note, wantNote)
		}
		return r
	}
	accounts := func(run int64) map[string]snapshot.Row {
		out := map[string]snapshot.Row{}
		if err := st.Scan(ctx, snapshot.Accounts, run, func(row snapshot.Row) error {
			out[row[0].(string)] = row
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, row := range accounts(1) {
		if row[3] == "aad" {
			aad++
		}
	}
	sync("unchanged tenant", 2, "0 Entra accounts named by the Microsoft Graph users delta (1 request)")

	deleted, err := sim.Mutate(adosim.MutateRequest{Count: 1, Seed: 1, Kinds: []string{"entra.user.disable"}})
	if err != nil {
		t.Fatal(err)
	}
	renamed, err := sim.Mutate(adosim.MutateRequest{Count: 1, Seed: 2, Kinds: []string{"entra.user.rename"}})
	if err != nil {
		t.Fatal(err)
	}
	r := sync("a user deleted and one renamed in Entra ID", 3, "2 Entra accounts named by the Microsoft Graph users delta (1 request) (2 changed)")
	// One subject lookup of the two accounts, and the groups the deleted
	// user left: far fewer than one request per account would be, and no
	// lookup of every account (the note counts the accounts looked up).
	if n := r.RequestsByArea["graph"]; n > 4 {
		t.Errorf("%d Azure DevOps Graph requests, want at most 4", n)
	}
	rows := accounts(r.ID)
	if row := rows[deleted.Applied[0].Target]; fmt.Sprint(row[12]) != "1" {
		t.Errorf("user deleted in Entra ID: %v, want isDeletedInOrigin", row)
	}
	if row := rows[renamed.Applied[0].Target]; !strings.Contains(renamed.Applied[0].Summary, "renamed "+fmt.Sprint(row[7])+" in Entra ID") {
		t.Errorf("user renamed in Entra ID: %v, after %q", row, renamed.Applied[0].Summary)
	}

	// An expired users deltaLink: every account is looked up, and the
	// next run asks the delta again.
	sim.ExpireEntraUsersDeltaTokens()
	deleted, err = sim.Mutate(adosim.MutateRequest{Count: 1, Seed: 3, Kinds: []string{"entra.user.disable"}})
	if err != nil {
		t.Fatal(err)
	}
	r = sync("expired users deltaLink", 3, fmt.Sprintf("%d Entra accounts (all: the Microsoft Graph deltaLink expired", aad))
	if row := accounts(r.ID)[deleted.Applied[0].Target]; fmt.Sprint(row[12]) != "1" {
		t.Errorf("user deleted in Entra ID after the fallback: %v, want isDeletedInOrigin", row)
	}
	if !strings.Contains(r.Note, "through a Microsoft Graph delta query") {
		t.Errorf("the groups delta fell back with the users one: %s", r.Note)
	}
	sync("after the fallback", 2, "0 Entra accounts named by the Microsoft Graph users delta (1 request)")
}

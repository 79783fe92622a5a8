package diff

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// Changes made in Microsoft Entra ID write no Azure DevOps Audit Log
// entry: a member added to an Entra group (one a group rule grants a
// license through) and one removed, through the simulator's Microsoft
// Graph as an Entra administrator would, and a user deleted in Entra ID.
// The next incremental sync sees each of them, and so does the diff:
// without Microsoft Graph (every Entra group re-read through Azure DevOps)
// and with it (Microsoft Graph's delta query names the groups to re-read).
func TestIncrementalSeesEntraChanges(t *testing.T) {
	t.Run("azure devops graph", func(t *testing.T) { testIncrementalSeesEntraChanges(t, false) })
	t.Run("microsoft graph delta", func(t *testing.T) { testIncrementalSeesEntraChanges(t, true) })
}

func testIncrementalSeesEntraChanges(t *testing.T, withDelta bool) {
	ctx := context.Background()
	sim, err := adosim.New(adosim.Options{Spec: &simSpec, Seed: 3, GeneratedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	st := newStore(t)
	mg, err := collect.DialMSGraph(sim.MicrosoftGraphURL(), collect.StaticToken(sim.Credential("msgraph")), collect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sweepGraph *collect.MSGraph
	if withDelta {
		sweepGraph, err = collect.DialMSGraph(sim.MicrosoftGraphURL(), collect.StaticToken(sim.Credential("msgraph")), collect.Options{})
		if err != nil {
			t.Fatal(err)
		}
	}
	sync := func(mode string) snapshot.Run {
		t.Helper()
		c, err := collect.Dial(ctx, sim.URL(), collect.Credential{PAT: sim.Credential("readonly")}, collect.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := collect.Sync(ctx, c, st, collect.SyncOptions{Mode: mode, Teams: true, Graph: sweepGraph})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := sync("full")

	// From the store: a group rule's Entra group, a user outside it with a
	// license of its own, and a user member to remove.
	current := func(tbl *snapshot.Table) []snapshot.Row {
		var rows []snapshot.Row
		if err := st.Scan(ctx, tbl, a.ID, func(r snapshot.Row) error { rows = append(rows, r); return nil }); err != nil {
			t.Fatal(err)
		}
		return rows
	}
	rule := current(snapshot.GroupRules)[0]
	group, ruleLicense := rule[0].(string), rule[1]
	objectID := map[string]string{}
	for _, g := range current(snapshot.Groups) {
		objectID[g[0].(string)] = g[4].(string)
	}
	users := map[string]bool{}
	for _, acc := range current(snapshot.Accounts) {
		if acc[1] == "user" && acc[3] == "aad" && acc[12] == int64(0) {
			objectID[acc[0].(string)] = acc[4].(string)
			users[acc[0].(string)] = true
		}
	}
	members := map[string]bool{}
	for _, m := range current(snapshot.Memberships) {
		if m[0] == group {
			members[m[1].(string)] = true
		}
	}
	var add, remove string
	for _, e := range current(snapshot.Entitlements) {
		d := e[0].(string)
		switch {
		case users[d] && members[d] && remove == "":
			remove = d
		case users[d] && !members[d] && add == "" && e[2] == "account" && e[6] != "groupRule" && e[1] != ruleLicense:
			add = d
		}
	}
	if add == "" || remove == "" {
		t.Fatalf("no user to add (%q) or remove (%q)", add, remove)
	}

	if ok, _, err := mg.AddGroupMember(ctx, objectID[group], objectID[add]); !ok || err != nil {
		t.Fatalf("add through Microsoft Graph: %v %v", ok, err)
	}
	if ok, _, err := mg.RemoveGroupMember(ctx, objectID[group], objectID[remove]); !ok || err != nil {
		t.Fatalf("remove through Microsoft Graph: %v %v", ok, err)
	}
	res, err := sim.Mutate(adosim.MutateRequest{Count: 1, Seed: 8, Kinds: []string{"entra.user.disable"}})
	if err != nil {
		t.Fatal(err)
	}
	deleted := res.Applied[0].Target

	var deltaBefore int64
	if withDelta {
		deltaBefore, _ = sweepGraph.Stats.Requests()
	}
	b := sync("incremental")
	if b.Kind != "incremental" || !strings.Contains(b.Note, "Entra ID swept") {
		t.Fatalf("run %s: %q", b.Kind, b.Note)
	}
	if withDelta {
		// One groups delta request names the changed groups (the rule's
		// group and those the deleted user left), one users delta request
		// the user deleted in Entra ID, the full sync having started both
		// rounds.
		n, _ := sweepGraph.Stats.Requests()
		if n-deltaBefore != 2 || !strings.Contains(b.Note, "through a Microsoft Graph delta query (1 request)") ||
			!strings.Contains(b.Note, "1 Entra accounts named by the Microsoft Graph users delta (1 request)") {
			t.Errorf("the delta sweep made %d Microsoft Graph requests, want 2; note %q", n-deltaBefore, b.Note)
		}
	}
	var got []Change
	if err := Between(ctx, st, a.ID, b.ID, all, func(c Change) error { got = append(got, c); return nil }); err != nil {
		t.Fatal(err)
	}
	has := func(kind, entity, key, field string) bool {
		return slices.ContainsFunc(got, func(c Change) bool {
			return c.Kind == kind && c.Entity == entity && c.Key == key &&
				(field == "" || slices.ContainsFunc(c.Fields, func(f Field) bool { return f.Name == field }))
		})
	}
	for _, want := range []struct{ what, kind, entity, key, field string }{
		{"the member added in Entra ID", Added, "memberships", group + " > " + add, ""},
		{"the member removed in Entra ID", Removed, "memberships", group + " > " + remove, ""},
		{"the group rule's license of the member added", LicenseChanged, "accounts", add, "account_license_type"},
		{"the user deleted in Entra ID", Modified, "accounts", deleted, "deleted_in_origin"},
	} {
		if !has(want.kind, want.entity, want.key, want.field) {
			t.Errorf("%s: no %s %s %s in the diff of the incremental run (note %q); the diff has %d changes", want.what, want.kind, want.entity, want.key, b.Note, len(got))
		}
	}
}

package collect

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// teamsBothWays syncs fully twice: with Security (Manage), which derives
// team members from group memberships and the Identity namespace, and
// without, which reads the team members API team by team. It returns the
// team members of each and the two runs.
func teamsBothWays(t *testing.T, sim *adosim.Server, derived, api *snapshot.Store) (d, a []string, dr, ar snapshot.Run) {
	t.Helper()
	sync := func(cred string, st *snapshot.Store) snapshot.Run {
		run, err := Sync(context.Background(), dial(t, sim, cred), st, SyncOptions{Mode: "full", Teams: true})
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	dr, ar = sync("readwrite", derived), sync("readonly", api)
	if strings.Contains(dr.Note, "team members API") {
		t.Fatalf("the run with Security (Manage) read the team members API: %s", dr.Note)
	}
	if !strings.Contains(ar.Note, "team members read through the team members API") {
		t.Fatalf("the run without Security (Manage) does not say it read the team members API: %s", ar.Note)
	}
	return digest(t, derived, dr.ID)["team_members"], digest(t, api, ar.ID)["team_members"], dr, ar
}

// admins counts the administrators among a run's team members.
func admins(t *testing.T, st *snapshot.Store, run int64) int {
	n := 0
	if err := st.Scan(context.Background(), snapshot.TeamMembers, run, func(r snapshot.Row) error {
		if r[2] == int64(1) {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// Team members derived from the groups' direct members and the Identity
// namespace equal what the team members API answers, on every preset (the
// large one with ADO_TEST_LARGE=1: it takes minutes).
func TestDerivedTeamMembersEqualTeamAPI(t *testing.T) {
	t.Parallel()
	presets := []string{"small", "medium"}
	if os.Getenv("ADO_TEST_LARGE") != "" {
		presets = append(presets, "large")
	}
	for _, preset := range presets {
		t.Run(preset, func(t *testing.T) {
			sim := startSim(t, adosim.Options{Preset: preset})
			api := openStore(t)
			d, a, dr, ar := teamsBothWays(t, sim, openStore(t), api)
			if n := admins(t, api, ar.ID); len(a) == 0 || n == 0 {
				t.Fatalf("the preset has %d team members, %d administrators: the test proves nothing", len(a), n)
			}
			if !slices.Equal(d, a) {
				t.Fatalf("derived team members differ from the team members API: %s", diffDigests(map[string][]string{"team_members": d}, map[string][]string{"team_members": a}))
			}
			teams := sim.Stats().Counts.Teams
			// The team members API is the core area's; the rest differ
			// with the credential (discovery).
			if saved := ar.RequestsByArea["core"] - dr.RequestsByArea["core"]; saved < int64(teams) {
				t.Fatalf("deriving saved %d requests (%d vs %d) for %d teams: %v vs %v", saved, dr.APIRequests, ar.APIRequests, teams, dr.RequestsByArea, ar.RequestsByArea)
			}
		})
	}
}

// After every kind of scripted change (team administrators granted and
// removed among them), the derivation still equals the team members API.
func TestDerivedTeamMembersAfterEachChangeKind(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec, Seed: 11})
	derived, api := openStore(t), openStore(t)
	teamsBothWays(t, sim, derived, api)
	for _, kind := range adosim.MutationKinds() {
		if _, err := sim.Mutate(adosim.MutateRequest{Count: 3, Seed: 5, Kinds: []string{kind}}); err != nil {
			t.Fatal(err)
		}
		d, a, _, _ := teamsBothWays(t, sim, derived, api)
		if !slices.Equal(d, a) {
			t.Fatalf("after %s: %s", kind, diffDigests(map[string][]string{"team_members": d}, map[string][]string{"team_members": a}))
		}
	}
}

// pageTeams reads every team once, in order, whatever the service caps $top
// at and however far the expected count is off; a full page proves the cap,
// so the short page after it ends the list without an empty page.
func TestPageTeams(t *testing.T) {
	for _, tc := range []struct {
		name               string
		teams, cap, expect int
		calls              int
	}{
		{"no teams", 0, 1000, 0, 1},
		{"one short page: only an empty page ends it", 300, 1000, 300, 2},
		{"a full page, then a short one", 1491, 1000, 0, 2},
		{"both pages asked side by side", 1491, 1000, 1491, 2},
		{"more teams than expected", 2000, 1000, 1491, 3},
		{"fewer teams than expected: a short first page proves nothing", 900, 1000, 1491, 3},
		{"a service capping $top at 100", 1491, 100, 1491, 2 + 14}, // the page at 1000 is used
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := make([]core.WebApiTeam, tc.teams)
			for i := range all {
				id := uuid.New()
				all[i] = core.WebApiTeam{Id: &id}
			}
			var calls atomic.Int32
			list := func(top, skip int) ([]core.WebApiTeam, error) {
				calls.Add(1)
				return all[min(skip, len(all)):min(skip+min(top, tc.cap), len(all))], nil
			}
			var got []core.WebApiTeam
			err := pageTeams(context.Background(), tc.expect, list, func(team core.WebApiTeam) error {
				got = append(got, team)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, all, func(a, b core.WebApiTeam) bool { return *a.Id == *b.Id }) {
				t.Fatalf("read %d teams, want the %d in order", len(got), len(all))
			}
			if int(calls.Load()) != tc.calls {
				t.Errorf("%d requests, want %d", calls.Load(), tc.calls)
			}
		})
	}
}

package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// storeChecks lists resource_checks as adosim.CheckRow lines, sorted.
func storeChecks(t *testing.T, st *snapshot.Store) []string {
	t.Helper()
	var out []string
	if err := st.Current(context.Background(), snapshot.ResourceChecks, func(r snapshot.Row) error {
		var approvers []string
		if err := json.Unmarshal([]byte(r[8].(string)), &approvers); err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %s %s %d %s disabled=%v approvers=%v min=%d by=%s", r[0], r[1], r[2], r[3], r[4], r[6] == int64(1),
			approvers, r[9], r[10]))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// simChecks lists the simulator's live checks the same way.
func simChecks(sim *adosim.Server) []string {
	var out []string
	for _, c := range sim.ResourceChecks() {
		approvers := c.Approvers
		if approvers == nil {
			approvers = []string{}
		}
		out = append(out, fmt.Sprintf("%s %s %s %d %s disabled=%v approvers=%v min=%d by=%s", c.ProjectID, c.ResType, c.ResID, c.ID, c.Type, c.Disabled,
			approvers, c.MinApprovers, c.CreatedBy))
	}
	slices.Sort(out)
	return out
}

func sameChecks(t *testing.T, when string, st *snapshot.Store, sim *adosim.Server) {
	t.Helper()
	got, want := storeChecks(t, st), simChecks(sim)
	if len(want) == 0 {
		t.Fatalf("%s: the simulator holds no checks", when)
	}
	if !slices.Equal(got, want) {
		onlyGot := slices.DeleteFunc(slices.Clone(got), func(l string) bool { return slices.Contains(want, l) })
		onlyWant := slices.DeleteFunc(slices.Clone(want), func(l string) bool { return slices.Contains(got, l) })
		t.Fatalf("%s: resource_checks differs from the simulator's checks: store only %q; simulator only %q", when, head(onlyGot), head(onlyWant))
	}
}

// A full sync reads every check and approval on pipeline resources with
// one query per project (two for a project past checkChunk resources);
// after checks are added, removed and their approvers changed, an
// incremental sync re-reads only the projects the Checks entries name and
// the table again matches the simulator.
func TestResourceChecksFullThenIncremental(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec, Seed: 5})
	// One project gets more resources than one query names.
	for i := range checkChunk + 1 {
		sim.PlantEnvironment(fmt.Sprintf("prod-planted-%d", i), i%2 == 0)
	}
	c := dial(t, sim, "readwrite")
	st := openStore(t)
	run := syncMode(t, c, st, "full")
	sameChecks(t, "full sync", st, sim)
	projects := countRows(t, st, snapshot.Projects, nil)
	if got, want := run.RequestsByArea["checks"], int64(projects+1); got != want {
		t.Errorf("checks took %d requests for %d projects (one past %d resources), want %d (%v)", got, projects, checkChunk, want, run.RequestsByArea)
	}

	res, err := sim.Mutate(adosim.MutateRequest{Count: 6, Seed: 9, Kinds: []string{"check.add", "check.remove", "check.approvers"}})
	if err != nil || len(res.Applied) == 0 {
		t.Fatalf("mutate: %v %+v", err, res)
	}
	touched := map[string]bool{}
	for _, m := range res.Applied {
		if !strings.HasPrefix(m.ActionID, "CheckConfiguration.") {
			t.Fatalf("mutation %s wrote %s", m.Kind, m.ActionID)
		}
		touched[m.Target] = true
	}
	inc := syncMode(t, c, st, "incremental")
	if inc.Kind != "incremental" {
		t.Fatalf("run kind %s: %s", inc.Kind, inc.Note)
	}
	sameChecks(t, "incremental sync", st, sim)
	if got := inc.RequestsByArea["checks"]; got == 0 || got > int64(len(res.Applied)+1) {
		t.Errorf("the incremental run read checks with %d requests for %d changes (%v)", got, len(res.Applied), inc.RequestsByArea)
	}
}

// Without Build (Read) the checks are not read: the note names the scope,
// the table stays as it was, and the rest is read.
func TestResourceChecksWithoutBuildRead(t *testing.T) {
	t.Parallel()
	narrow := []string{"vso.graph", "vso.memberentitlementmanagement", "vso.project", "vso.code", "vso.auditlog", "vso.identity", "vso.profile",
		"vso.serviceendpoint", "vso.variablegroups_read", "vso.environment_manage", "vso.agentpools"}
	creds := append(adosim.DefaultCredentials(), adosim.Credential{Name: "narrow", Token: "narrow-pat-0123456789abcdef", Scopes: narrow})
	sim := startSim(t, adosim.Options{Spec: &propertySpec, Seed: 4, Credentials: creds})
	st := openStore(t)
	syncMode(t, dial(t, sim, "readwrite"), st, "full")
	before := storeChecks(t, st)
	c, err := Dial(context.Background(), sim.URL(), Credential{PAT: "narrow-pat-0123456789abcdef"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	run := syncMode(t, c, st, "full")
	if !strings.Contains(run.Note, "checks were not read") || !strings.Contains(run.Note, "vso.build") {
		t.Errorf("note %q does not say checks were not read for want of vso.build", run.Note)
	}
	if got := storeChecks(t, st); !slices.Equal(got, before) || len(got) == 0 {
		t.Errorf("checks unreadable: %d rows, were %d (should be left as they were)", len(got), len(before))
	}
}

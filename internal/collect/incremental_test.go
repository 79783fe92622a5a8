package collect

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// propertySpec is small enough to sync many times under the race detector,
// with every kind of entity the mutations touch.
var propertySpec = adosim.Spec{
	Users: 120, GuestShare: 0.1, MSAShare: 0.05, ServicePrincipals: 4, OrgGroups: 8,
	EntraGroups: 5, EntraGroupSize: 10, Projects: 6, MaxExtraTeams: 2, MaxRepos: 3,
	MembershipsPerUser: 4, NestingDepth: 3, GroupRules: 1, DormantShare: 0.1, NeverShare: 0.05, AuditHistory: 20,
}

// syncMode syncs in a mode, with teams and permissions (reading ACLs needs
// the "readwrite" credential's Security (Manage); others sync without them).
func syncMode(t testing.TB, c *Client, st *snapshot.Store, mode string) snapshot.Run {
	t.Helper()
	run, err := Sync(context.Background(), c, st, SyncOptions{Mode: mode, Teams: true, Permissions: true, Pipelines: true, Tokens: true})
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// diffDigests names the first table where two snapshots differ.
func diffDigests(a, b map[string][]string) string {
	for _, tbl := range snapshot.Tables {
		x, y := a[tbl.Name], b[tbl.Name]
		if slices.Equal(x, y) {
			continue
		}
		onlyA := slices.DeleteFunc(slices.Clone(x), func(l string) bool { return slices.Contains(y, l) })
		onlyB := slices.DeleteFunc(slices.Clone(y), func(l string) bool { return slices.Contains(x, l) })
		return fmt.Sprintf("%s: incremental only %q; full only %q", tbl.Name, head(onlyA), head(onlyB))
	}
	return ""
}

func head(s []string) []string { return s[:min(len(s), 3)] }

// diffFromFresh syncs the organization afresh, in full, with the credential
// cred, and names the first table where run of st differs from it.
func diffFromFresh(t *testing.T, sim *adosim.Server, cred string, st *snapshot.Store, run int64) string {
	t.Helper()
	fresh := openStore(t)
	full := syncMode(t, dial(t, sim, cred), fresh, "full")
	return diffDigests(digest(t, st, run), digest(t, fresh, full.ID))
}

// The invariant of incremental sync: for any sequence of changes, an
// incremental sync gives the same snapshot, table by table, as a fresh full
// sync of the same organization.
//
// Under the race detector, which checks the concurrency of the same code
// on any seed, the property tests run a fixed sample; 'make test' runs
// them whole again without it (see the Makefile).
func TestIncrementalEqualsFreshFullSync(t *testing.T) {
	t.Parallel()
	seeds := 12
	if testing.Short() || raceEnabled {
		seeds = 3
	}
	for seed := 1; seed <= seeds; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, adosim.Options{Spec: &propertySpec, Seed: uint64(seed)})
			c := dial(t, sim, "readwrite")
			st := openStore(t)
			// Half the seeds sweep Entra ID through Microsoft Graph's delta
			// query, half through Azure DevOps Graph, group by group.
			var graph *MSGraph
			if seed%2 == 0 {
				graph = dialGraph(t, sim)
			}
			syncWith := func(mode string) snapshot.Run {
				t.Helper()
				run, err := Sync(context.Background(), c, st, SyncOptions{Mode: mode, Teams: true, Permissions: true, Pipelines: true, Tokens: true, Graph: graph})
				if err != nil {
					t.Fatal(err)
				}
				return run
			}
			syncWith("full")
			entra := 0 // changes made in Entra ID, which the Audit Log never shows
			defer func() {
				if !t.Failed() && entra == 0 {
					t.Errorf("the rounds made no change in Entra ID: the incremental sweep went untested")
				}
				t.Logf("%d changes made in Entra ID", entra)
			}()
			for round := 1; round <= 3; round++ {
				n := 5 + (seed*7+round*13)%60
				res, err := sim.Mutate(adosim.MutateRequest{Count: n, Seed: uint64(seed*100 + round)})
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range res.Applied {
					if strings.HasPrefix(m.Kind, "entra.") {
						entra++
					}
				}
				// Pipeline resources and tokens change too (the default mix
				// leaves them out).
				if _, err := sim.Mutate(adosim.MutateRequest{Count: 1 + n/5, Seed: uint64(seed*100 + round), Kinds: adosim.PipelineMutationKinds()}); err != nil {
					t.Fatal(err)
				}
				// Users renamed and deleted in Entra ID (renames are not in
				// the default mix), which only the users delta names.
				users, err := sim.Mutate(adosim.MutateRequest{Count: 2, Seed: uint64(seed*100 + round), Kinds: []string{"entra.user.rename", "entra.user.disable"}})
				if err != nil {
					t.Fatal(err)
				}
				entra += len(users.Applied)
				inc := syncWith("incremental")
				if inc.Kind != "incremental" {
					t.Fatalf("round %d: run kind %s", round, inc.Kind)
				}
				if graph != nil && !strings.Contains(inc.Note, "through a Microsoft Graph delta query") {
					t.Fatalf("round %d: the sweep did not use the delta query: %s", round, inc.Note)
				}
				if graph != nil && !strings.Contains(inc.Note, "named by the Microsoft Graph users delta") {
					t.Fatalf("round %d: the account sweep did not use the users delta: %s", round, inc.Note)
				}
				if d := diffFromFresh(t, sim, "readwrite", st, inc.ID); d != "" {
					t.Fatalf("round %d (%d changes): incremental differs from a fresh full sync: %s\nnote: %s", round, n, d, inc.Note)
				}
			}
		})
	}
}

// Each kind of change on its own, so a failure names the kind.
func TestIncrementalByChangeKind(t *testing.T) {
	t.Parallel()
	for i, kind := range adosim.MutationKinds() {
		if raceEnabled && i%4 != 0 {
			continue // a sample under the race detector; see above
		}
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, adosim.Options{Spec: &propertySpec, Seed: 5})
			c := dial(t, sim, "readwrite")
			st := openStore(t)
			syncMode(t, c, st, "full")
			if _, err := sim.Mutate(adosim.MutateRequest{Count: 4, Seed: 9, Kinds: []string{kind}}); err != nil {
				t.Fatal(err)
			}
			inc := syncMode(t, c, st, "incremental")
			if d := diffFromFresh(t, sim, "readwrite", st, inc.ID); d != "" {
				t.Fatalf("%s: %s\nnote: %s", kind, d, inc.Note)
			}
		})
	}
}

func TestAutoChoosesIncrementalAndRecordsWhy(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec})
	c := dial(t, sim, "readonly")
	st := openStore(t)
	first := syncMode(t, c, st, "auto")
	if first.Kind != "full" || !strings.Contains(first.Note, "no earlier run") || first.AuditCursorTime == nil {
		t.Fatalf("first run: %s %q cursor %v", first.Kind, first.Note, first.AuditCursorTime)
	}
	sim.Mutate(adosim.MutateRequest{Count: 1, Seed: 1, Kinds: []string{"membership.add"}})
	second := syncMode(t, c, st, "auto")
	if second.Kind != "incremental" || !strings.Contains(second.Note, "1 mapped") {
		t.Fatalf("second run: %s %q", second.Kind, second.Note)
	}
	// One membership change costs a handful of requests: the audit page,
	// the group's lookup and its members.
	if second.APIRequests > 15 {
		t.Fatalf("one membership change took %d requests (%v)", second.APIRequests, second.RequestsByArea)
	}
}

func TestFallbackWhenTheCursorIsPastRetention(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec})
	c := dial(t, sim, "readonly")
	st := openStore(t)
	syncMode(t, c, st, "auto")
	sim.Advance(91 * 24 * time.Hour)
	run := syncMode(t, c, st, "auto")
	if run.Kind != "full" || !strings.Contains(run.Note, "retention") {
		t.Fatalf("after 91 days: %s %q", run.Kind, run.Note)
	}
	if _, err := Sync(context.Background(), c, st, SyncOptions{Mode: "incremental"}); err != nil {
		t.Fatalf("incremental right after the full run: %v", err)
	}
	sim.Advance(91 * 24 * time.Hour)
	if _, err := Sync(context.Background(), c, st, SyncOptions{Mode: "incremental"}); err == nil || !strings.Contains(err.Error(), "retention") {
		t.Fatalf("--mode incremental past retention: %v, want an error naming the retention", err)
	}
}

func TestFallbackWithoutAuditLogScope(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec})
	st := openStore(t)
	// A full run with the right PAT leaves a cursor; then the PAT loses
	// Audit Log: Read.
	syncMode(t, dial(t, sim, "readonly"), st, "full")
	sim.Mutate(adosim.MutateRequest{Count: 10, Seed: 2})
	run := syncMode(t, dial(t, sim, "noaudit"), st, "auto")
	if run.Kind != "full" || !strings.Contains(run.Note, "vso.auditlog") || !strings.Contains(run.Note, "Audit Log (Read)") {
		t.Fatalf("without the scope: %s %q", run.Kind, run.Note)
	}
	if run.AuditCursorTime != nil {
		t.Fatalf("a run that could not read the log recorded a cursor")
	}
	// And the next run, even with the scope back, cannot be incremental.
	next := syncMode(t, dial(t, sim, "readonly"), st, "auto")
	if next.Kind != "full" || !strings.Contains(next.Note, "no Audit Log cursor") {
		t.Fatalf("after a run without cursor: %s %q", next.Kind, next.Note)
	}
	_, err := Sync(context.Background(), dial(t, sim, "noaudit"), st, SyncOptions{Mode: "incremental"})
	if !errors.Is(err, ErrForbidden) {
		t.Fatalf("--mode incremental without the scope: %v, want ErrForbidden", err)
	}
}

// A run's snapshot time is the service's clock when it read, even for a
// client that served earlier runs.
func TestSnapshotTimeFollowsTheServiceClock(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec})
	c := dial(t, sim, "readonly")
	st := openStore(t)
	syncMode(t, c, st, "full")
	sim.Advance(72 * time.Hour)
	for _, mode := range []string{"incremental", "full"} {
		run := syncMode(t, c, st, mode)
		if d := sim.Now().Sub(*run.SnapshotTime); d < 0 || d > time.Minute {
			t.Fatalf("%s run: snapshot time %v, the service's clock %v", mode, run.SnapshotTime, sim.Now())
		}
	}
}

func TestFullEveryForcesAFullSync(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec})
	c := dial(t, sim, "readonly")
	st := openStore(t)
	syncMode(t, c, st, "full")
	sim.Advance(8 * 24 * time.Hour)
	run, err := Sync(context.Background(), c, st, SyncOptions{FullEvery: 7 * 24 * time.Hour, Teams: true})
	if err != nil {
		t.Fatal(err)
	}
	if run.Kind != "full" || !strings.Contains(run.Note, "--full-every") {
		t.Fatalf("after 8 days with --full-every 7d: %s %q", run.Kind, run.Note)
	}
}

// Entries near the cursor are read again by the next run (late arrivals
// land there) but not handled twice; entries that arrive late are caught.
func TestOverlapCatchesLateEntriesAndSkipsHandledOnes(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec, AuditLag: 2 * time.Minute})
	c := dial(t, sim, "readonly")
	st := openStore(t)
	syncMode(t, c, st, "full")
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 20, Seed: 4, Kinds: []string{"membership.add", "membership.remove"}}); err != nil {
		t.Fatal(err)
	}
	// Some entries are not visible yet: this run cannot see them.
	syncMode(t, c, st, "incremental")
	sim.Advance(3 * time.Minute)
	late := syncMode(t, c, st, "incremental")
	if d := diffFromFresh(t, sim, "readonly", st, late.ID); d != "" {
		t.Fatalf("late entries were lost: %s\nnote: %s", d, late.Note)
	}
	// Nothing new since: the next run reads the overlap again, handles nothing.
	again := syncMode(t, c, st, "incremental")
	if !strings.Contains(again.Note, "0 mapped") || strings.Contains(again.Note, " 0 already handled") {
		t.Fatalf("a run with nothing new: %q; want entries read again but all already handled", again.Note)
	}
	if again.VersionsWritten != 0 {
		t.Fatalf("a run with nothing new wrote %d versions", again.VersionsWritten)
	}
}

// A Group.CreateGroups entry names the group, not its id. A new team's
// group is read by the team's id, which the team list the entry makes the
// run read anyway gives; only a plain group's project has its group list
// read again.
func TestNewTeamGroupIsReadByTheTeamsID(t *testing.T) {
	t.Parallel()
	w := newTeamWindow(t)
	sim, c, st, ctx, cc, gc, projects := w.sim, w.c, w.st, w.ctx, w.core, w.graph, w.projects
	for _, name := range []string{"Night Shift", "Day Shift"} {
		pid := projects.Value[0].Id.String()
		if _, err := cc.CreateTeam(ctx, core.CreateTeamArgs{ProjectId: &pid, Team: &core.WebApiTeam{Name: &name}}); err != nil {
			t.Fatal(err)
		}
	}
	scope := "scp." + base64.RawURLEncoding.EncodeToString([]byte(projects.Value[1].Id.String()))
	name := "Release Approvers"
	if _, err := gc.CreateGroupVsts(ctx, graph.CreateGroupVstsArgs{ScopeDescriptor: &scope,
		CreationContext: &graph.GraphGroupVstsCreationContext{DisplayName: &name}}); err != nil {
		t.Fatal(err)
	}
	before := sim.Stats().Requests
	inc := syncMode(t, c, st, "incremental")
	after := sim.Stats().Requests
	if n := after["graph.groups.list"] - before["graph.groups.list"]; n != 1 {
		t.Errorf("group lists read: %d, want 1 (the plain group's project; the teams' groups by id)\nnote: %s", n, inc.Note)
	}
	if d := diffFromFresh(t, sim, "readonly", st, inc.ID); d != "" {
		t.Fatalf("%s\nnote: %s", d, inc.Note)
	}
}

// teamWindow is an organization synced in full, with clients that change
// it, for tests of what one window of changes to teams and groups does.
type teamWindow struct {
	sim      *adosim.Server
	c        *Client // read only
	st       *snapshot.Store
	ctx      context.Context
	core     core.Client
	graph    graph.Client
	projects *core.GetProjectsResponseValue
}

func newTeamWindow(t *testing.T) teamWindow {
	t.Helper()
	w := teamWindow{sim: startSim(t, adosim.Options{Spec: &propertySpec}), st: openStore(t), ctx: context.Background()}
	w.c = dial(t, w.sim, "readonly")
	syncMode(t, w.c, w.st, "full")
	rw := azuredevops.NewPatConnection(w.sim.URL(), w.sim.Credential("readwrite"))
	w.core, _ = core.NewClient(w.ctx, rw)
	w.graph, _ = graph.NewClient(w.ctx, rw)
	var err error
	if w.projects, err = w.core.GetProjects(w.ctx, core.GetProjectsArgs{}); err != nil {
		t.Fatal(err)
	}
	return w
}

// A team created and given a member in one window: its members come from
// its group, whichever of the group and the team list is read first. The
// team list is slowed down so that the group is read before it.
func TestNewTeamWithAMemberInOneWindow(t *testing.T) {
	t.Parallel()
	w := newTeamWindow(t)
	sim, c, st, ctx, cc, gc, projects := w.sim, w.c, w.st, w.ctx, w.core, w.graph, w.projects
	pid := projects.Value[0].Id.String()
	name := "Late Squad"
	team, err := cc.CreateTeam(ctx, core.CreateTeamArgs{ProjectId: &pid, Team: &core.WebApiTeam{Name: &name}})
	if err != nil {
		t.Fatal(err)
	}
	users, err := gc.ListUsers(ctx, graph.ListUsersArgs{})
	if err != nil {
		t.Fatal(err)
	}
	teamGroup, err := gc.GetDescriptor(ctx, graph.GetDescriptorArgs{StorageKey: team.Id})
	if err != nil {
		t.Fatal(err)
	}
	member := *(*users.GraphUsers)[3].Descriptor
	if _, err := gc.AddMembership(ctx, graph.AddMembershipArgs{SubjectDescriptor: &member, ContainerDescriptor: teamGroup.Value}); err != nil {
		t.Fatal(err)
	}
	sim.SetFaults(adosim.Faults{Latency: adosim.Duration(300 * time.Millisecond), Paths: []string{"/teams"}})
	inc := syncMode(t, c, st, "incremental")
	sim.SetFaults(adosim.Faults{})
	if d := diffFromFresh(t, sim, "readonly", st, inc.ID); d != "" {
		t.Fatalf("%s\nnote: %s", d, inc.Note)
	}
}

package diff

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/git"
	vgraph "github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/identity"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/security"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// permSpec is a tiny organization: the tests build the ACLs they need by
// hand, through the service's own API.
var permSpec = adosim.Spec{
	Users: 30, ServicePrincipals: 1, OrgGroups: 3, EntraGroups: 1, EntraGroupSize: 3, Projects: 2, MaxExtraTeams: 1, MaxRepos: 2,
	MembershipsPerUser: 2, NestingDepth: 2, AuditHistory: 5,
}

// permWorld is a simulated organization with the v7 clients a test needs
// to build ACLs, and a store to sync it into.
type permWorld struct {
	t       *testing.T
	ctx     context.Context
	sim     *adosim.Server
	st      *snapshot.Store
	graph   vgraph.Client
	ims     identity.Client
	sec     security.Client
	users   []string // user descriptors
	project string   // a project id
	repo    string   // one of its repositories
	branch  string   // the repository's default branch
}

func newPermWorld(t *testing.T) *permWorld {
	t.Helper()
	ctx := context.Background()
	sim, err := adosim.New(adosim.Options{Spec: &permSpec, Seed: 3, GeneratedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	conn := azuredevops.NewPatConnection(sim.URL(), sim.Credential("readwrite"))
	w := &permWorld{t: t, ctx: ctx, sim: sim, st: newStore(t), sec: security.NewClient(ctx, conn)}
	w.graph, _ = vgraph.NewClient(ctx, conn)
	w.ims, _ = identity.NewClient(ctx, conn)
	users, err := w.graph.ListUsers(ctx, vgraph.ListUsersArgs{SubjectTypes: &[]string{"aad"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range *users.GraphUsers {
		w.users = append(w.users, *u.Descriptor)
	}
	cc, _ := core.NewClient(ctx, conn)
	projects, err := cc.GetProjects(ctx, core.GetProjectsArgs{})
	if err != nil {
		t.Fatal(err)
	}
	w.project = projects.Value[0].Id.String()
	gc, _ := git.NewClient(ctx, conn)
	repos, err := gc.GetRepositories(ctx, git.GetRepositoriesArgs{Project: &w.project})
	if err != nil || len(*repos) == 0 {
		t.Fatalf("repositories: %v", err)
	}
	w.repo, w.branch = (*repos)[0].Id.String(), *(*repos)[0].DefaultBranch
	return w
}

// group creates an organization group with members (descriptors).
func (w *permWorld) group(name string, members ...string) string {
	w.t.Helper()
	g, err := w.graph.CreateGroupVsts(w.ctx, vgraph.CreateGroupVstsArgs{CreationContext: &vgraph.GraphGroupVstsCreationContext{DisplayName: &name}})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, m := range members {
		if _, err := w.graph.AddMembership(w.ctx, vgraph.AddMembershipArgs{SubjectDescriptor: &m, ContainerDescriptor: g.Descriptor}); err != nil {
			w.t.Fatal(err)
		}
	}
	return *g.Descriptor
}

// legacy is the identity descriptor ACLs name a subject by.
func (w *permWorld) legacy(descriptor string) string {
	w.t.Helper()
	ids, err := w.ims.ReadIdentities(w.ctx, identity.ReadIdentitiesArgs{SubjectDescriptors: &descriptor})
	if err != nil || len(*ids) != 1 || (*ids)[0].Descriptor == nil {
		w.t.Fatalf("legacy descriptor of %s: %v", descriptor, err)
	}
	return *(*ids)[0].Descriptor
}

// set writes one entry (merged into what is there).
func (w *permWorld) set(ns, token, descriptor string, allow, deny int) {
	w.t.Helper()
	id := uuid.MustParse(ns)
	body := map[string]any{"token": token, "merge": true, "accessControlEntries": []map[string]any{{"descriptor": descriptor, "allow": allow, "deny": deny}}}
	if _, err := w.sec.SetAccessControlEntries(w.ctx, security.SetAccessControlEntriesArgs{SecurityNamespaceId: &id, Container: body}); err != nil {
		w.t.Fatal(err)
	}
}

// inheritOff turns inheritance off on a token, keeping its entries.
func (w *permWorld) inheritOff(ns, token string, keep map[string][2]int) {
	w.t.Helper()
	id := uuid.MustParse(ns)
	aces := map[string]any{}
	for d, ad := range keep {
		aces[d] = map[string]any{"descriptor": d, "allow": ad[0], "deny": ad[1]}
	}
	value := []any{map[string]any{"token": token, "inheritPermissions": false, "acesDictionary": aces}}
	n := 1
	list := &azuredevops.VssJsonCollectionWrapper{Count: &n, Value: &value}
	if err := w.sec.SetAccessControlLists(w.ctx, security.SetAccessControlListsArgs{SecurityNamespaceId: &id, AccessControlLists: list}); err != nil {
		w.t.Fatal(err)
	}
}

// sync syncs with permissions and returns the run.
func (w *permWorld) sync() int64 {
	w.t.Helper()
	c, err := collect.Dial(w.ctx, w.sim.URL(), collect.Credential{PAT: w.sim.Credential("readwrite")}, collect.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	r, err := collect.Sync(w.ctx, c, w.st, collect.SyncOptions{Mode: "full", Permissions: true})
	if err != nil {
		w.t.Fatal(err)
	}
	return r.ID
}

// effective returns the effective permissions of one account on tokens of
// the Git namespace, as "token action allow|deny via".
func (w *permWorld) effective(run int64, account string, tokens ...string) map[string]EffectivePermission {
	w.t.Helper()
	out := map[string]EffectivePermission{}
	f := PermissionFilter{Tokens: map[string][]string{nsGit: tokens}, Subject: account, IncludeDeny: true}
	err := EffectivePermissions(w.ctx, w.st, run, f, func(p EffectivePermission) error {
		out[p.Token+" "+p.Action.Name] = p
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

const (
	gitRead, gitContribute, gitForcePush, gitPolicyExempt = 2, 4, 8, 128
)

func TestPermissionsDenyThroughNestingAndGroupsReachNestedMembers(t *testing.T) {
	t.Parallel()
	w := newPermWorld(t)
	u, other := w.users[0], w.users[1]
	inner := w.group("Release Squad", u)
	outer := w.group("Repo Maintainers", inner, other)
	repo := RepoToken(w.project, w.repo)
	// The outer group may force-push; the inner one, nested in it, is
	// denied at the same level: its members are denied, the others not.
	w.set(nsGit, repo, w.legacy(outer), gitForcePush|gitPolicyExempt, 0)
	w.set(nsGit, repo, w.legacy(inner), 0, gitForcePush)
	run := w.sync()

	got := w.effective(run, u, repo)
	if p, ok := got[repo+" ForcePush"]; !ok || !p.Deny || p.Identity.Descriptor != inner || p.ViaText() != `via [fabrikam]\Release Squad` {
		t.Errorf("nested member: ForcePush %+v, want denied through Release Squad", p)
	}
	if p, ok := got[repo+" PolicyExempt"]; !ok || p.Deny || p.ViaText() != `via [fabrikam]\Release Squad → [fabrikam]\Repo Maintainers` || p.SourceToken != repo {
		t.Errorf("nested member: PolicyExempt %+v (via %q), want allowed via Release Squad → Repo Maintainers", p, p.ViaText())
	}
	got = w.effective(run, other, repo)
	if p, ok := got[repo+" ForcePush"]; !ok || p.Deny || p.ViaText() != `via [fabrikam]\Repo Maintainers` {
		t.Errorf("direct member of the outer group: ForcePush %+v, want allowed", p)
	}
}

func TestPermissionsInheritProjectRepositoryBranchUnlessOff(t *testing.T) {
	t.Parallel()
	w := newPermWorld(t)
	u := w.users[2]
	g := w.group("Bypassers", u)
	project, repo := "repoV2/"+w.project, RepoToken(w.project, w.repo)
	branch := adosim.BranchToken(repo, w.branch)
	other := adosim.BranchToken(repo, "release/2026")
	w.set(nsGit, project, w.legacy(g), gitPolicyExempt, gitForcePush) // project: allow bypass, deny force push
	w.set(nsGit, repo, w.legacy(g), gitForcePush, 0)                  // repository: an explicit allow beats the inherited deny
	w.set(nsGit, other, w.legacy(w.users[3]), gitRead, 0)             // another branch gets an ACL of its own…
	w.inheritOff(nsGit, other, map[string][2]int{w.legacy(w.users[3]): {gitRead, 0}})
	run := w.sync()

	got := w.effective(run, u, project, repo, branch, other)
	for _, want := range []struct {
		token, action string
		allowed       bool
		source        string
	}{
		{project, "PolicyExempt", true, project},
		{project, "ForcePush", false, project},
		{repo, "PolicyExempt", true, project},
		{repo, "ForcePush", true, repo},
		{branch, "PolicyExempt", true, project},
		{branch, "ForcePush", true, repo},
	} {
		p, ok := got[want.token+" "+want.action]
		if !ok || p.Deny == want.allowed || p.SourceToken != want.source {
			t.Errorf("%s %s: %+v (present %v), want allowed=%v from %s", want.token, want.action, p, ok, want.allowed, want.source)
		}
	}
	// …with inheritance off: nothing from the project or repository reaches it.
	for k := range got {
		if strings.HasPrefix(k, other+" ") {
			t.Errorf("inheritance off on %s, yet %s", other, k)
		}
	}
	if p := got[branch+" PolicyExempt"]; p.Resource.Kind != "branch" || p.Resource.Branch != w.branch {
		t.Errorf("branch resource %+v, want branch %s", p.Resource, w.branch)
	}
}

func TestPermissionsDirectUserEntryAndUnknownIdentity(t *testing.T) {
	t.Parallel()
	w := newPermWorld(t)
	u := w.users[4]
	repo := RepoToken(w.project, w.repo)
	w.set(nsGit, repo, w.legacy(u), gitContribute|gitForcePush, 0)
	ghost := "Microsoft.IdentityModel.Claims.ClaimsIdentity;72f988bf-86f1-41af-91ab-2d7cd011db47\\gone@example.com"
	w.set(nsGit, repo, ghost, gitForcePush, 0)
	run := w.sync()

	got := w.effective(run, u, repo)
	if p, ok := got[repo+" ForcePush"]; !ok || p.Deny || p.ViaText() != "direct" || p.Identity.Descriptor != u {
		t.Errorf("direct entry: %+v, want ForcePush allowed directly", p)
	}
	var direct, unknown *ACE
	err := Permissions(w.ctx, w.st, run, func(a ACE) error {
		switch a.Subject.Identity {
		case ghost:
			unknown = &a
		case w.legacy(u):
			if a.Token == repo {
				direct = &a
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if direct == nil || !direct.Subject.Known || direct.Subject.Descriptor != u || direct.Subject.Kind != "user" || direct.Allow != gitContribute|gitForcePush {
		t.Errorf("the direct user entry: %+v", direct)
	}
	if unknown == nil || unknown.Subject.Known || unknown.Allow != gitForcePush || unknown.Resource.Kind != "repository" {
		t.Errorf("the unknown identity's entry was dropped or resolved: %+v", unknown)
	}
}

// The engine against the service's own evaluation: for a sample of
// accounts, tokens and bits, an account has a permission exactly when
// _apis/permissions, asked with the account's own PAT, says it does.
func TestEffectivePermissionsAgreeWithTheService(t *testing.T) {
	t.Parallel()
	w := newPermWorld(t)
	// Some awkward entries on top of the defaults: a nested deny, a direct
	// allow below an inherited deny, inheritance off on a branch.
	repo := RepoToken(w.project, w.repo)
	branch := adosim.BranchToken(repo, w.branch)
	inner := w.group("Inner", w.users[0], w.users[1])
	outer := w.group("Outer", inner, w.users[2])
	w.set(nsGit, "repoV2/"+w.project, w.legacy(outer), gitForcePush|gitPolicyExempt, 0)
	w.set(nsGit, repo, w.legacy(inner), 0, gitPolicyExempt)
	w.set(nsGit, repo, w.legacy(w.users[1]), gitPolicyExempt, 0)
	w.inheritOff(nsGit, branch, map[string][2]int{w.legacy(w.users[2]): {gitRead | gitContribute, 0}})
	if _, err := w.sim.Mutate(adosim.MutateRequest{Count: 12, Seed: 7, Kinds: []string{"permission.set", "permission.remove", "acl.inherit", "nested.add"}}); err != nil {
		t.Fatal(err)
	}
	run := w.sync()

	tokens := []string{"repoV2", "repoV2/" + w.project, repo, branch}
	project := ProjectTokens(nsProject, w.project)[0]
	accounts := append(slices.Clone(w.users[:6]), w.users[len(w.users)-1])
	type key struct{ account, token, action string }
	have := map[key]bool{}
	err := EffectivePermissions(w.ctx, w.st, run, PermissionFilter{Tokens: map[string][]string{nsGit: tokens, nsProject: {project}}}, func(p EffectivePermission) error {
		have[key{p.Subject, p.Token, p.Action.Name}] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, a := range accounts {
		c := security.NewClient(w.ctx, azuredevops.NewPatConnection(w.sim.URL(), w.sim.ActAs(a)))
		for _, ns := range []struct {
			id     string
			tokens []string
			names  map[int]string
		}{
			{nsGit, tokens, map[int]string{1: "Administer", 2: "GenericRead", 4: "GenericContribute", 8: "ForcePush", 16: "CreateBranch", 128: "PolicyExempt", 8192: "ManagePermissions", 32768: "PullRequestBypassPolicy"}},
			{nsProject, []string{project}, map[int]string{1: "GENERIC_READ", 2: "GENERIC_WRITE", 4: "DELETE", 4194304: "UPDATE_VISIBILITY"}},
		} {
			id := uuid.MustParse(ns.id)
			for bit, name := range ns.names {
				no := false
				ans, err := c.HasPermissions(w.ctx, security.HasPermissionsArgs{SecurityNamespaceId: &id, Permissions: &bit,
					Tokens: ptr(strings.Join(ns.tokens, ",")), AlwaysAllowAdministrators: &no})
				if err != nil {
					t.Fatal(err)
				}
				for i, tok := range ns.tokens {
					checked++
					if got := have[key{a, tok, name}]; got != (*ans)[i] {
						t.Errorf("%s on %s, %s: computed %v, the service says %v", a, tok, name, got, (*ans)[i])
					}
				}
			}
		}
	}
	if checked < 200 {
		t.Fatalf("only %d (account, token, permission) triples compared", checked)
	}
}

// Permissions gained and lost between runs: a new entry, a membership that
// brings an account under a group's entry, and one taken away.
func TestPermissionChanges(t *testing.T) {
	t.Parallel()
	w := newPermWorld(t)
	u, v := w.users[5], w.users[6]
	g := w.group("Pushers", u)
	repo := RepoToken(w.project, w.repo)
	w.set(nsGit, repo, w.legacy(g), gitForcePush, 0)
	a := w.sync()
	if _, err := w.graph.AddMembership(w.ctx, vgraph.AddMembershipArgs{SubjectDescriptor: &v, ContainerDescriptor: &g}); err != nil {
		t.Fatal(err)
	}
	if err := w.graph.RemoveMembership(w.ctx, vgraph.RemoveMembershipArgs{SubjectDescriptor: &u, ContainerDescriptor: &g}); err != nil {
		t.Fatal(err)
	}
	b := w.sync()
	var got []string
	err := PermissionChanges(w.ctx, w.st, a, b, func(c Change) error {
		if strings.Contains(c.Key, "ForcePush") && strings.Contains(c.Key, repo) {
			got = append(got, fmt.Sprintf("%s %s %s", c.Kind, c.Subject, c.Path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{PermissionLost + " " + u + ` via [fabrikam]\Pushers`, PermissionGained + " " + v + ` via [fabrikam]\Pushers`}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("changes %q, want %q", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

package adosim

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/accounts"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/git"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/profile"
)

// wideSpec is an organization with more projects and teams than one capped
// page ($top at most 1000) holds.
var wideSpec = Spec{
	Users: 20, ServicePrincipals: 1, OrgGroups: 2, EntraGroups: 1, EntraGroupSize: 3,
	Projects: 1050, MaxExtraTeams: 0, MaxRepos: 1, MembershipsPerUser: 2, NestingDepth: 2, AuditHistory: 10,
}

func liveProjects(o *Org) []*Project {
	o.mu.RLock()
	defer o.mu.RUnlock()
	var out []*Project
	for _, p := range o.projects {
		if !p.Deleted {
			out = append(out, p)
		}
	}
	return out
}

func liveTeams(o *Org) []*Team {
	o.mu.RLock()
	defer o.mu.RUnlock()
	var out []*Team
	for _, t := range o.teams {
		if !t.Deleted {
			out = append(out, t)
		}
	}
	return out
}

// allProjects pages GetProjects with the continuation token, as the
// collector does.
func allProjects(t *testing.T, cc core.Client, top *int) ([]core.TeamProjectReference, []int) {
	t.Helper()
	var all []core.TeamProjectReference
	var sizes []int
	args := core.GetProjectsArgs{Top: top}
	for {
		page, err := cc.GetProjects(context.Background(), args)
		if err != nil {
			t.Fatalf("get projects page %d: %v", len(sizes), err)
		}
		all = append(all, page.Value...)
		sizes = append(sizes, len(page.Value))
		if page.ContinuationToken == "" {
			return all, sizes
		}
		n, err := strconv.Atoi(page.ContinuationToken)
		if err != nil {
			t.Fatalf("projects continuation token %q is not a number", page.ContinuationToken)
		}
		args.ContinuationToken = &n
	}
}

func TestCoreProjects(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Preset: "medium"})
	cc := mustClient(t, core.NewClient, patConn(s, "readonly"))
	want := liveProjects(s.Org())
	if len(want) != s.Stats().Counts.Projects {
		t.Fatalf("%d live projects, Stats says %d", len(want), s.Stats().Counts.Projects)
	}
	ctx := context.Background()

	t.Run("continuation token", func(t *testing.T) {
		for _, top := range []*int{nil, ptrTo(7), ptrTo(100), ptrTo(1000)} {
			got, sizes := allProjects(t, cc, top)
			pageSize := defaultTop
			if top != nil {
				pageSize = *top
			}
			if len(got) != len(want) || len(sizes) != (len(want)+pageSize-1)/pageSize {
				t.Fatalf("top %d: %d projects in pages %v, want %d", pageSize, len(got), sizes, len(want))
			}
			for i, p := range got {
				if p.Id.String() != want[i].ID || *p.Name != want[i].Name || string(*p.Visibility) != want[i].Visibility ||
					string(*p.State) != "wellFormed" || *p.Description != want[i].Description || *p.Revision != uint64(want[i].Revision) {
					t.Fatalf("top %d: project %d is %+v, want %s %s", pageSize, i, p, want[i].ID, want[i].Name)
				}
			}
		}
	})
	t.Run("top and skip", func(t *testing.T) {
		for _, tc := range []struct{ top, skip, n int }{{30, 0, 30}, {30, 90, 10}, {30, 100, 0}, {0, 0, 0}, {5, 1000, 0}} {
			page, err := cc.GetProjects(ctx, core.GetProjectsArgs{Top: &tc.top, Skip: &tc.skip})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Value) != tc.n {
				t.Errorf("$top=%d&$skip=%d: %d projects, want %d", tc.top, tc.skip, len(page.Value), tc.n)
			}
			if tc.n > 0 && page.Value[0].Id.String() != want[tc.skip].ID {
				t.Errorf("$skip=%d starts at %s, want %s", tc.skip, *page.Value[0].Name, want[tc.skip].Name)
			}
		}
		_, err := cc.GetProjects(ctx, core.GetProjectsArgs{Top: ptrTo(-1)})
		wantStatus(t, err, http.StatusBadRequest, "$top=-1")
		_, err = cc.GetProjects(ctx, core.GetProjectsArgs{ContinuationToken: ptrTo(-5)})
		wantStatus(t, err, http.StatusBadRequest, "continuationToken=-5")
	})
	t.Run("state filter", func(t *testing.T) {
		for _, tc := range []struct {
			state core.ProjectState
			n     int
		}{{core.ProjectStateValues.WellFormed, 100}, {core.ProjectStateValues.All, 100}, {core.ProjectStateValues.Deleting, 0}, {core.ProjectStateValues.New, 0}} {
			page, err := cc.GetProjects(ctx, core.GetProjectsArgs{StateFilter: &tc.state})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Value) != min(tc.n, len(want)) {
				t.Errorf("stateFilter %s: %d projects, want %d", tc.state, len(page.Value), tc.n)
			}
		}
	})
	t.Run("get one", func(t *testing.T) {
		for _, p := range want[:3] {
			for _, key := range []string{p.ID, p.Name} {
				got, err := cc.GetProject(ctx, core.GetProjectArgs{ProjectId: &key, IncludeCapabilities: ptrTo(true)})
				if err != nil {
					t.Fatalf("get project %q: %v", key, err)
				}
				if got.Id.String() != p.ID || (*got.Capabilities)["processTemplate"]["templateName"] != p.Process || got.DefaultTeam == nil {
					t.Fatalf("get project %q: %+v", key, got)
				}
			}
		}
		_, err := cc.GetProject(ctx, core.GetProjectArgs{ProjectId: ptrTo("no-such-project")})
		wantStatus(t, err, http.StatusNotFound, "unknown project")
	})
}

// TestCoreTopIsCapped checks that a $top over 1000 is quietly lowered, so
// that a client must page until a short page (teams) or the token runs out
// (projects).
func TestCoreTopIsCapped(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Spec: &wideSpec})
	cc := mustClient(t, core.NewClient, patConn(s, "readonly"))
	counts := s.Stats().Counts
	if counts.Projects <= maxTop || counts.Teams <= maxTop {
		t.Fatalf("the wide spec has %d projects and %d teams, want over %d", counts.Projects, counts.Teams, maxTop)
	}
	ctx := context.Background()
	page, err := cc.GetProjects(ctx, core.GetProjectsArgs{Top: ptrTo(5000)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Value) != maxTop || page.ContinuationToken != strconv.Itoa(maxTop) {
		t.Fatalf("$top=5000: %d projects, token %q; want %d and %q", len(page.Value), page.ContinuationToken, maxTop, strconv.Itoa(maxTop))
	}
	projects, sizes := allProjects(t, cc, ptrTo(5000))
	if len(projects) != counts.Projects || !slices.Equal(sizes, []int{maxTop, counts.Projects - maxTop}) {
		t.Fatalf("paged %d projects in pages %v, want %d", len(projects), sizes, counts.Projects)
	}

	teams, err := cc.GetAllTeams(ctx, core.GetAllTeamsArgs{Top: ptrTo(5000)})
	if err != nil {
		t.Fatal(err)
	}
	if len(*teams) != maxTop {
		t.Fatalf("GetAllTeams $top=5000: %d teams, want the cap %d", len(*teams), maxTop)
	}
	rest, err := cc.GetAllTeams(ctx, core.GetAllTeamsArgs{Top: ptrTo(5000), Skip: ptrTo(len(*teams))})
	if err != nil {
		t.Fatal(err)
	}
	if len(*teams)+len(*rest) != counts.Teams {
		t.Fatalf("GetAllTeams: %d + %d teams, Stats says %d", len(*teams), len(*rest), counts.Teams)
	}
}

func TestCoreTeamsAndMembers(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Preset: "medium"})
	cc := mustClient(t, core.NewClient, patConn(s, "readonly"))
	counts := s.Stats().Counts
	o := s.Org()
	teams := liveTeams(o)
	ctx := context.Background()

	t.Run("all teams", func(t *testing.T) {
		t.Parallel()
		seen := map[string]bool{}
		var sizes []int
		for skip := 0; ; {
			page, err := cc.GetAllTeams(ctx, core.GetAllTeamsArgs{Skip: &skip})
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(*page))
			for _, tm := range *page {
				if seen[tm.Id.String()] {
					t.Fatalf("team %s listed twice", tm.Id)
				}
				seen[tm.Id.String()] = true
			}
			skip += len(*page)
			if len(*page) < defaultTop {
				break
			}
		}
		if len(seen) != counts.Teams || len(sizes) < 3 {
			t.Fatalf("paged %d teams in pages %v, Stats says %d", len(seen), sizes, counts.Teams)
		}
	})
	t.Run("teams per project", func(t *testing.T) {
		t.Parallel()
		total := 0
		for _, p := range liveProjects(o) {
			var got []core.WebApiTeam
			for skip := 0; ; skip++ {
				page, err := cc.GetTeams(ctx, core.GetTeamsArgs{ProjectId: &p.ID, Top: ptrTo(1), Skip: &skip})
				if err != nil {
					t.Fatal(err)
				}
				if len(*page) == 0 {
					break
				}
				got = append(got, *page...)
			}
			var want []string
			for _, tm := range teams {
				if tm.ProjectID == p.ID {
					want = append(want, tm.ID)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("project %s: %d teams, want %d", p.Name, len(got), len(want))
			}
			for i, tm := range got {
				if tm.Id.String() != want[i] || tm.ProjectId.String() != p.ID || *tm.ProjectName != p.Name {
					t.Fatalf("project %s: team %d is %+v", p.Name, i, tm)
				}
			}
			total += len(got)
		}
		if total != counts.Teams {
			t.Fatalf("teams over all projects: %d, Stats says %d", total, counts.Teams)
		}
		_, err := cc.GetTeams(ctx, core.GetTeamsArgs{ProjectId: ptrTo(uuid.NewString())})
		wantStatus(t, err, http.StatusNotFound, "teams of an unknown project")
	})
	t.Run("members with admins", func(t *testing.T) {
		t.Parallel()
		members, admins, wantAdmins := 0, 0, 0
		for _, tm := range teams {
			o.mu.RLock()
			want := o.directMembers(tm.Group)
			for _, m := range want {
				if tm.Admins[m.seq] {
					wantAdmins++
				}
			}
			o.mu.RUnlock()
			var got []string
			for skip := 0; ; skip += 40 {
				page, err := cc.GetTeamMembersWithExtendedProperties(ctx, core.GetTeamMembersWithExtendedPropertiesArgs{
					ProjectId: &tm.ProjectID, TeamId: &tm.ID, Top: ptrTo(40), Skip: &skip,
				})
				if err != nil {
					t.Fatalf("members of team %s: %v", tm.Name, err)
				}
				for _, m := range *page {
					sub := o.byDescriptor[*m.Identity.Descriptor]
					if sub == nil || *m.Identity.Id != sub.ID || *m.Identity.DisplayName != sub.DisplayName {
						t.Fatalf("team %s member %+v is not the subject %+v", tm.Name, *m.Identity, sub)
					}
					if *m.IsTeamAdmin != tm.Admins[sub.seq] {
						t.Fatalf("team %s member %s: isTeamAdmin %v", tm.Name, sub.DisplayName, *m.IsTeamAdmin)
					}
					if sub.IsGroup() != (m.Identity.IsContainer != nil && *m.Identity.IsContainer) {
						t.Fatalf("team %s member %s: isContainer %v", tm.Name, sub.DisplayName, m.Identity.IsContainer)
					}
					if *m.IsTeamAdmin {
						admins++
					}
					got = append(got, sub.Descriptor)
				}
				if len(*page) < 40 {
					break
				}
			}
			wantDescs := make([]string, len(want))
			for i, m := range want {
				wantDescs[i] = m.Descriptor
			}
			if !slices.Equal(got, wantDescs) {
				t.Fatalf("team %s: members %d, want %d", tm.Name, len(got), len(wantDescs))
			}
			members += len(got)
		}
		if members != counts.TeamMembers {
			t.Errorf("team members over all teams: %d, Stats says %d", members, counts.TeamMembers)
		}
		if admins != wantAdmins || admins == 0 {
			t.Errorf("%d team administrators listed, want %d", admins, wantAdmins)
		}
	})
	t.Run("team by name", func(t *testing.T) {
		t.Parallel()
		var quoted *Team
		for _, tm := range teams {
			if tm.Name == `Team Ümlaut, "Quoted"` {
				quoted = tm
			}
		}
		if quoted == nil {
			t.Fatal(`medium has no team named Team Ümlaut, "Quoted"`)
		}
		p := o.projectByID[quoted.ProjectID]
		got, err := cc.GetTeam(ctx, core.GetTeamArgs{ProjectId: &p.Name, TeamId: &quoted.Name})
		if err != nil || got.Id.String() != quoted.ID {
			t.Fatalf("get team by name: %v, %v", got, err)
		}
		ms, err := cc.GetTeamMembersWithExtendedProperties(ctx, core.GetTeamMembersWithExtendedPropertiesArgs{ProjectId: &p.Name, TeamId: &quoted.Name})
		if err != nil || len(*ms) != min(defaultTop, len(o.directMembers(quoted.Group))) {
			t.Fatalf("members of team by name: %v", err)
		}
		_, err = cc.GetTeamMembersWithExtendedProperties(ctx, core.GetTeamMembersWithExtendedPropertiesArgs{ProjectId: &p.ID, TeamId: ptrTo(uuid.NewString())})
		wantStatus(t, err, http.StatusNotFound, "members of an unknown team")
	})
}

func TestGitRepositories(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Preset: "medium"})
	gc := mustClient(t, git.NewClient, patConn(s, "readonly"))
	o := s.Org()
	want := s.Stats().Counts.Repositories
	ctx := context.Background()
	all, err := gc.GetRepositories(ctx, git.GetRepositoriesArgs{})
	if err != nil {
		t.Fatal(err)
	}
	if len(*all) != want {
		t.Fatalf("%d repositories organization-wide, Stats says %d", len(*all), want)
	}
	byID := map[string]git.GitRepository{}
	for _, r := range *all {
		byID[r.Id.String()] = r
	}
	if len(byID) != want {
		t.Fatalf("repositories listed twice")
	}
	total := 0
	for i, p := range liveProjects(o) {
		key := p.ID
		if i < 3 {
			key = p.Name // includes the non-Latin names
		}
		repos, err := gc.GetRepositories(ctx, git.GetRepositoriesArgs{Project: &key})
		if err != nil {
			t.Fatalf("repositories of %q: %v", key, err)
		}
		for _, r := range *repos {
			if r.Project.Id.String() != p.ID || *r.Project.Name != p.Name {
				t.Fatalf("repository %s of %s names project %s", *r.Name, p.Name, *r.Project.Name)
			}
			if _, ok := byID[r.Id.String()]; !ok {
				t.Fatalf("repository %s is not in the organization-wide list", *r.Name)
			}
		}
		if len(*repos) == 0 {
			t.Fatalf("project %s has no repository; every project gets one", p.Name)
		}
		total += len(*repos)
	}
	if total != want {
		t.Fatalf("repositories over all projects: %d, organization-wide: %d", total, want)
	}
	disabled := 0
	for _, r := range *all {
		if *r.IsDisabled {
			disabled++
		}
	}
	if disabled != 1 {
		t.Errorf("%d disabled repositories, the generator makes one", disabled)
	}
	_, err = gc.GetRepositories(ctx, git.GetRepositoriesArgs{Project: ptrTo("no-such-project")})
	wantStatus(t, err, http.StatusNotFound, "repositories of an unknown project")
}

func TestAccountsOfTheProfile(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	conn := patConn(s, "readonly")
	pc := mustClient(t, profile.NewClient, conn)
	ac := mustClient(t, accounts.NewClient, conn)
	ctx := context.Background()
	me, err := pc.GetProfile(ctx, profile.GetProfileArgs{Id: ptrTo("me")})
	if err != nil {
		t.Fatal(err)
	}
	o := s.Org()
	if me.Id.String() != o.admin.ID {
		t.Fatalf("profile id %s, want the administrator %s", me.Id, o.admin.ID)
	}
	for _, args := range []accounts.GetAccountsArgs{{MemberId: me.Id}, {OwnerId: me.Id}} {
		accts, err := ac.GetAccounts(ctx, args)
		if err != nil {
			t.Fatal(err)
		}
		if len(*accts) != 1 || *(*accts)[0].AccountName != o.Name || (*accts)[0].AccountId.String() != o.ID {
			t.Fatalf("accounts of %s: %+v", me.Id, *accts)
		}
	}
	none, err := ac.GetAccounts(ctx, accounts.GetAccountsArgs{MemberId: ptrTo(uuid.New())})
	if err != nil || len(*none) != 0 {
		t.Fatalf("accounts of a stranger: %v, %v", none, err)
	}
	_, err = ac.GetAccounts(ctx, accounts.GetAccountsArgs{})
	wantStatus(t, err, http.StatusBadRequest, "accounts without memberId or ownerId")
	_, err = pc.GetProfile(ctx, profile.GetProfileArgs{Id: ptrTo(uuid.NewString())})
	wantStatus(t, err, http.StatusNotFound, "profile of a stranger")
}

package collect

import (
	"context"
	"strconv"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/git"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Projects, teams, team members and repositories.

// projectPage asks for many projects per call; the service's continuation
// token (the next $skip) says whether more remain, whatever it caps $top at.
const projectPage = 1000

// teamPage is the documented default page of the team member API. It has
// no continuation token, so a page shorter than the default is the last one
// (a server cap on $top is never below its own default).
const teamPage = 100

// teamListPage is what a team list asks for per page. The service may cap
// $top silently, so a short page ends the list only once a full page has
// shown the cap is not below teamListPage; before that, only an empty page
// does (and holds whatever the cap is).
const teamListPage = 1000

// pageTeams pages a team list by $top/$skip. The pages that expected teams
// fill (what the store holds; 0 when unknown) are asked side by side: the
// list has no continuation token to chain, and a full sync or an incremental
// run would otherwise wait one round trip a page. A prefetched page is used
// only where the pages before it were full, so a service capping $top
// lower is read on one page after another from where the cap showed.
func pageTeams(ctx context.Context, expected int, list func(top, skip int) ([]core.WebApiTeam, error), each func(core.WebApiTeam) error) error {
	ahead := make([][]core.WebApiTeam, max(expected, 0)/teamListPage+1)
	if len(ahead) > 1 {
		pages := make([]int, len(ahead))
		for i := range pages {
			pages[i] = i
		}
		if err := forEach(ctx, len(pages), pages, func(_ context.Context, i int) error {
			teams, err := list(teamListPage, i*teamListPage)
			ahead[i] = teams
			return err
		}); err != nil {
			return err
		}
	}
	full := false // a page held teamListPage teams: the cap is not below it
	for skip := 0; ; {
		var teams []core.WebApiTeam
		if i := skip / teamListPage; len(ahead) > 1 && skip%teamListPage == 0 && i < len(ahead) {
			teams = ahead[i]
		} else {
			var err error
			if teams, err = list(teamListPage, skip); err != nil {
				return err
			}
		}
		if len(teams) == 0 {
			return nil
		}
		for _, t := range teams {
			if t.Id == nil {
				continue
			}
			if err := each(t); err != nil {
				return err
			}
		}
		if len(teams) < teamListPage && full {
			return nil
		}
		full = full || len(teams) >= teamListPage
		skip += len(teams)
	}
}

func readProjects(ctx context.Context, e *env) error {
	var token *int
	top := projectPage
	for {
		page, err := e.c.Core.GetProjects(ctx, core.GetProjectsArgs{Top: &top, ContinuationToken: token})
		if err != nil {
			return describe("list projects", "core", err)
		}
		for _, p := range page.Value {
			if p.Id == nil {
				continue
			}
			state, vis := "", ""
			if p.State != nil {
				state = string(*p.State)
			}
			if p.Visibility != nil {
				vis = string(*p.Visibility)
			}
			row := snapshot.Row{p.Id.String(), str(p.Name), str(p.Description), state, vis}
			if err := e.out.put(ctx, snapshot.Projects, "projects", row); err != nil {
				return err
			}
		}
		if page.ContinuationToken == "" {
			return nil
		}
		n, err := strconv.Atoi(page.ContinuationToken)
		if err != nil {
			return describe("list projects", "core", err)
		}
		token = &n
	}
}

func readRepositories(ctx context.Context, e *env) error {
	repos, err := e.c.Git.GetRepositories(ctx, git.GetRepositoriesArgs{})
	if err != nil {
		return describe("list repositories", "git", err)
	}
	for _, r := range deref2(repos) {
		if r.Id == nil {
			continue
		}
		project := ""
		if r.Project != nil && r.Project.Id != nil {
			project = r.Project.Id.String()
		}
		row := snapshot.Row{r.Id.String(), project, str(r.Name), str(r.DefaultBranch), flag(r.IsDisabled)}
		if err := e.out.put(ctx, snapshot.Repositories, "repositories", row); err != nil {
			return err
		}
	}
	return nil
}

// teamRef is what the team members collector needs of a team.
type teamRef struct{ id, project string }

func readTeams(ctx context.Context, e *env) error {
	err := pageTeams(ctx, 0, func(top, skip int) ([]core.WebApiTeam, error) {
		teams, err := e.c.Core.GetAllTeams(ctx, core.GetAllTeamsArgs{Top: &top, Skip: &skip})
		return deref2(teams), err
	}, func(t core.WebApiTeam) error {
		ref := teamRef{id: t.Id.String()}
		if t.ProjectId != nil {
			ref.project = t.ProjectId.String()
		}
		e.mu.Lock()
		e.teams = append(e.teams, ref)
		e.mu.Unlock()
		return e.out.put(ctx, snapshot.Teams, "teams", snapshot.Row{ref.id, ref.project, str(t.Name), str(t.Description)})
	})
	if err != nil {
		return describe("list teams", "core", err)
	}
	return nil
}

func readTeamMembers(ctx context.Context, e *env) error {
	e.mu.Lock()
	teams := e.teams
	e.mu.Unlock()
	return forEach(ctx, e.c.conc, teams, e.readTeam)
}

// readTeam reads one team's members with their administrator flag.
func (e *env) readTeam(ctx context.Context, t teamRef) error {
	rows, found, err := e.teamMembers(ctx, t)
	if err != nil || !found {
		return err
	}
	return e.out.replace(ctx, snapshot.TeamMembers, "team members", t.id, rows)
}

// teamMembers reads one team's members through the team members API; found
// is false when the team was deleted since it was listed.
func (e *env) teamMembers(ctx context.Context, t teamRef) (rows []snapshot.Row, found bool, err error) {
	top := teamPage
	for skip := 0; ; {
		ms, err := e.c.Core.GetTeamMembersWithExtendedProperties(ctx, core.GetTeamMembersWithExtendedPropertiesArgs{
			ProjectId: &t.project, TeamId: &t.id, Top: &top, Skip: &skip,
		})
		if status, _ := statusOf(err); status == 404 {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, describe("read the members of team "+t.id, "core", err)
		}
		for _, m := range deref2(ms) {
			if m.Identity == nil || m.Identity.Descriptor == nil {
				continue
			}
			rows = append(rows, snapshot.Row{t.id, *m.Identity.Descriptor, flag(m.IsTeamAdmin)})
		}
		if len(deref2(ms)) < top {
			return rows, true, nil
		}
		skip += len(deref2(ms))
	}
}

package collect

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/identity"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// The re-reads of groups, their members, group lists of scopes and teams.

// many keys per call.
func (r *incRun) resolveGroupKeys(ctx context.Context) error {
	var unknown []uuid.UUID
	for k := range r.p.groupKeys {
		if d, ok := r.ids.descriptorOf(ctx, k); ok {
			r.addGroup(d)
		} else if id, err := uuid.Parse(k); err == nil {
			unknown = append(unknown, id)
		}
	}
	return r.readGroupsByKey(ctx, unknown)
}

// readGroupsByKey resolves groups' storage keys to descriptors through the
// Identities API, many keys per call, and marks the groups to be re-read.
func (r *incRun) readGroupsByKey(ctx context.Context, keys []uuid.UUID) error {
	return forEach(ctx, r.c.conc, chunks(keys, identityBatch), func(ctx context.Context, batch []uuid.UUID) error {
		ids, err := r.c.Identity.ReadIdentityBatch(ctx, identity.ReadIdentityBatchArgs{BatchInfo: &identity.IdentityBatchInfo{
			IdentityIds: &batch, QueryMembership: &queryNone,
		}})
		if err != nil {
			return describe("resolve groups' storage keys through the Identities API", "identity", err)
		}
		for _, id := range deref2(ids) {
			d := str(id.SubjectDescriptor)
			if d == "" || id.Id == nil {
				continue // gone already: nothing the store holds under that key either
			}
			r.ids.learn(d, id.Id.String(), str(id.Descriptor))
			r.addGroup(d)
			if err := r.out.identity(ctx, d, id.Id.String(), str(id.Descriptor)); err != nil {
				return err
			}
		}
		return nil
	})
}

// rereadScopes re-reads the group lists of the scopes where projects
// changed or groups were created outside projects (rereadCreated does
// the projects' new groups).
func (r *incRun) rereadScopes(ctx context.Context) error {
	var scopes []string
	for s := range r.p.scopes {
		scopes = append(scopes, s)
	}
	return r.listScopes(ctx, scopes)
}

// rereadCreated finds the groups created in projects, named by their
// Group.CreateGroups entries, once the team lists are in: one named as a
// team the lists found new in its project is that team's group, read by
// its id, the team's; for any other the project's group list is read. A
// team and a group of a project cannot share a name, in the service as in
// the simulator.
func (r *incRun) rereadCreated(ctx context.Context) error {
	var ids []uuid.UUID
	var scopes []string
	r.mu.Lock()
	for project, names := range r.p.created {
		for _, name := range names {
			_, inScope, _ := strings.Cut(name, `]\`) // "[Project]\Name"
			if id, ok := r.newTeams[teamKey(project, inScope)]; ok && inScope != "" {
				ids = append(ids, id)
			} else if !r.p.scopes[project] && !slices.Contains(scopes, project) {
				scopes = append(scopes, project) // not listed by rereadScopes
			}
		}
	}
	r.mu.Unlock()
	if err := r.readGroupsByKey(ctx, ids); err != nil {
		return err
	}
	return r.listScopes(ctx, scopes)
}

// listScopes re-reads the group lists of scopes (project ids, "" for the
// organization) and marks the groups a scope no longer has (they are
// closed as gone after a lookup). New groups have their members read;
// existing ones only their row. Scopes are listed side by side; the full
// list, whose pages follow one another, is read instead only when the
// scopes would cost several times its requests.
func (r *incRun) listScopes(ctx context.Context, scopes []string) error {
	if len(scopes) == 0 {
		return nil
	}
	r.mu.Lock()
	groupCount := len(r.groups)
	r.mu.Unlock()
	if len(scopes) > 3*(groupCount/graphPage+1) {
		return r.rereadGroupList(ctx, "", nil)
	}
	return forEach(ctx, r.c.conc, scopes, func(ctx context.Context, project string) error {
		id := project
		if id == "" {
			if r.orgID == "" {
				return r.rereadGroupList(ctx, "", nil)
			}
			id = r.orgID
		}
		// A scope descriptor is "scp." and the scope's id in unpadded base64url.
		scope := "scp." + base64.RawURLEncoding.EncodeToString([]byte(id))
		return r.rereadGroupList(ctx, scope, &project)
	})
}

// teamKey names a team by its project and name, as rereadCreated matches
// them.
func teamKey(project, name string) string {
	return strings.ToLower(project) + `\` + strings.ToLower(name)
}

// graphPage is how many subjects a Graph list page holds.
const graphPage = 500

// rereadGroupList lists the groups of a scope (all groups when scope is "")
// and reconciles them with the store: rows are written, new groups and
// groups the list no longer has are re-read.
func (r *incRun) rereadGroupList(ctx context.Context, scope string, project *string) error {
	listed := map[string]bool{}
	pass := r.out.pass("groups")
	err := pageGraph(ctx, "list groups", pass.reset, func(tok *string) (*string, error) {
		args := graph.ListGroupsArgs{ContinuationToken: tok}
		if scope != "" {
			args.ScopeDescriptor = &scope
		}
		page, err := r.c.Graph.ListGroups(ctx, args)
		if status, _ := statusOf(err); status == http.StatusNotFound {
			return nil, nil // the project is gone, and its groups with it
		}
		if err != nil {
			return nil, err
		}
		for _, g := range deref2(page.GraphGroups) {
			row := groupRow(g)
			d := row[0].(string)
			listed[d] = true
			r.mu.Lock()
			_, known := r.groups[d]
			r.subjects[d] = true
			r.mu.Unlock()
			if !known {
				r.addGroup(d) // new: read its members too
			}
			if err := pass.put(ctx, snapshot.Groups, row); err != nil {
				return nil, err
			}
		}
		return next(page.ContinuationToken), nil
	})
	if err != nil {
		return err
	}
	// Groups the list no longer has are gone (confirmed by the lookup).
	r.mu.Lock()
	defer r.mu.Unlock()
	for d, sc := range r.groups {
		if !listed[d] && (project == nil || sc == strings.ToLower(*project)) {
			r.p.groups[d] = true
		}
	}
	return nil
}

// rereadTeamLists re-reads the teams of projects whose groups changed, and
// closes the teams a project no longer has. With more projects than the
// full team list has pages, it reads the full list instead. A new team's
// members are those of its group, which is new too and read with the
// other groups.
func (r *incRun) rereadTeamLists(ctx context.Context) error {
	if len(r.p.teamsOf) == 0 {
		return nil
	}
	r.mu.Lock()
	teamCount := len(r.teams)
	r.mu.Unlock()
	if len(r.p.teamsOf) > 3*(teamCount/teamListPage+2) {
		return r.reconcileTeams(ctx, nil, teamCount, func(top, skip int) (*[]core.WebApiTeam, error) {
			return r.c.Core.GetAllTeams(ctx, core.GetAllTeamsArgs{Top: &top, Skip: &skip})
		})
	}
	var projects []string
	for p := range r.p.teamsOf {
		projects = append(projects, p)
	}
	return forEach(ctx, r.c.conc, projects, func(ctx context.Context, project string) error {
		return r.reconcileTeams(ctx, &project, 0, func(top, skip int) (*[]core.WebApiTeam, error) {
			return r.c.Core.GetTeams(ctx, core.GetTeamsArgs{ProjectId: &project, Top: &top, Skip: &skip})
		})
	})
}

// reconcileTeams pages through a team list (of one project, or all) and
// makes the store's teams match it; expected is how many it likely holds.
func (r *incRun) reconcileTeams(ctx context.Context, project *string, expected int, list func(top, skip int) (*[]core.WebApiTeam, error)) error {
	listed := map[string]bool{}
	err := pageTeams(ctx, expected, func(top, skip int) ([]core.WebApiTeam, error) {
		teams, err := list(top, skip)
		if status, _ := statusOf(err); status == http.StatusNotFound {
			return nil, nil // the project is gone
		}
		return deref2(teams), err
	}, func(t core.WebApiTeam) error {
		id, pid := t.Id.String(), ""
		if t.ProjectId != nil {
			pid = t.ProjectId.String()
		} else if project != nil {
			pid = *project
		}
		listed[id] = true
		row := snapshot.Row{id, pid, str(t.Name), str(t.Description)}
		r.mu.Lock()
		if _, known := r.teams[id]; !known {
			r.newTeams[teamKey(pid, str(t.Name))] = *t.Id
		}
		r.teams[id] = row
		r.mu.Unlock()
		return r.out.put(ctx, snapshot.Teams, "teams", row)
	})
	if err != nil {
		return describe("list teams", "core", err)
	}
	var gone []string
	r.mu.Lock()
	for id, row := range r.teams {
		if !listed[id] && (project == nil || row[1] == *project) {
			gone = append(gone, id)
			delete(r.teams, id)
		}
	}
	r.mu.Unlock()
	return r.out.do(ctx, func(w *snapshot.Writer) error {
		for _, id := range gone {
			if err := w.Delete(snapshot.Teams, id); err != nil {
				return err
			}
			if err := w.DeleteScope(snapshot.TeamMembers, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// rereadGroups re-reads the groups collected so far and not read yet: first
// their metadata in one lookup (a group not found is gone), then their
// direct members in bulk; members the store does not know yet are looked
// up and recorded, and the members of team groups become team members.
func (r *incRun) rereadGroups(ctx context.Context) error {
	var all []string
	r.mu.Lock()
	for d := range r.p.groups {
		if !r.groupsRead[d] {
			r.groupsRead[d] = true
			all = append(all, d)
		}
	}
	r.mu.Unlock()
	if len(all) == 0 {
		return nil
	}
	sort.Strings(all)
	subjects, err := r.lookup(ctx, all)
	if err != nil {
		return err
	}
	var live []groupRef
	for _, d := range all {
		s, ok := subjects[d]
		if !ok {
			if err := r.groupGone(ctx, d); err != nil {
				return err
			}
			continue
		}
		g := graph.GraphGroup{Descriptor: s.Descriptor, DisplayName: s.DisplayName, Domain: s.Domain, Origin: s.Origin,
			OriginId: s.OriginId, PrincipalName: s.PrincipalName, MailAddress: s.MailAddress, Description: s.Description}
		if err := r.out.put(ctx, snapshot.Groups, "groups", groupRow(g)); err != nil {
			return err
		}
		live = append(live, groupRef{descriptor: d, subjectType: subjectType(d)})
		// A renamed team group renames its team.
		if t := r.teamOfGroup(ctx, d); t != "" && r.opts.Teams {
			r.mu.Lock()
			if row := r.teams[t]; row[2] != str(s.DisplayName) || row[3] != str(s.Description) {
				r.renamedTeams[t] = true
			}
			r.mu.Unlock()
		}
	}
	var mu sync.Mutex
	members := map[string]bool{}
	err = r.groupMembers(ctx, live, func(ctx context.Context, group string, rows []snapshot.Row) error {
		mu.Lock()
		for _, row := range rows {
			members[row[1].(string)] = true
		}
		mu.Unlock()
		if err := r.replaceMembers(ctx, group, rows); err != nil {
			return err
		}
		// Team members are derived once the team lists are in (a group read
		// now may back a team that list has not reached yet).
		r.mu.Lock()
		r.readMembers[group] = rows
		r.mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	return r.recordNewSubjects(ctx, members)
}

// graphSubjectFields is a Graph subject of any kind as subject lookup
// answers it (the v7 GraphSubject type keeps too few of its fields).
type graphSubjectFields struct {
	Descriptor        *string `json:"descriptor"`
	DisplayName       *string `json:"displayName"`
	Domain            *string `json:"domain"`
	Origin            *string `json:"origin"`
	OriginId          *string `json:"originId"`
	PrincipalName     *string `json:"principalName"`
	MailAddress       *string `json:"mailAddress"`
	Description       *string `json:"description"`
	MetaType          *string `json:"metaType"`
	DirectoryAlias    *string `json:"directoryAlias"`
	ApplicationId     *string `json:"applicationId"`
	IsDeletedInOrigin *bool   `json:"isDeletedInOrigin"`
}

var locSubjectLookup = uuid.MustParse("4dd4d168-11f2-48c4-83e8-756fa0de027c")

// lookup resolves descriptors through Graph subject lookup, up to 1,000 per
// call; the answer leaves out subjects that no longer exist.
func (r *incRun) lookup(ctx context.Context, descriptors []string) (map[string]graphSubjectFields, error) {
	out := map[string]graphSubjectFields{}
	var mu sync.Mutex
	err := forEach(ctx, r.c.conc, chunks(descriptors, 1000), func(ctx context.Context, batch []string) error {
		keys := make([]graph.GraphSubjectLookupKey, len(batch))
		for i := range batch {
			keys[i] = graph.GraphSubjectLookupKey{Descriptor: &batch[i]}
		}
		var res struct {
			Value map[string]graphSubjectFields `json:"value"`
		}
		body := map[string]any{"lookupKeys": keys}
		if err := sendJSONBody(ctx, r.c.graph, http.MethodPost, locSubjectLookup, "7.1-preview.1", body, &res); err != nil {
			return describe("look up subjects", "graph", err)
		}
		mu.Lock()
		for d, s := range res.Value {
			out[d] = s
		}
		mu.Unlock()
		return nil
	})
	return out, err
}

// teamOfGroup is the team a group backs (the team id is the group's
// storage key), or "".
func (r *incRun) teamOfGroup(ctx context.Context, group string) string {
	key := r.ids.storageKeyOf(ctx, group)
	if key == "" {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.teams[key]; ok {
		return key
	}
	return ""
}

// groupGone closes a deleted group: its row, its memberships in both
// directions (the groups that held it are re-read), its team and its rule.
func (r *incRun) groupGone(ctx context.Context, group string) error {
	team := r.teamOfGroup(ctx, group)
	return r.out.do(ctx, func(w *snapshot.Writer) error {
		if err := w.Delete(snapshot.Groups, group); err != nil {
			return err
		}
		if err := w.DeleteScope(snapshot.Memberships, group); err != nil {
			return err
		}
		if err := leaveAllGroups(w, group); err != nil {
			return err
		}
		if team != "" {
			if err := w.Delete(snapshot.Teams, team); err != nil {
				return err
			}
			if err := w.DeleteScope(snapshot.TeamMembers, team); err != nil {
				return err
			}
		}
		return w.Delete(snapshot.GroupRules, group)
	})
}

// deriveTeamMembers mirrors a team group's members into the team's members.
// Administrators are permissions, not memberships: a member keeps the flag
// it had, a new member has none (granting it is a security entry, which
// makes the run read the team through the team API).
func (r *incRun) deriveTeamMembers(ctx context.Context, group string, rows []snapshot.Row) error {
	if !r.opts.Teams {
		return nil
	}
	team := r.teamOfGroup(ctx, group)
	if team == "" {
		return nil
	}
	return r.query(ctx, func(w *snapshot.Writer) error {
		admin := map[string]int64{}
		if err := w.CurrentWhere(snapshot.TeamMembers, "team_id", team, func(row snapshot.Row) error {
			admin[row[1].(string)] = row[2].(int64)
			return nil
		}); err != nil {
			return err
		}
		out := make([]snapshot.Row, 0, len(rows))
		for _, m := range rows {
			d := m[1].(string)
			out = append(out, snapshot.Row{team, d, admin[d]})
		}
		return w.ReplaceScope(snapshot.TeamMembers, []any{team}, out)
	})
}

// recordNewSubjects looks up the members the store has no row for (a new
// project's build identity, a principal added to a group) and records them.
func (r *incRun) recordNewSubjects(ctx context.Context, members map[string]bool) error {
	// Only subjects met for the first time in this run can be missing
	// from the store; ask the store about those alone.
	var candidates []string
	r.mu.Lock()
	for d := range members {
		if !r.subjects[d] && !r.ids.known(ctx, d) {
			candidates = append(candidates, d)
		}
	}
	r.mu.Unlock()
	var unknown []string
	err := r.query(ctx, func(w *snapshot.Writer) error {
		for _, d := range candidates {
			t := snapshot.Accounts
			if st := subjectType(d); st == "vssgp" || st == "aadgp" {
				t = snapshot.Groups
			}
			ok, err := w.Exists(t, d)
			if err != nil {
				return err
			}
			if !ok {
				unknown = append(unknown, d)
			}
		}
		return nil
	})
	if err != nil || len(unknown) == 0 {
		return err
	}
	sort.Strings(unknown)
	subjects, err := r.lookup(ctx, unknown)
	if err != nil {
		return err
	}
	for _, s := range subjects {
		d := str(s.Descriptor)
		var row snapshot.Row
		t := snapshot.Accounts
		switch subjectType(d) {
		case "vssgp", "aadgp":
			t = snapshot.Groups
			row = groupRow(graph.GraphGroup{Descriptor: s.Descriptor, DisplayName: s.DisplayName, Domain: s.Domain, Origin: s.Origin,
				OriginId: s.OriginId, PrincipalName: s.PrincipalName, MailAddress: s.MailAddress, Description: s.Description})
		default:
			row = accountRow(d, str(s.Origin), str(s.OriginId), str(s.PrincipalName), str(s.MailAddress), str(s.DisplayName),
				str(s.Domain), str(s.MetaType), str(s.DirectoryAlias), str(s.ApplicationId), s.IsDeletedInOrigin)
		}
		if err := r.out.put(ctx, t, "accounts", row); err != nil {
			return err
		}
	}
	return nil
}

// readTeamAdmins reads through the team API, beside the other reads, the
// members of the teams whose administrators changed (Identity namespace
// entries); writeTeams writes them once the group-derived members are.
func (r *incRun) readTeamAdmins(ctx context.Context) error {
	var targets []teamRef
	r.mu.Lock()
	for id := range r.p.teams {
		if row, ok := r.teams[id]; ok {
			targets = append(targets, teamRef{id: id, project: row[1].(string)})
		}
	}
	r.mu.Unlock()
	return forEach(ctx, r.c.conc, targets, func(ctx context.Context, t teamRef) error {
		rows, found, err := r.teamMembers(ctx, t)
		if err != nil || !found {
			return err
		}
		r.mu.Lock()
		r.adminRows[t.id] = rows
		r.mu.Unlock()
		return nil
	})
}

// writeTeams writes the members readTeamAdmins read, over the ones derived
// from their groups, of the teams still there, and re-reads the names of
// teams whose group was renamed.
func (r *incRun) writeTeams(ctx context.Context) error {
	for id, rows := range r.adminRows {
		if _, ok := r.teams[id]; !ok {
			continue // deleted meanwhile
		}
		if err := r.out.replace(ctx, snapshot.TeamMembers, "team members", id, rows); err != nil {
			return err
		}
	}
	var renamed []string
	for id := range r.renamedTeams {
		renamed = append(renamed, id)
	}
	return forEach(ctx, r.c.conc, renamed, r.rereadTeamRow)
}

// rereadTeamRow re-reads one team's name and description.
func (r *incRun) rereadTeamRow(ctx context.Context, id string) error {
	var project string
	if err := r.query(ctx, func(w *snapshot.Writer) error {
		return w.CurrentWhere(snapshot.Teams, "id", id, func(row snapshot.Row) error {
			project = row[1].(string)
			return nil
		})
	}); err != nil || project == "" {
		return err
	}
	t, err := r.c.Core.GetTeam(ctx, core.GetTeamArgs{ProjectId: &project, TeamId: &id})
	if status, _ := statusOf(err); status == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return describe("read team "+id, "core", err)
	}
	return r.out.put(ctx, snapshot.Teams, "teams", snapshot.Row{id, project, str(t.Name), str(t.Description)})
}

package collect

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/identity"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// An incremental run maps each Audit Log entry to a targeted re-read of
// what it touched, never a copy of the entry's data: the entry says where
// to look, the API says what is there now. Targets are collected first and
// read in bulk, so a thousand membership changes cost a few batch calls,
// not a thousand. Entries that cannot be mapped safely make the run re-read
// that whole resource kind, and the run records why.

// plan is what an incremental run re-reads.
type plan struct {
	groupKeys  map[string]bool   // storage keys of groups named by entries
	groups     map[string]bool   // descriptors of groups to re-read: metadata and direct members
	users      map[string]bool   // principal names (lower case): account and access level
	scopes     map[string]bool   // project ids ("" = organization) whose group list to re-read
	teamsOf    map[string]bool   // project ids whose teams to re-read
	teams      map[string]bool   // team ids whose members and administrators to re-read
	projects   bool              // re-read the project list
	svc        bool              // re-read the service accounts (a new project brings a build identity)
	repos      bool              // re-read the repositories
	groupRules bool              // re-read the group rules
	acl        *aclPlan          // permissions (incremental_perms.go)
	full       map[string]string // resource kind → why it is re-read in full
	mapped     int               // entries that led to re-reads
	ignored    map[string]int    // actions that touch nothing collected, by area
}

func newPlan(opts SyncOptions) *plan {
	return &plan{groupKeys: map[string]bool{}, groups: map[string]bool{}, users: map[string]bool{},
		scopes: map[string]bool{}, teamsOf: map[string]bool{}, teams: map[string]bool{},
		full: map[string]string{}, ignored: map[string]int{}, acl: newACLPlan(opts)}
}

// Resource kinds that can be re-read in full.
const (
	kindAccounts     = "accounts and access levels"
	kindGroups       = "groups and memberships"
	kindProjects     = "projects, teams and repositories"
	nsIdentity       = "5a27515b-ccd7-42c9-84f1-54c998f03866" // security namespace of teams and groups
	actionPrefixRepo = "Git.Repository"
)

func (p *plan) fullKind(kind, why string) {
	if _, ok := p.full[kind]; !ok {
		p.full[kind] = why
	}
}

// dataStrings reads a string, or the strings of a list, from entry data.
func dataStrings(data map[string]any, key string) []string {
	switch v := data[key].(type) {
	case string:
		if v != "" {
			return []string{v}
		}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// add maps one entry to what must be re-read.
func (p *plan) add(e entry) {
	area, _, _ := strings.Cut(e.action, ".")
	p.mapped++
	perms := p.mapPermissions(e)
	switch {
	case e.action == "Group.UpdateGroupMembership.Add" || e.action == "Group.UpdateGroupMembership.Remove":
		keys := dataStrings(e.data, "GroupId")
		if updates, ok := e.data["Updates"].([]any); ok {
			for _, u := range updates {
				if m, ok := u.(map[string]any); ok {
					keys = append(keys, dataStrings(m, "GroupId")...)
				}
			}
		}
		if len(keys) == 0 {
			p.fullKind(kindGroups, e.action+" entry without a GroupId")
		}
		for _, k := range keys {
			p.groupKeys[strings.ToLower(k)] = true
		}
	case e.action == "Group.CreateGroups":
		// The entry names the group, not its id: re-read the groups of its
		// scope; a new project group may be a new team.
		p.scopes[e.projectID] = true
		if e.projectID != "" {
			p.teamsOf[e.projectID] = true
		}
	case e.action == "Group.UpdateGroups.Modify" || e.action == "Group.UpdateGroups.Delete":
		keys := dataStrings(e.data, "GroupId")
		if len(keys) == 0 {
			p.fullKind(kindGroups, e.action+" entry without a GroupId")
		}
		for _, k := range keys {
			p.groupKeys[strings.ToLower(k)] = true
		}
	case e.action == "Licensing.Assigned" || e.action == "Licensing.Modified" || e.action == "Licensing.Removed":
		ids := dataStrings(e.data, "UserIdentifier")
		if len(ids) == 0 {
			p.fullKind(kindAccounts, e.action+" entry without a UserIdentifier")
		}
		for _, u := range ids {
			p.users[strings.ToLower(u)] = true
		}
	case strings.HasPrefix(e.action, "Licensing.GroupRule"):
		p.groupRules = true
		p.fullKind(kindAccounts, e.action+": a group rule can change the access level of every member")
	case area == "Project":
		if !strings.HasSuffix(e.action, "Completed") {
			p.mapped--
			p.ignored[area]++ // area paths, iterations, process changes: nothing collected
			return
		}
		id := e.projectID
		if ids := dataStrings(e.data, "ProjectId"); len(ids) > 0 {
			id = strings.ToLower(ids[0])
		}
		if id == "" {
			p.fullKind(kindProjects, e.action+" entry without a project id")
			return
		}
		p.projects, p.repos = true, true
		p.scopes[id], p.teamsOf[id] = true, true
		// A new (or restored) project brings a build service identity that
		// has no entry of its own, and it may outlive the project.
		if e.action == "Project.CreateCompleted" || e.action == "Project.RestoreCompleted" {
			p.svc = true
		}
	case strings.HasPrefix(e.action, actionPrefixRepo):
		p.repos = true
	case area == "Security":
		// Team administrators are permissions on {project}\{team} in the
		// Identity namespace; other permissions count when the run reads
		// their namespace (mapPermissions).
		ns := dataStrings(e.data, "NamespaceId")
		tok := dataStrings(e.data, "Token")
		if len(ns) == 1 && strings.EqualFold(ns[0], nsIdentity) && len(tok) == 1 {
			if _, team, ok := strings.Cut(tok[0], `\`); ok {
				p.teams[strings.ToLower(team)] = true
				return
			}
		}
		if !perms {
			p.mapped--
			p.ignored[area]++
		}
	case area == "Group":
		p.fullKind(kindGroups, "unrecognised group action "+e.action)
	case area == "Licensing":
		p.fullKind(kindAccounts, "unrecognised licensing action "+e.action)
	default:
		p.mapped--
		p.ignored[area]++
	}
}

// note summarizes the plan for the run's record.
func (p *plan) note(entries, skipped int) string {
	parts := []string{fmt.Sprintf("incremental from the Audit Log: %d entries read, %d already handled, %d mapped to re-reads", entries, skipped, p.mapped)}
	var kinds []string
	for k, why := range p.full {
		kinds = append(kinds, k+" ("+why+")")
	}
	sort.Strings(kinds)
	if len(kinds) > 0 {
		parts = append(parts, "re-read in full: "+strings.Join(kinds, "; "))
	}
	var areas []string
	for a, n := range p.ignored {
		areas = append(areas, fmt.Sprintf("%s %d", a, n))
	}
	sort.Strings(areas)
	if len(areas) > 0 {
		parts = append(parts, "not collected: "+strings.Join(areas, ", "))
	}
	return strings.Join(parts, "; ")
}

// runIncremental re-reads what the plan names.
func runIncremental(ctx context.Context, e *env, p *plan, view *storeView) error {
	// Whole kinds are read in full; that makes the targeted reads of that
	// kind moot.
	var steps []step
	var fullTables []*snapshot.Table
	if _, ok := p.full[kindAccounts]; ok {
		steps = append(steps, step{name: "users", run: readUsers}, step{name: "service principals", run: readServicePrincipals},
			step{name: "entitlements", run: readUserEntitlements},
			step{name: "service principal entitlements", after: []string{"service principals"}, run: readServicePrincipalEntitlements})
		fullTables = append(fullTables, snapshot.Accounts, snapshot.Entitlements)
		p.users, p.svc = map[string]bool{}, false
	}
	if _, ok := p.full[kindGroups]; ok {
		steps = append(steps, step{name: "groups", run: readGroups},
			step{name: "memberships", after: []string{"groups"}, run: readMemberships})
		fullTables = append(fullTables, snapshot.Groups, snapshot.Memberships)
		p.groupKeys, p.groups, p.scopes = map[string]bool{}, map[string]bool{}, map[string]bool{}
	}
	if _, ok := p.full[kindProjects]; ok {
		steps = append(steps, step{name: "projects", run: readProjects}, step{name: "repositories", run: readRepositories})
		fullTables = append(fullTables, snapshot.Projects, snapshot.Repositories)
		if e.opts.Teams {
			steps = append(steps, step{name: "teams", run: readTeams}, step{name: "team members", after: []string{"teams"}, run: readTeamMembers})
			fullTables = append(fullTables, snapshot.Teams, snapshot.TeamMembers)
		}
		p.projects, p.repos, p.teamsOf = false, false, map[string]bool{}
	}
	if p.groupRules {
		steps = append(steps, step{name: "group rules", run: readGroupRules})
		fullTables = append(fullTables, snapshot.GroupRules)
	}
	if p.projects {
		steps = append(steps, step{name: "projects", run: readProjects})
		fullTables = append(fullTables, snapshot.Projects)
	}
	if p.repos {
		steps = append(steps, step{name: "repositories", run: readRepositories})
		fullTables = append(fullTables, snapshot.Repositories)
	}
	if err := e.out.do(ctx, func(w *snapshot.Writer) error {
		for _, t := range fullTables {
			w.StartFull(t)
		}
		return nil
	}); err != nil {
		return err
	}

	if err := view.loading.wait(ctx); err != nil {
		return fmt.Errorf("read the store: %w", err)
	}
	inc := &incRun{env: e, p: p, renamedTeams: map[string]bool{}, groupsRead: map[string]bool{}, readMembers: map[string][]snapshot.Row{},
		groups: view.groups, teams: view.teams, orgID: view.orgID, subjects: map[string]bool{}}

	// Everything named by the entries is read side by side: the groups the
	// entries name (their keys resolve from the store) need not wait for
	// the group and team lists, which may add new groups to read after.
	on := func(fn func(context.Context) error) func(context.Context, *env) error {
		return func(ctx context.Context, _ *env) error { return fn(ctx) }
	}
	steps = append(steps,
		step{name: "users", run: on(inc.rereadUsers)},
		step{name: "group lists", run: on(inc.rereadScopes)},
		step{name: "group keys", run: on(inc.resolveGroupKeys)},
		step{name: "named groups", after: []string{"group keys"}, run: on(inc.rereadGroups)},
		// New groups the lists found need not wait for the named ones.
		step{name: "listed groups", after: []string{"group lists"}, run: on(inc.rereadGroups)})
	if p.svc {
		steps = append(steps, step{name: "service accounts", run: on(inc.rereadServiceAccounts)})
	}
	if p.acl.on() {
		steps = append(steps, step{name: "permissions", run: on(inc.rereadPermissions)})
	}
	if e.opts.Teams {
		steps = append(steps, step{name: "team lists", run: on(inc.rereadTeamLists)})
	}
	start := time.Now()
	if err := runSteps(ctx, e, steps); err != nil {
		return err
	}
	e.c.log.Debug("re-read what the entries name", "duration", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := inc.rereadGroups(ctx); err != nil { // any the steps met after their reads
		return err
	}
	e.c.log.Debug("re-read the groups left", "duration", time.Since(start).Round(time.Millisecond))
	if err := e.out.do(ctx, func(w *snapshot.Writer) error {
		for _, t := range fullTables {
			if err := w.EndFull(t); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if e.opts.Teams {
		defer func(start time.Time) {
			e.c.log.Debug("re-read teams", "duration", time.Since(start).Round(time.Millisecond))
		}(time.Now())
		for group, rows := range inc.readMembers {
			if err := inc.deriveTeamMembers(ctx, group, rows); err != nil {
				return err
			}
		}
		return inc.rereadTeams(ctx)
	}
	return nil
}

// incRun holds what the stages of one incremental run pass on.
type incRun struct {
	*env
	p            *plan
	mu           sync.Mutex
	renamedTeams map[string]bool           // teams whose group was renamed or redescribed
	groupsRead   map[string]bool           // groups re-read already
	readMembers  map[string][]snapshot.Row // direct members of the groups re-read

	// What the store holds as the run starts (see storeView), kept up to
	// date as the run writes.
	groups   map[string]string       // group descriptor → scope id
	teams    map[string]snapshot.Row // team id → its row
	orgID    string
	subjects map[string]bool // descriptors written by this run
}

// storeView is what the store holds as an incremental run starts, read in
// one pass while the Audit Log is read: asking the store row by row would
// cost a round trip each.
type storeView struct {
	loading *early
	groups  map[string]string       // group descriptor → scope id
	teams   map[string]snapshot.Row // team id → its row
	// orgID is the organization's id, the domain of its own groups
	// ("vstfs:///Framework/IdentityDomain/{id}").
	orgID string
}

// loadView starts reading the current groups and teams. Groups are named
// by legacy descriptors inside memberships; a group's is its SID, so the
// known groups are also taught to ids.
func loadView(ctx context.Context, st *snapshot.Store, ids *resolver) *storeView {
	v := &storeView{groups: map[string]string{}, teams: map[string]snapshot.Row{}}
	v.loading = startEarly(ctx, func(ctx context.Context) error {
		start := time.Now()
		defer func() {
			ids.c.log.Debug("loaded the store's view", "duration", time.Since(start).Round(time.Millisecond))
		}()
		if err := st.Current(ctx, snapshot.Groups, func(row snapshot.Row) error {
			d := row[0].(string)
			v.groups[d] = row[2].(string)
			if id, ok := strings.CutPrefix(row[8].(string), "vstfs:///Framework/IdentityDomain/"); ok && row[2] == "" && v.orgID == "" {
				v.orgID = id
			}
			return ids.learn(d, "", legacyGroupPrefix+groupSID(d))
		}); err != nil {
			return err
		}
		return st.Current(ctx, snapshot.Teams, func(row snapshot.Row) error {
			v.teams[row[0].(string)] = row
			return nil
		})
	})
	return v
}

func (r *incRun) addGroup(d string) {
	r.mu.Lock()
	r.p.groups[d] = true
	r.mu.Unlock()
}

// query runs fn in the store's writer and waits for it: reads of the run's
// own view of the store go through the writer like writes do.
func (e *env) query(ctx context.Context, fn func(*snapshot.Writer) error) error {
	done := make(chan error, 1)
	if err := e.out.do(ctx, func(w *snapshot.Writer) error { done <- fn(w); return nil }); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// userSearchBatch is how many names one user entitlement search asks for,
// joined by "or" in $filter (the documented filter grammar); it keeps the
// URL short.
const userSearchBatch = 20

// rereadUsers re-reads the accounts and access levels of the users the log
// named, many per search; a user the search no longer finds has left the
// organization.
func (r *incRun) rereadUsers(ctx context.Context) error {
	var names []string
	for u := range r.p.users {
		names = append(names, u)
	}
	sort.Strings(names)
	return forEach(ctx, r.c.conc, chunks(names, userSearchBatch), func(ctx context.Context, batch []string) error {
		var clauses []string
		for _, n := range batch {
			clauses = append(clauses, "name eq '"+strings.ReplaceAll(n, "'", "''")+"'")
		}
		found := map[string]bool{}
		token := ""
		for {
			q := url.Values{"$filter": {strings.Join(clauses, " or ")}}
			if token != "" {
				q.Set("continuationToken", token)
			}
			var page userEntitlementPage
			if err := sendJSON(ctx, r.c.vsaex, http.MethodGet, locUserEntitlements, "7.1-preview.3", nil, q, &page); err != nil {
				return describe("search user entitlements", "entitlements", err)
			}
			for _, m := range page.Members {
				if m.User == nil {
					continue
				}
				name := strings.ToLower(str(m.User.PrincipalName))
				if !r.p.users[name] { // "name" matches by substring; keep exact hits
					continue
				}
				found[name] = true
				r.mu.Lock()
				r.subjects[str(m.User.Descriptor)] = true
				r.mu.Unlock()
				if err := r.out.put(ctx, snapshot.Accounts, "accounts", userRow(*m.User)); err != nil {
					return err
				}
				if err := r.putEntitlement(ctx, m.User.Descriptor, m.Id, m.AccessLevel, m.GroupAssignments, m.DateCreated, m.LastAccessedDate); err != nil {
					return err
				}
			}
			if page.ContinuationToken == nil || *page.ContinuationToken == "" {
				break
			}
			token = *page.ContinuationToken
		}
		for _, n := range batch {
			if !found[n] {
				if err := r.userGone(ctx, n); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// userGone removes an account that left the organization, and re-reads
// the groups it was in (the service drops its memberships without entries
// of their own).
func (r *incRun) userGone(ctx context.Context, principal string) error {
	var gone []string
	err := r.query(ctx, func(w *snapshot.Writer) error {
		return w.CurrentWhere(snapshot.Accounts, "principal_name", principal, func(row snapshot.Row) error {
			gone = append(gone, row[0].(string))
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, d := range gone {
		if err := r.out.do(ctx, func(w *snapshot.Writer) error {
			if err := w.Delete(snapshot.Accounts, d); err != nil {
				return err
			}
			if err := w.Delete(snapshot.Entitlements, d); err != nil {
				return err
			}
			return leaveAllGroups(w, d)
		}); err != nil {
			return err
		}
	}
	return nil
}

// leaveAllGroups closes every membership and team membership of a subject
// that is no longer in the organization: the service drops them when the
// subject goes, without entries of their own.
func leaveAllGroups(w *snapshot.Writer, member string) error {
	var containers, teams []string
	if err := w.CurrentWhere(snapshot.Memberships, "member", member, func(row snapshot.Row) error {
		containers = append(containers, row[0].(string))
		return nil
	}); err != nil {
		return err
	}
	if err := w.CurrentWhere(snapshot.TeamMembers, "member", member, func(row snapshot.Row) error {
		teams = append(teams, row[0].(string))
		return nil
	}); err != nil {
		return err
	}
	for _, c := range containers {
		if err := w.Delete(snapshot.Memberships, c, member); err != nil {
			return err
		}
	}
	for _, t := range teams {
		if err := w.Delete(snapshot.TeamMembers, t, member); err != nil {
			return err
		}
	}
	return nil
}

// rereadServiceAccounts lists the service accounts (Graph users of type
// svc) and closes those gone.
func (r *incRun) rereadServiceAccounts(ctx context.Context) error {
	listed := map[string]bool{}
	types := []string{"svc"}
	pass := r.out.pass("accounts")
	err := pageGraph(ctx, "list service accounts", pass.reset, func(tok *string) (*string, error) {
		page, err := r.c.Graph.ListUsers(ctx, graph.ListUsersArgs{SubjectTypes: &types, ContinuationToken: tok})
		if err != nil {
			return nil, err
		}
		for _, u := range deref2(page.GraphUsers) {
			row := userRow(u)
			listed[row[0].(string)] = true
			if err := pass.put(ctx, snapshot.Accounts, row); err != nil {
				return nil, err
			}
		}
		return next(page.ContinuationToken), nil
	})
	if err != nil {
		return err
	}
	var gone []string
	if err := r.query(ctx, func(w *snapshot.Writer) error {
		return w.CurrentWhere(snapshot.Accounts, "subject_type", "svc", func(row snapshot.Row) error {
			if d := row[0].(string); !listed[d] {
				gone = append(gone, d)
			}
			return nil
		})
	}); err != nil {
		return err
	}
	for _, d := range gone {
		if err := r.out.do(ctx, func(w *snapshot.Writer) error {
			if err := w.Delete(snapshot.Accounts, d); err != nil {
				return err
			}
			return leaveAllGroups(w, d)
		}); err != nil {
			return err
		}
	}
	return nil
}

// resolveGroupKeys turns the storage keys of audit entries into group
// descriptors: from what the store knows, else through the Identities API,
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
	return forEach(ctx, r.c.conc, chunks(unknown, identityBatch), func(ctx context.Context, batch []uuid.UUID) error {
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

// rereadScopes re-reads the group lists of the scopes where groups were
// created or projects changed, and marks the groups a scope no longer has
// (they are closed as gone after a lookup). New groups have their members
// read; existing ones only their row. Scopes are listed side by side; the
// full list, whose pages follow one another, is read instead only when
// the scopes would cost several times its requests.
func (r *incRun) rereadScopes(ctx context.Context) error {
	if len(r.p.scopes) == 0 {
		return nil
	}
	r.mu.Lock()
	groupCount := len(r.groups)
	r.mu.Unlock()
	if len(r.p.scopes) > 3*(groupCount/graphPage+1) {
		return r.rereadGroupList(ctx, "", nil)
	}
	var scopes []string
	for s := range r.p.scopes {
		scopes = append(scopes, s)
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
		return r.reconcileTeams(ctx, nil, func(top, skip int) (*[]core.WebApiTeam, error) {
			return r.c.Core.GetAllTeams(ctx, core.GetAllTeamsArgs{Top: &top, Skip: &skip})
		})
	}
	var projects []string
	for p := range r.p.teamsOf {
		projects = append(projects, p)
	}
	return forEach(ctx, r.c.conc, projects, func(ctx context.Context, project string) error {
		return r.reconcileTeams(ctx, &project, func(top, skip int) (*[]core.WebApiTeam, error) {
			return r.c.Core.GetTeams(ctx, core.GetTeamsArgs{ProjectId: &project, Top: &top, Skip: &skip})
		})
	})
}

// reconcileTeams pages through a team list (of one project, or all) and
// makes the store's teams match it.
func (r *incRun) reconcileTeams(ctx context.Context, project *string, list func(top, skip int) (*[]core.WebApiTeam, error)) error {
	listed := map[string]bool{}
	err := pageTeams(func(top, skip int) ([]core.WebApiTeam, error) {
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

// rereadTeams reads through the team API the teams whose administrators
// changed, and the names of teams whose group was renamed.
func (r *incRun) rereadTeams(ctx context.Context) error {
	type target struct{ id, project string }
	var targets []target
	for id := range r.p.teams {
		var project string
		if err := r.query(ctx, func(w *snapshot.Writer) error {
			return w.CurrentWhere(snapshot.Teams, "id", id, func(row snapshot.Row) error {
				project = row[1].(string)
				return nil
			})
		}); err != nil {
			return err
		}
		if project != "" {
			targets = append(targets, target{id, project})
		}
	}
	err := forEach(ctx, r.c.conc, targets, func(ctx context.Context, t target) error {
		return r.readTeam(ctx, teamRef{id: t.id, project: t.project})
	})
	if err != nil {
		return err
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

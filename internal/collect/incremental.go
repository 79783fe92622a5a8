package collect

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// An incremental run maps each Audit Log entry to a targeted re-read of
// what it touched, never a copy of the entry's data: the entry says where
// to look, the API says what is there now. Targets are collected first and
// read in bulk, so a thousand membership changes cost a few batch calls,
// not a thousand. Entries that cannot be mapped safely make the run re-read
// that whole resource kind, and the run records why.

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
		p.groupKeys, p.groups, p.scopes, p.created = map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string][]string{}
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
			if err := w.StartFull(t); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}

	if err := view.loading.wait(ctx); err != nil {
		return fmt.Errorf("read the store: %w", err)
	}
	inc := &incRun{env: e, p: p, renamedTeams: map[string]bool{}, newTeams: map[string]uuid.UUID{}, groupsRead: map[string]bool{}, readMembers: map[string][]snapshot.Row{}, adminRows: map[string][]snapshot.Row{},
		groups: view.groups, teams: view.teams, orgID: view.orgID, subjects: map[string]bool{}}
	sweep, err := inc.startEntraSweep(ctx)
	if err != nil {
		return err
	}

	// Everything named by the entries is read side by side: the groups the
	// entries name (their keys resolve from the store) need not wait for
	// the group and team lists, which may add new groups to read after.
	on := func(fn func(context.Context) error) func(context.Context, *env) error {
		return func(ctx context.Context, _ *env) error { return fn(ctx) }
	}
	// The groups created in projects wait for the team lists: a new team's
	// group is read by the team's id, without its project's group list.
	teamLists := e.opts.Teams && len(p.teamsOf) > 0
	var createdAfter []string
	if teamLists {
		createdAfter = []string{"team lists"}
	}
	steps = append(steps,
		step{name: "users", run: on(inc.rereadUsers)},
		step{name: "group lists", run: on(inc.rereadScopes)},
		step{name: "created groups", after: createdAfter, run: on(inc.rereadCreated)},
		step{name: "group keys", run: on(inc.resolveGroupKeys)},
		step{name: "named groups", after: []string{"group keys"}, run: on(inc.rereadGroups)},
		// New groups the lists found need not wait for the named ones; the
		// lists' and the new teams' are read together, in fewer batches.
		step{name: "listed groups", after: []string{"group lists", "created groups"}, run: on(inc.rereadGroups)})
	if p.svc {
		steps = append(steps, step{name: "service accounts", run: on(inc.rereadServiceAccounts)})
	}
	if sweep.due {
		steps = append(steps, step{name: "entra accounts", after: []string{"users"}, run: on(func(ctx context.Context) error {
			return inc.sweepEntraAccounts(ctx, sweep)
		})})
	}
	if p.acl.on() {
		steps = append(steps, step{name: "permissions", run: on(inc.rereadPermissions)})
	}
	if p.pipes.on(e.opts) {
		steps = append(steps, step{name: "pipeline resources", run: on(inc.rereadPipelines)})
	}
	if teamLists {
		steps = append(steps, step{name: "team lists", run: on(inc.rereadTeamLists)})
	}
	if e.opts.Teams && len(p.teams) > 0 {
		steps = append(steps, step{name: "team administrators", run: on(inc.readTeamAdmins)})
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
	// After the kinds read in full are closed: the store then shows every
	// group's members as this run read them.
	if err := inc.finishEntraSweep(ctx, sweep); err != nil {
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
		return inc.writeTeams(ctx)
	}
	return nil
}

// incRun holds what the stages of one incremental run pass on.
type incRun struct {
	*env
	p            *plan
	mu           sync.Mutex
	renamedTeams map[string]bool           // teams whose group was renamed or redescribed
	newTeams     map[string]uuid.UUID      // teams the team lists found that the store had not: project id + "\\" + lower-case name → id
	groupsRead   map[string]bool           // groups re-read already
	readMembers  map[string][]snapshot.Row // direct members of the groups re-read
	adminRows    map[string][]snapshot.Row // team id → its members as the team API gave them

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

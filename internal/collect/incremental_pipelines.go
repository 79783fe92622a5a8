package collect

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Incremental runs of pipeline resources and tokens. The Audit Log entries
// of the Library area (service connections, variable groups, secure files,
// agent pools), the Pipelines area (pipeline permissions, environments),
// the Checks area (CheckConfiguration.Created, .Deleted, .Updated: checks
// and approvals, re-read with the rest of the project) and the Token area (personal access tokens), as
// Microsoft lists them (https://learn.microsoft.com/azure/devops/organizations/audit/auditing-events),
// are mapped to re-reads: a project's resources when the entry names a
// project, the agent pools when it names none, a user's tokens for a token
// entry. A project created, deleted or restored is re-read too, and the
// tokens of a user removed from the organization are closed.

// pipePlan is what an incremental run re-reads of pipeline resources and tokens.
type pipePlan struct {
	projects  map[string]bool // project ids whose resources to re-read
	pools     bool            // re-read the agent pools
	ownerKeys map[string]bool // storage keys of users whose tokens to re-read
	upns      map[string]bool // principal names (lower case) of users removed
	groupKeys map[string]bool // storage keys of groups deleted
}

func (pp *pipePlan) init() {
	if pp.projects == nil {
		pp.projects, pp.ownerKeys, pp.upns, pp.groupKeys = map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	}
}

// addPipelines maps an entry of the areas above; it reports whether the
// entry is theirs alone (project and licensing entries go on to the rest
// of the mapping).
func (p *plan) addPipelines(e entry, area string) bool {
	pp := &p.pipes
	pp.init()
	switch {
	case area == "CheckSuite":
		p.mapped--
		p.ignored[area]++ // a run's checks completed: no configuration changed
		return true
	case area == "Library" || area == "Pipelines" || area == "Checks" || area == "CheckConfiguration":
		if e.projectID != "" {
			pp.projects[strings.ToLower(e.projectID)] = true
		} else {
			pp.pools = true
		}
		return true
	case area == "Token":
		keys := dataStrings(e.data, "UserId")
		if len(keys) == 0 {
			p.mapped--
			p.ignored[area]++ // no owner named: revocation rules
			return true
		}
		for _, k := range keys {
			pp.ownerKeys[strings.ToLower(k)] = true
		}
		return true
	case area == "Project" && strings.HasSuffix(e.action, "Completed"):
		id := e.projectID
		if ids := dataStrings(e.data, "ProjectId"); len(ids) > 0 {
			id = ids[0]
		}
		if id != "" {
			pp.projects[strings.ToLower(id)] = true
		}
	case e.action == "Group.UpdateGroups.Delete":
		for _, k := range dataStrings(e.data, "GroupId") {
			pp.groupKeys[strings.ToLower(k)] = true
		}
	case e.action == "Licensing.Removed":
		for _, u := range dataStrings(e.data, "UserIdentifier") {
			pp.upns[strings.ToLower(u)] = true
		}
	}
	return false
}

func (pp *pipePlan) on(o SyncOptions) bool {
	return o.Pipelines && (len(pp.projects) > 0 || pp.pools || len(pp.groupKeys) > 0 || len(pp.upns) > 0) ||
		o.Tokens && (len(pp.ownerKeys) > 0 || len(pp.upns) > 0)
}

// rereadPipelines re-reads what the plan names. An identity removed (a
// user, a deleted group) loses its role assignments without an entry of
// the areas above: the projects whose assignments name it are re-read.
func (inc *incRun) rereadPipelines(ctx context.Context) error {
	pp := &inc.p.pipes
	r := newPipeRun(inc.env)
	removed := map[string]bool{} // descriptors of users removed
	gone := map[string]bool{}    // storage keys of identities removed
	for k := range pp.groupKeys {
		gone[k] = true
	}
	if len(pp.upns) > 0 || len(gone) > 0 {
		// Found in the store as the last run left it: this run may have
		// closed their rows already.
		st, err := inc.store(ctx)
		if err != nil {
			return err
		}
		if len(pp.upns) > 0 {
			if err := st.Current(ctx, snapshot.Accounts, func(row snapshot.Row) error {
				if pp.upns[strings.ToLower(row[5].(string))] {
					removed[row[0].(string)] = true
				}
				return nil
			}); err != nil {
				return err
			}
			for d := range removed {
				gone[inc.ids.storageKeyOf(ctx, d)] = true
			}
		}
		if inc.opts.Pipelines {
			if err := st.Current(ctx, snapshot.ResourceRoles, func(row snapshot.Row) error {
				if gone[row[3].(string)] {
					if p := row[0].(string); p != "" {
						pp.projects[p] = true
					} else {
						pp.pools = true
					}
				}
				return nil
			}); err != nil {
				return err
			}
		}
	}
	if inc.opts.Pipelines {
		if pp.pools {
			if err := r.readPools(ctx); err != nil {
				return err
			}
		}
		var projects []string
		for id := range pp.projects {
			projects = append(projects, id)
		}
		if err := forEach(ctx, inc.c.conc, projects, r.readProject); err != nil {
			return err
		}
	}
	if !inc.opts.Tokens {
		return nil
	}
	owners := removed // the service no longer lists their tokens
	for key := range pp.ownerKeys {
		d, err := inc.ownerDescriptor(ctx, key)
		if err != nil {
			return err
		}
		if d != "" {
			owners[d] = true
		}
	}
	var list []string
	for d := range owners {
		list = append(list, d)
	}
	return r.readOwnersTokens(ctx, list)
}

// store is the store the run writes to.
func (inc *incRun) store(ctx context.Context) (*snapshot.Store, error) {
	got := make(chan *snapshot.Store, 1)
	if err := inc.out.do(ctx, func(w *snapshot.Writer) error {
		got <- w.Store()
		return nil
	}); err != nil {
		return nil, err
	}
	select {
	case st := <-got:
		return st, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ownerDescriptor is the descriptor of a token's owner: known to the run,
// or asked of Graph (a user added since the last run); "" for an identity
// the organization no longer has.
func (inc *incRun) ownerDescriptor(ctx context.Context, key string) (string, error) {
	if d, ok := inc.ids.descriptorOf(ctx, key); ok {
		return d, nil
	}
	id, err := uuid.Parse(key)
	if err != nil {
		return "", nil // not a storage key: nothing to read
	}
	res, err := inc.c.Graph.GetDescriptor(ctx, graph.GetDescriptorArgs{StorageKey: &id})
	if err != nil {
		if notFound(err) {
			return "", nil
		}
		return "", describe("look up the owner of a personal access token", "graph", err)
	}
	return str(res.Value), nil
}

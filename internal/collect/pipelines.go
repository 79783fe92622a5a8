package collect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/pipelinepermissions"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/serviceendpoint"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/taskagent"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Pipeline resources: per project, its service connections, variable
// groups, environments and agent queues; for each, the security roles
// assigned on it (securityroles, with the ones inherited from the project)
// and its pipeline permissions; and the organization's agent pools with
// their roles. Requests grow with projects and resources: four lists per
// project, two reads per resource, one query of the checks on all of a
// project's resources (checks.go), never one per user and resource.
//
// Nothing secret is kept: a connection's authorization gives its scheme
// only, a variable group how many variables and secrets it holds.
//
// Each kind needs its own PAT scope. A kind the credential may not read
// (403) is skipped for the whole run, its tables left as the last run that
// read them left them, and the run's note names the scope.

// Area ids of the resource areas of pipeline resources and tokens.
var (
	areaServiceEndpoint     = uuid.MustParse("1814ab31-2f4f-4a9f-8761-f4d77dc5a5d7")
	areaTaskAgent           = uuid.MustParse("a85b8835-c1a1-4aac-ae97-1c3d0ba72dbd")
	areaPipelinePermissions = uuid.MustParse("a81a0441-de52-4000-aa15-ff0e07bfbbaa")
	areaTokenAdmin          = uuid.MustParse("af68438b-ed04-4407-9eb6-f1dbae3f922e")
)

// Role scopes of the securityroles API.
const (
	RoleScopeEndpoint    = "distributedtask.serviceendpointrole"
	RoleScopeVarGroup    = "distributedtask.variablegroup"
	RoleScopeEnvironment = "distributedtask.environmentreferencerole"
	RoleScopeQueue       = "distributedtask.agentqueuerole"
	RoleScopePool        = "distributedtask.agentpoolrole"
)

// pipeClients are the v7 clients of pipeline resources and tokens.
type pipeClients struct {
	endpoints serviceendpoint.Client
	tasks     taskagent.Client
	perms     pipelinepermissions.Client
	tokens    tokenadminClient
	org       *azuredevops.Client // the distributed task service, for securityroles (no v7 client)
}

func (p *pipeClients) setEndpoints(x *azuredevops.Client) {
	p.endpoints = &serviceendpoint.ClientImpl{Client: *x}
}
func (p *pipeClients) setTasks(x *azuredevops.Client) {
	p.tasks, p.org = &taskagent.ClientImpl{Client: *x}, x
}
func (p *pipeClients) setPerms(x *azuredevops.Client) {
	p.perms = &pipelinepermissions.ClientImpl{Client: *x}
}

// pipeKind is one kind of project resource.
type pipeKind struct {
	name      string // for notes and progress
	hint      string // scopeHints key
	table     *snapshot.Table
	roleScope string
	permType  string // the pipeline permissions' resource type
	list      func(ctx context.Context, c *Client, project string) ([]pipeResource, error)
}

// pipeResource is one resource read: its row and how the other APIs name it.
type pipeResource struct {
	row     snapshot.Row
	id      string // pipeline permissions' resource id
	roleRes string // securityroles' resource id
}

var pipeKinds = []pipeKind{
	{"service connections", "serviceendpoint", snapshot.ServiceConnections, RoleScopeEndpoint, "endpoint", listEndpoints},
	{"variable groups", "variablegroups", snapshot.VariableGroups, RoleScopeVarGroup, "variablegroup", listVarGroups},
	{"environments", "environments", snapshot.Environments, RoleScopeEnvironment, "environment", listEnvironments},
	{"agent queues", "agentpools", snapshot.AgentQueues, RoleScopeQueue, "queue", listQueues},
}

func refID(id *string) string { return strings.ToLower(str(id)) }

func listEndpoints(ctx context.Context, c *Client, project string) ([]pipeResource, error) {
	list, err := c.pipes.endpoints.GetServiceEndpoints(ctx, serviceendpoint.GetServiceEndpointsArgs{Project: &project})
	if err != nil {
		return nil, err
	}
	var out []pipeResource
	for _, ep := range deref2(list) {
		if ep.Id == nil {
			continue
		}
		id := ep.Id.String()
		scheme := ""
		if ep.Authorization != nil {
			scheme = str(ep.Authorization.Scheme)
		}
		var sub, subName, tenant string
		if ep.Data != nil {
			sub, subName = (*ep.Data)["subscriptionId"], (*ep.Data)["subscriptionName"]
		}
		if ep.Authorization != nil && ep.Authorization.Parameters != nil {
			tenant = (*ep.Authorization.Parameters)["tenantid"]
		}
		createdBy := ""
		if ep.CreatedBy != nil {
			createdBy = refID(ep.CreatedBy.Id)
		}
		row := snapshot.Row{project, id, str(ep.Name), str(ep.Type), scheme, str(ep.Url), sub, subName, tenant,
			flag(ep.IsShared), createdBy, flag(ep.IsReady)}
		out = append(out, pipeResource{row: row, id: id, roleRes: project + "_" + id})
	}
	return out, nil
}

func listVarGroups(ctx context.Context, c *Client, project string) ([]pipeResource, error) {
	list, err := c.pipes.tasks.GetVariableGroups(ctx, taskagent.GetVariableGroupsArgs{Project: &project})
	if err != nil {
		return nil, err
	}
	var out []pipeResource
	for _, vg := range deref2(list) {
		if vg.Id == nil {
			continue
		}
		vars, secrets := 0, 0
		if vg.Variables != nil {
			for _, v := range *vg.Variables {
				vars++
				if m, ok := v.(map[string]any); ok && m["isSecret"] == true {
					secrets++
				}
			}
		}
		vault := ""
		if m, ok := vg.ProviderData.(map[string]any); ok {
			vault, _ = m["vault"].(string)
		}
		createdBy := ""
		if vg.CreatedBy != nil {
			createdBy = refID(vg.CreatedBy.Id)
		}
		id := strconv.Itoa(*vg.Id)
		row := snapshot.Row{project, int64(*vg.Id), str(vg.Name), str(vg.Type), vault, int64(vars), int64(secrets), createdBy}
		out = append(out, pipeResource{row: row, id: id, roleRes: project + "$" + id})
	}
	return out, nil
}

func listEnvironments(ctx context.Context, c *Client, project string) ([]pipeResource, error) {
	var out []pipeResource
	var token *string
	for {
		page, err := c.pipes.tasks.GetEnvironments(ctx, taskagent.GetEnvironmentsArgs{Project: &project, ContinuationToken: token})
		if err != nil {
			return nil, err
		}
		for _, env := range page.Value {
			if env.Id == nil {
				continue
			}
			createdBy := ""
			if env.CreatedBy != nil {
				createdBy = refID(env.CreatedBy.Id)
			}
			id := strconv.Itoa(*env.Id)
			out = append(out, pipeResource{row: snapshot.Row{project, int64(*env.Id), str(env.Name), createdBy}, id: id, roleRes: project + "_" + id})
		}
		if page.ContinuationToken == "" {
			return out, nil
		}
		token = &page.ContinuationToken
	}
}

func listQueues(ctx context.Context, c *Client, project string) ([]pipeResource, error) {
	list, err := c.pipes.tasks.GetAgentQueues(ctx, taskagent.GetAgentQueuesArgs{Project: &project})
	if err != nil {
		return nil, err
	}
	var out []pipeResource
	for _, q := range deref2(list) {
		if q.Id == nil {
			continue
		}
		pool := int64(0)
		if q.Pool != nil && q.Pool.Id != nil {
			pool = int64(*q.Pool.Id)
		}
		id := strconv.Itoa(*q.Id)
		out = append(out, pipeResource{row: snapshot.Row{project, int64(*q.Id), str(q.Name), pool}, id: id, roleRes: project + "_" + id})
	}
	return out, nil
}

// pipeRun is what one run knows of the kinds it may read.
type pipeRun struct {
	e      *env
	mu     sync.Mutex
	denied map[string]error // kind name, "roles" or "pipeline permissions" → the 403
}

func newPipeRun(e *env) *pipeRun { return &pipeRun{e: e, denied: map[string]error{}} }

func (r *pipeRun) isDenied(kind string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.denied[kind] != nil
}

// deny records a 403: the kind is skipped for the rest of the run and the
// run's note says which scope it lacks.
func (r *pipeRun) deny(kind string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.denied[kind] == nil {
		r.denied[kind] = err
		r.e.c.log.Warn(kind+" were not read", "reason", err)
		r.e.notes.add(kind + " were not read (their tables are as the last run that read them left them): " + err.Error())
	}
}

// forbidden tells a 403 (recorded for kind) from other errors.
func (r *pipeRun) forbidden(kind, doing, hint string, err error) (bool, error) {
	err = describe(doing, hint, err)
	if errors.Is(err, ErrForbidden) {
		r.deny(kind, err)
		return true, nil
	}
	return false, err
}

// notFound reports whether err is the service's 404 (a project deleted
// since it was listed).
func notFound(err error) bool {
	status, _ := statusOf(err)
	return status == http.StatusNotFound
}

// permRow reads the pipeline permissions of one resource.
func (r *pipeRun) permRow(ctx context.Context, project, typ, id string) (snapshot.Row, error) {
	if r.isDenied("pipeline permissions") {
		return nil, nil
	}
	pp, err := r.e.c.pipes.perms.GetPipelinePermissionsForResource(ctx, pipelinepermissions.GetPipelinePermissionsForResourceArgs{
		Project: &project, ResourceType: &typ, ResourceId: &id})
	if err != nil {
		if notFound(err) {
			return nil, nil
		}
		denied, err := r.forbidden("pipeline permissions", "read the pipeline permissions of "+typ+" "+id, "pipelinepermissions", err)
		if denied {
			return nil, nil
		}
		return nil, err
	}
	all := pp.AllPipelines != nil && pp.AllPipelines.Authorized != nil && *pp.AllPipelines.Authorized
	var ids []int
	for _, p := range deref2(pp.Pipelines) {
		if p.Id != nil && (p.Authorized == nil || *p.Authorized) {
			ids = append(ids, *p.Id)
		}
	}
	slices.Sort(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(id)
	}
	return snapshot.Row{project, typ, id, boolInt(all), strings.Join(parts, ",")}, nil
}

// readProject reads every kind of resource of one project and replaces
// what the store holds of it. A project that no longer exists (404) is
// emptied.
func (r *pipeRun) readProject(ctx context.Context, project string) error {
	c := r.e.c
	type kindRows struct {
		k     pipeKind
		rows  []snapshot.Row
		roles []snapshot.Row
		perms []snapshot.Row
	}
	var got []kindRows
	var checkRes []checkResource
	gone := false
	for _, k := range pipeKinds {
		if r.isDenied(k.name) {
			continue
		}
		var res []pipeResource
		if !gone {
			var err error
			res, err = k.list(ctx, c, project)
			switch {
			case err == nil:
			case notFound(err):
				gone = true
			default:
				denied, err := r.forbidden(k.name, "list the "+k.name+" of project "+project, k.hint, err)
				if !denied {
					return err
				}
				continue
			}
		}
		kr := kindRows{k: k}
		for _, x := range res {
			kr.rows = append(kr.rows, x.row)
			checkRes = append(checkRes, checkResource{Type: k.permType, ID: x.id})
			roles, err := r.roleRows(ctx, project, k.roleScope, x.roleRes)
			if err != nil {
				return err
			}
			kr.roles = append(kr.roles, roles...)
			perm, err := r.permRow(ctx, project, k.permType, x.id)
			if err != nil {
				return err
			}
			if perm != nil {
				kr.perms = append(kr.perms, perm)
			}
		}
		got = append(got, kr)
	}
	checks, withChecks, err := r.checkRows(ctx, project, checkRes)
	if err != nil {
		return err
	}
	roles, perms := !r.isDenied("role assignments"), !r.isDenied("pipeline permissions")
	return r.e.out.do(ctx, func(w *snapshot.Writer) error {
		for _, kr := range got {
			if withChecks {
				if err := w.ReplaceScope(snapshot.ResourceChecks, []any{project, kr.k.permType}, checksOf(checks, kr.k.permType)); err != nil {
					return err
				}
			}
			r.e.out.prog.add(kr.k.name, len(kr.rows))
			if err := w.ReplaceScope(kr.k.table, []any{project}, kr.rows); err != nil {
				return err
			}
			if roles {
				if err := w.ReplaceScope(snapshot.ResourceRoles, []any{project, kr.k.roleScope}, kr.roles); err != nil {
					return err
				}
			}
			if perms {
				if err := w.ReplaceScope(snapshot.PipelinePermissions, []any{project, kr.k.permType}, kr.perms); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// readPools reads the organization's agent pools and their roles.
func (r *pipeRun) readPools(ctx context.Context) error {
	const kind = "agent pools"
	if r.isDenied(kind) {
		return nil
	}
	list, err := r.e.c.pipes.tasks.GetAgentPools(ctx, taskagent.GetAgentPoolsArgs{})
	if err != nil {
		denied, err := r.forbidden(kind, "list the agent pools", "agentpools", err)
		if denied {
			return nil
		}
		return err
	}
	var rows, roles []snapshot.Row
	for _, p := range deref2(list) {
		if p.Id == nil {
			continue
		}
		owner := ""
		if p.Owner != nil {
			owner = refID(p.Owner.Id)
		}
		rows = append(rows, snapshot.Row{int64(*p.Id), str(p.Name), flag(p.IsHosted), owner})
		rr, err := r.roleRows(ctx, "", RoleScopePool, strconv.Itoa(*p.Id))
		if err != nil {
			return err
		}
		roles = append(roles, rr...)
	}
	withRoles := !r.isDenied("role assignments")
	return r.e.out.do(ctx, func(w *snapshot.Writer) error {
		if err := replaceTable(w, snapshot.AgentPools, rows); err != nil {
			return err
		}
		if withRoles {
			return w.ReplaceScope(snapshot.ResourceRoles, []any{"", RoleScopePool}, roles)
		}
		return nil
	})
}

// replaceTable makes rows the whole current content of an unscoped table.
func replaceTable(w *snapshot.Writer, t *snapshot.Table, rows []snapshot.Row) error {
	keep := map[string]bool{}
	for _, row := range rows {
		keep[fmt.Sprint(row[:len(t.Key)]...)] = true
		if err := w.Put(t, row); err != nil {
			return err
		}
	}
	var gone [][]any
	if err := w.Current(t, func(row snapshot.Row) error {
		if !keep[fmt.Sprint(row[:len(t.Key)]...)] {
			gone = append(gone, row[:len(t.Key)])
		}
		return nil
	}); err != nil {
		return err
	}
	for _, key := range gone {
		if err := w.Delete(t, key...); err != nil {
			return err
		}
	}
	return nil
}

// closeProjectsGone empties the project scopes of every kind read whose
// project is not among those listed (deleted since the last run).
func (r *pipeRun) closeProjectsGone(ctx context.Context, listed map[string]bool) error {
	var kinds []pipeKind
	for _, k := range pipeKinds {
		if !r.isDenied(k.name) {
			kinds = append(kinds, k)
		}
	}
	roles, perms, checks := !r.isDenied("role assignments"), !r.isDenied("pipeline permissions"), !r.isDenied(kindChecks)
	return r.e.out.do(ctx, func(w *snapshot.Writer) error {
		for _, k := range kinds {
			stale := map[string]bool{}
			for _, t := range []*snapshot.Table{k.table, snapshot.ResourceRoles, snapshot.PipelinePermissions, snapshot.ResourceChecks} {
				if err := w.Current(t, func(row snapshot.Row) error {
					if p := row[0].(string); p != "" && !listed[p] {
						stale[p] = true
					}
					return nil
				}); err != nil {
					return err
				}
			}
			for p := range stale {
				if err := w.DeleteScope(k.table, p); err != nil {
					return err
				}
				if roles {
					if err := w.DeleteScope(snapshot.ResourceRoles, p, k.roleScope); err != nil {
						return err
					}
				}
				if perms {
					if err := w.DeleteScope(snapshot.PipelinePermissions, p, k.permType); err != nil {
						return err
					}
				}
				if checks {
					if err := w.DeleteScope(snapshot.ResourceChecks, p, k.permType); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// readPipelines is the full read: the project list, then every project's
// resources side by side, the agent pools, and what belonged to projects
// now gone is closed.
func readPipelines(ctx context.Context, e *env) error {
	r := newPipeRun(e)
	var projects []string
	top := projectPage
	var token *int
	for {
		page, err := e.c.Core.GetProjects(ctx, core.GetProjectsArgs{Top: &top, ContinuationToken: token})
		if err != nil {
			return describe("list projects", "core", err)
		}
		for _, p := range page.Value {
			if p.Id != nil {
				projects = append(projects, p.Id.String())
			}
		}
		if page.ContinuationToken == "" {
			break
		}
		n, err := strconv.Atoi(page.ContinuationToken)
		if err != nil {
			return describe("list projects", "core", err)
		}
		token = &n
	}
	if err := r.readPools(ctx); err != nil {
		return err
	}
	if err := forEach(ctx, e.c.conc, projects, r.readProject); err != nil {
		return err
	}
	listed := map[string]bool{}
	for _, p := range projects {
		listed[p] = true
	}
	return r.closeProjectsGone(ctx, listed)
}

// pipelineSteps are the full reads of pipeline resources and tokens, as
// the options ask. Tokens need the users read first.
func pipelineSteps(o SyncOptions) []step {
	var s []step
	if o.Pipelines {
		s = append(s, step{name: "pipeline resources", run: readPipelines})
	}
	if o.Tokens {
		s = append(s, step{name: "personal access tokens", after: []string{"users"}, run: readTokens})
	}
	return s
}

func init() {
	scopeHints["serviceendpoint"] = "Service Connections (Read & query), vso.serviceendpoint, or --no-pipelines"
	scopeHints["variablegroups"] = "Variable Groups (Read), vso.variablegroups_read, or --no-pipelines"
	scopeHints["environments"] = "Environment (Read & manage), vso.environment_manage (the service has no read-only scope for environments), or --no-pipelines"
	scopeHints["agentpools"] = "Agent Pools (Read), vso.agentpools, or --no-pipelines"
	scopeHints["pipelinepermissions"] = "Build (Read), vso.build, or --no-pipelines"
	scopeHints["tokenadmin"] = "Token Administration (Read & manage), vso.tokenadministration (the service has no read-only scope for it), or --no-pats"
}

package adosim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Pipeline resources: service connections (service endpoints), variable
// groups, environments, agent pools and queues, with the security roles
// (securityroles) assigned on them and their pipeline permissions (which
// pipelines may use them, or all). Secrets (a connection's credential, a
// secret variable's value) live in the model and are never served, as on
// the service: a secret variable's value is null, a connection's
// authorization carries its scheme only.

// Role scopes of the securityroles API.
const (
	roleScopeEndpoint    = "distributedtask.serviceendpointrole"
	roleScopeVarGroup    = "distributedtask.variablegroup"
	roleScopeEnvironment = "distributedtask.environmentreferencerole"
	roleScopeQueue       = "distributedtask.agentqueuerole"
	roleScopePool        = "distributedtask.agentpoolrole"
)

// roleDefs are the roles of each scope with their allow bits, as the
// service defines them (Reader < User < Creator < Administrator).
var roleDefs = map[string][]roleDef{
	roleScopeEndpoint: {{"Reader", 1, "Reader can only view the service connection."}, {"User", 17, "User can use the service connection when authoring build or release pipelines."},
		{"Creator", 5, "Creator can create service connections in the project."}, {"Administrator", 27, "Administrator can use and manage the service connection."}},
	roleScopeVarGroup: {{"Reader", 1, "Reader can only view the library item."}, {"User", 17, "User can use the library item when authoring build or release pipelines."},
		{"Creator", 33, "Creator can create library items in the project."}, {"Administrator", 27, "Administrator can use and manage the library item."}},
	roleScopeEnvironment: {{"Reader", 1, "Reader can only view the environment."}, {"User", 17, "User can use the environment when authoring pipelines."},
		{"Creator", 33, "Creator can create environments in the project."}, {"Administrator", 27, "Administrator can manage the environment."}},
	roleScopeQueue: {{"Reader", 1, "Reader can only view the agent queue."}, {"User", 17, "User can use the agent queue when authoring pipelines."},
		{"Creator", 33, "Creator can create agent queues in the project."}, {"Administrator", 27, "Administrator can manage the agent queue."}},
	roleScopePool: {{"Reader", 1, "Reader can only view the agent pool."}, {"Service Account", 3, "Service account can view agents and listen for jobs."},
		{"Creator", 33, "Creator can create agent pools."}, {"Administrator", 27, "Administrator can manage the agent pool."}},
}

type roleDef struct {
	name  string
	allow int
	desc  string
}

// ServiceEndpoint is a service connection of a project (and the projects
// it is shared with).
type ServiceEndpoint struct {
	ID, Name, Type, URL, Scheme  string
	ProjectID                    string
	SharedWith                   []string // other projects it is shared with
	SubscriptionID, Subscription string   // azurerm only
	TenantID                     string
	CreatedBy                    *Subject
	IsReady                      bool
	Secret                       string // the credential: a key or password; never served
	Deleted                      bool
}

// Variable is one variable of a group; Value of a secret one is never served.
type Variable struct {
	Name, Value string
	Secret      bool
}

// VariableGroup is a library variable group.
type VariableGroup struct {
	ID         int
	ProjectID  string
	Name, Desc string
	KeyVault   string // the linked Azure Key Vault's name, or ""
	Vars       []Variable
	CreatedBy  *Subject
	Created    time.Time
	Deleted    bool
}

// Environment is a deployment environment of a project.
type Environment struct {
	ID        int
	ProjectID string
	Name      string
	CreatedBy *Subject
	Created   time.Time
	Deleted   bool
}

// AgentPool is an organization's agent pool; AgentQueue its use by a project.
type AgentPool struct {
	ID        int
	Name      string
	IsHosted  bool
	CreatedBy *Subject
	Deleted   bool
}

type AgentQueue struct {
	ID        int
	ProjectID string
	PoolID    int
	Name      string
	Deleted   bool
}

// resKey names a protected resource: its role scope and resource id.
type resKey struct{ scope, id string }

// pipePerm is a resource's pipeline permissions.
type pipePerm struct {
	all       bool
	pipelines []int // authorized pipeline ids, sorted
}

// pipelineState is what an organization holds of pipeline resources.
type pipelineState struct {
	ids       *rand.Rand // ids of new resources, apart from the organization's
	endpoints []*ServiceEndpoint
	varGroups []*VariableGroup
	envs      []*Environment
	pools     []*AgentPool
	queues    []*AgentQueue
	nextID    int
	// roles are the explicit (assigned) role assignments: resource →
	// subject seq → role name.
	roles map[resKey]map[int32]string
	// perms are pipeline permissions by project (they are a project's:
	// a shared connection has one set per project), resource type
	// ("endpoint", "variablegroup", "environment", "queue") and id.
	perms     map[[3]string]*pipePerm
	pipelines map[string][]int // project id → its pipeline (definition) ids
	pats      []*PAT           // tokens.go
	checks    []*Check         // checks.go
	nextCheck int
}

func (o *Org) pipes() *pipelineState {
	if o.pl == nil {
		o.pl = &pipelineState{ids: rand.New(rand.NewPCG(1, 2)), nextID: 1, roles: map[resKey]map[int32]string{},
			perms: map[[3]string]*pipePerm{}, pipelines: map[string][]int{}}
	}
	return o.pl
}

func (pl *pipelineState) guid() string {
	a, b := pl.ids.Uint64(), pl.ids.Uint64()
	a = (a &^ 0xf000) | 0x4000
	b = (b &^ (0xc << 60)) | (0x8 << 60)
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", uint32(a>>32), uint16(a>>16), uint16(a), uint16(b>>48), b&0xffffffffffff)
}

// secret is a random credential value, planted where the service keeps one.
func (pl *pipelineState) secret(prefix string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := []byte(prefix)
	for range 40 {
		b = append(b, alphabet[pl.ids.IntN(len(alphabet))])
	}
	return string(b)
}

func (pl *pipelineState) assign(scope, id string, s *Subject, role string) {
	k := resKey{scope, id}
	if pl.roles[k] == nil {
		pl.roles[k] = map[int32]string{}
	}
	pl.roles[k][s.seq] = role
}

// permOf is a resource's pipeline permissions for readers (under the read
// lock): it never adds an entry, unlike perm, which writers use.
func (pl *pipelineState) permOf(projectID, typ, id string) pipePerm {
	if pp := pl.perms[[3]string{projectID, typ, strings.ToLower(id)}]; pp != nil {
		return *pp
	}
	return pipePerm{}
}

func (pl *pipelineState) perm(projectID, typ, id string) *pipePerm {
	k := [3]string{projectID, typ, strings.ToLower(id)}
	if pl.perms[k] == nil {
		pl.perms[k] = &pipePerm{}
	}
	return pl.perms[k]
}

// Resource ids as the securityroles API names them.
func endpointResource(projectID, id string) string { return projectID + "_" + id }
func varGroupResource(projectID string, id int) string {
	return fmt.Sprintf("%s$%d", projectID, id)
}
func envResource(projectID string, id int) string   { return fmt.Sprintf("%s_%d", projectID, id) }
func queueResource(projectID string, id int) string { return fmt.Sprintf("%s_%d", projectID, id) }

// endpointKinds are the connection types generated, with their weights.
var endpointKinds = []struct {
	typ, scheme, url string
	weight           int
}{
	{"azurerm", "ServicePrincipal", "https://management.azure.com/", 40},
	{"azurerm", "WorkloadIdentityFederation", "https://management.azure.com/", 15},
	{"github", "PersonalAccessToken", "https://github.com", 15},
	{"dockerregistry", "UsernamePassword", "https://index.docker.io/v1/", 10},
	{"kubernetes", "Kubeconfig", "https://aks.contoso.example:443", 8},
	{"generic", "UsernamePassword", "https://artifacts.contoso.example", 7},
	{"sonarqube", "UsernamePassword", "https://sonar.contoso.example", 5},
}

var envNames = []string{"dev", "test", "staging", "production", "prod-eu", "prod-us", "qa"}

// genPipelines gives every project its pipelines, service connections,
// variable groups, environments and agent queues, and the organization its
// agent pools, with role assignments and pipeline permissions; then PATs
// (tokens.go). It draws from its own generators, so the rest of the
// organization is the same with or without it.
func (g *generator) genPipelines(seed uint64) {
	o := g.o
	pl := o.pipes()
	pl.ids = rand.New(rand.NewPCG(seed, 0x919e11e5))
	r := rand.New(rand.NewPCG(seed, 0x9a7e5eed))
	pick := func(users []*Subject) *Subject {
		if len(users) == 0 {
			return o.admin
		}
		return users[r.IntN(len(users))]
	}
	// Agent pools: the hosted one and a few self-hosted ones.
	for i, name := range []string{"Azure Pipelines", "Default", "linux-selfhosted", "windows-build"} {
		pool := &AgentPool{ID: i + 1, Name: name, IsHosted: i == 0, CreatedBy: o.admin}
		pl.pools = append(pl.pools, pool)
		pl.assign(roleScopePool, fmt.Sprint(pool.ID), o.admin, "Administrator")
		if i >= 2 && r.IntN(2) == 0 {
			pl.assign(roleScopePool, fmt.Sprint(pool.ID), pick(g.users), "Administrator")
		}
	}
	pl.nextID = 10
	for _, pg := range g.projs {
		p := pg.p
		var pipes []int
		for range 1 + r.IntN(6) {
			pipes = append(pipes, pl.nextID)
			pl.nextID++
		}
		pl.pipelines[p.ID] = pipes
		authorize := func(typ, id string, openShare int) {
			pp := pl.perm(p.ID, typ, id)
			if r.IntN(100) < openShare {
				pp.all = true
				return
			}
			for _, pid := range pipes {
				if r.IntN(2) == 0 {
					pp.pipelines = append(pp.pipelines, pid)
				}
			}
		}
		individual := func(scope, id string) {
			// Some resources carry an assignment to a person rather than a group.
			if r.IntN(4) == 0 {
				pl.assign(scope, id, pick(g.users), []string{"User", "Administrator"}[r.IntN(2)])
			}
		}
		for j := range 1 + r.IntN(4) {
			k := pickKind(r)
			creator := pick(g.users)
			ep := &ServiceEndpoint{ID: pl.guid(), Type: k.typ, Scheme: k.scheme, URL: k.url, ProjectID: p.ID, CreatedBy: creator,
				IsReady: r.IntN(20) != 0, Secret: pl.secret("sim-connection-secret-")}
			ep.Name = fmt.Sprintf("%s-%s-%d", k.typ, envNames[(j+int(p.seq))%len(envNames)], j)
			if k.typ == "azurerm" {
				ep.SubscriptionID, ep.TenantID = pl.guid(), o.TenantID
				ep.Subscription = "Contoso " + envNames[r.IntN(len(envNames))]
			}
			if len(g.projs) > 1 && r.IntN(8) == 0 {
				other := g.projs[r.IntN(len(g.projs))].p
				if other != p {
					ep.SharedWith = append(ep.SharedWith, other.ID)
				}
			}
			pl.endpoints = append(pl.endpoints, ep)
			res := endpointResource(p.ID, ep.ID)
			pl.assign(roleScopeEndpoint, res, creator, "Administrator")
			individual(roleScopeEndpoint, res)
			authorize("endpoint", ep.ID, 30)
		}
		for j := range r.IntN(4) {
			vg := &VariableGroup{ID: pl.nextID, ProjectID: p.ID, Name: fmt.Sprintf("%s-settings-%d", envNames[(j+int(p.seq))%len(envNames)], j),
				Desc: "Generated variable group", CreatedBy: pick(g.users), Created: g.ref.Add(-time.Duration(1+r.IntN(600)) * 24 * time.Hour)}
			pl.nextID++
			vg.Vars = append(vg.Vars, Variable{Name: "ApiUrl", Value: "https://api.contoso.example/" + vg.Name})
			if r.IntN(3) > 0 {
				vg.Vars = append(vg.Vars, Variable{Name: "DbPassword", Value: pl.secret("sim-variable-secret-"), Secret: true})
			}
			if r.IntN(5) == 0 {
				vg.KeyVault = "kv-" + vg.Name
			}
			pl.varGroups = append(pl.varGroups, vg)
			res := varGroupResource(p.ID, vg.ID)
			pl.assign(roleScopeVarGroup, res, vg.CreatedBy, "Administrator")
			individual(roleScopeVarGroup, res)
			authorize("variablegroup", fmt.Sprint(vg.ID), 25)
		}
		for j := range r.IntN(3) {
			env := &Environment{ID: pl.nextID, ProjectID: p.ID, Name: envNames[(j*3+int(p.seq))%len(envNames)], CreatedBy: pick(g.users),
				Created: g.ref.Add(-time.Duration(1+r.IntN(600)) * 24 * time.Hour)}
			pl.nextID++
			pl.envs = append(pl.envs, env)
			res := envResource(p.ID, env.ID)
			pl.assign(roleScopeEnvironment, res, env.CreatedBy, "Administrator")
			individual(roleScopeEnvironment, res)
			authorize("environment", fmt.Sprint(env.ID), 20)
		}
		for _, pool := range pl.pools {
			if pool.ID > 2 && r.IntN(2) == 0 {
				continue
			}
			q := &AgentQueue{ID: pl.nextID, ProjectID: p.ID, PoolID: pool.ID, Name: pool.Name}
			pl.nextID++
			pl.queues = append(pl.queues, q)
			authorize("queue", fmt.Sprint(q.ID), 60)
		}
	}
	g.genPATs(r)
	g.genChecks(seed)
	g.genSSHKeys()
}

func pickKind(r *rand.Rand) struct {
	typ, scheme, url string
	weight           int
} {
	total := 0
	for _, k := range endpointKinds {
		total += k.weight
	}
	x := r.IntN(total)
	for _, k := range endpointKinds {
		if x < k.weight {
			return k
		}
		x -= k.weight
	}
	return endpointKinds[0]
}

// inheritedRoles are the project-level defaults every resource of a scope
// inherits, by default group name.
var inheritedRoles = map[string][][2]string{
	roleScopeEndpoint:    {{"Project Administrators", "Administrator"}, {"Endpoint Administrators", "Administrator"}, {"Endpoint Creators", "Creator"}, {"Project Valid Users", "Reader"}},
	roleScopeVarGroup:    {{"Project Administrators", "Administrator"}, {"Build Administrators", "Administrator"}, {"Contributors", "Creator"}, {"Project Valid Users", "Reader"}},
	roleScopeEnvironment: {{"Project Administrators", "Administrator"}, {"Contributors", "Creator"}, {"Project Valid Users", "Reader"}},
	roleScopeQueue:       {{"Project Administrators", "Administrator"}, {"Build Administrators", "Administrator"}, {"Project Valid Users", "Reader"}},
}

// roleAssignment is one answer row of the securityroles API.
type roleAssignment struct {
	who       *Subject
	role      string
	inherited bool
}

// roleAssignments lists who holds which role on a resource: the explicit
// assignments, then those inherited from the project (or, for pools, the
// organization). It answers nil, false for a resource that does not exist.
func (o *Org) roleAssignments(scope, resource string) ([]roleAssignment, bool) {
	pl := o.pipes()
	p, ok := o.resourceProject(scope, resource)
	if !ok {
		return nil, false
	}
	var out []roleAssignment
	explicit := pl.roles[resKey{scope, resource}]
	seqs := make([]int32, 0, len(explicit))
	for seq := range explicit {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		if s := o.subjects[seq]; !s.Deleted {
			out = append(out, roleAssignment{who: s, role: explicit[seq]})
		}
	}
	if scope == roleScopePool {
		if explicit[o.pca.seq] == "" {
			out = append(out, roleAssignment{who: o.pca, role: "Administrator", inherited: true})
		}
		return out, true
	}
	for _, d := range inheritedRoles[scope] {
		g := o.projectGroup(p, d[0])
		if g != nil && explicit[g.seq] == "" {
			out = append(out, roleAssignment{who: g, role: d[1], inherited: true})
		}
	}
	return out, true
}

// resourceProject resolves a securityroles resource id to the project it
// belongs to (nil for organization-level pools).
func (o *Org) resourceProject(scope, resource string) (*Project, bool) {
	pl := o.pipes()
	switch scope {
	case roleScopePool:
		for _, pool := range pl.pools {
			if !pool.Deleted && fmt.Sprint(pool.ID) == resource {
				return nil, true
			}
		}
		return nil, false
	case roleScopeEndpoint:
		for _, ep := range pl.endpoints {
			if ep.Deleted {
				continue
			}
			for _, pid := range append([]string{ep.ProjectID}, ep.SharedWith...) {
				if endpointResource(pid, ep.ID) == resource {
					p := o.liveProject(pid)
					return p, p != nil
				}
			}
		}
	case roleScopeVarGroup:
		for _, vg := range pl.varGroups {
			if !vg.Deleted && varGroupResource(vg.ProjectID, vg.ID) == resource {
				p := o.liveProject(vg.ProjectID)
				return p, p != nil
			}
		}
	case roleScopeEnvironment:
		for _, e := range pl.envs {
			if !e.Deleted && envResource(e.ProjectID, e.ID) == resource {
				p := o.liveProject(e.ProjectID)
				return p, p != nil
			}
		}
	case roleScopeQueue:
		for _, q := range pl.queues {
			if !q.Deleted && queueResource(q.ProjectID, q.ID) == resource {
				p := o.liveProject(q.ProjectID)
				return p, p != nil
			}
		}
	}
	return nil, false
}

// Changes, each with its Audit Log entry. The action ids are those of the
// Library, Pipelines and Token areas of Microsoft's auditing events list
// (https://learn.microsoft.com/azure/devops/organizations/audit/auditing-events).
// Callers hold the write lock.

// SetPipelinePermission opens a resource to all pipelines or closes it.
func (o *Org) SetPipelinePermission(actor *Subject, p *Project, typ, id, name string, all bool) {
	pp := o.pipes().perm(p.ID, typ, id)
	pp.all = all
	action, verb := "Pipelines.ResourceAuthorizedForAllPipelines", "authorized for all pipelines"
	if !all {
		action, verb = "Pipelines.ResourceUnauthorizedForAllPipelines", "no longer authorized for all pipelines"
	}
	o.record(o.clock.Now(), actor, action, fmt.Sprintf("The %s %s was %s", typ, name, verb), p,
		map[string]any{"ResourceType": typ, "ResourceId": id, "ResourceName": name})
}

// SetRole assigns a role on a resource (role "" removes the assignment).
func (o *Org) SetRole(actor *Subject, scope, resource string, who *Subject, role string) error {
	p, ok := o.resourceProject(scope, resource)
	if !ok {
		return fmt.Errorf("%w: no resource %s in scope %s", errNotFound, resource, scope)
	}
	pl := o.pipes()
	k := resKey{scope, resource}
	if role == "" {
		if pl.roles[k][who.seq] == "" {
			return fmt.Errorf("%w: %s holds no role on %s", errNotFound, who.DisplayName, resource)
		}
		delete(pl.roles[k], who.seq)
	} else {
		pl.assign(scope, resource, who, role)
	}
	o.record(o.clock.Now(), actor, "Library.SecurityRoleAssignmentModified", fmt.Sprintf("Role of %s on %s set to %q", who.DisplayName, resource, role), p,
		map[string]any{"Scope": scope, "ResourceId": resource, "IdentityId": who.ID, "Role": role})
	return nil
}

// CreateEndpoint adds a service connection.
func (o *Org) CreateEndpoint(actor *Subject, p *Project, typ, name string, all bool) *ServiceEndpoint {
	pl := o.pipes()
	k := endpointKinds[0]
	for _, c := range endpointKinds {
		if c.typ == typ {
			k = c
			break
		}
	}
	ep := &ServiceEndpoint{ID: pl.guid(), Name: name, Type: k.typ, Scheme: k.scheme, URL: k.url, ProjectID: p.ID, CreatedBy: actor,
		IsReady: true, Secret: pl.secret("sim-connection-secret-")}
	if k.typ == "azurerm" {
		ep.SubscriptionID, ep.Subscription, ep.TenantID = pl.guid(), "Contoso created", o.TenantID
	}
	pl.endpoints = append(pl.endpoints, ep)
	pl.assign(roleScopeEndpoint, endpointResource(p.ID, ep.ID), actor, "Administrator")
	pl.perm(p.ID, "endpoint", ep.ID).all = all
	o.record(o.clock.Now(), actor, "Library.ServiceConnectionCreated", fmt.Sprintf("Created service connection %s of type %s", name, typ), p,
		map[string]any{"ConnectionId": ep.ID, "ConnectionName": name, "ConnectionType": typ})
	return ep
}

// DeleteEndpoint removes a service connection.
// Each project that saw it gets an entry.
func (o *Org) DeleteEndpoint(actor *Subject, ep *ServiceEndpoint) {
	ep.Deleted = true
	for _, pid := range append([]string{ep.ProjectID}, ep.SharedWith...) {
		o.record(o.clock.Now(), actor, "Library.ServiceConnectionDeleted", "Deleted service connection "+ep.Name, o.projectByID[pid],
			map[string]any{"ConnectionId": ep.ID, "ConnectionName": ep.Name, "ConnectionType": ep.Type})
	}
}

// SetSecretVariable adds or changes a variable of a group.
func (o *Org) SetSecretVariable(actor *Subject, vg *VariableGroup, name, value string, secret bool) {
	i := slices.IndexFunc(vg.Vars, func(v Variable) bool { return v.Name == name })
	if i < 0 {
		vg.Vars = append(vg.Vars, Variable{Name: name})
		i = len(vg.Vars) - 1
	}
	vg.Vars[i].Value, vg.Vars[i].Secret = value, secret
	o.record(o.clock.Now(), actor, "Library.VariableGroupModified", "Modified variable group "+vg.Name, o.projectByID[vg.ProjectID],
		map[string]any{"VariableGroupId": vg.ID, "VariableGroupName": vg.Name})
}

// liveEndpoints are the connections a project sees: its own and those shared with it.
func (o *Org) liveEndpoints(p *Project) []*ServiceEndpoint {
	var out []*ServiceEndpoint
	for _, ep := range o.pipes().endpoints {
		// A connection shared with other projects stays theirs when its own
		// project goes.
		if !ep.Deleted && (ep.ProjectID == p.ID || slices.Contains(ep.SharedWith, p.ID)) {
			out = append(out, ep)
		}
	}
	return out
}

// PipelineCounts are the live pipeline resources of the first organization,
// as a full read should find them.
type PipelineCounts struct {
	Connections    int // sightings: a shared connection counts once per project
	VariableGroups int
	Environments   int
	Queues         int
	Pools          int
	Tokens         int // tokens and SSH keys of users still in the organization
	SSHKeys        int // of which SSH keys
}

func (s *Server) PipelineCounts() PipelineCounts {
	o := s.org
	o.mu.RLock()
	defer o.mu.RUnlock()
	pl := o.pipes()
	var n PipelineCounts
	for _, p := range o.projects {
		if !p.Deleted {
			n.Connections += len(o.liveEndpoints(p))
		}
	}
	for _, vg := range pl.varGroups {
		if !vg.Deleted && o.liveProject(vg.ProjectID) != nil {
			n.VariableGroups++
		}
	}
	for _, e := range pl.envs {
		if !e.Deleted && o.liveProject(e.ProjectID) != nil {
			n.Environments++
		}
	}
	for _, q := range pl.queues {
		if !q.Deleted && o.liveProject(q.ProjectID) != nil {
			n.Queues++
		}
	}
	for _, p := range pl.pools {
		if !p.Deleted {
			n.Pools++
		}
	}
	for _, t := range pl.pats {
		if !t.Owner.Deleted {
			n.Tokens++
			if t.SSH {
				n.SSHKeys++
			}
		}
	}
	return n
}

// Secrets lists every secret value the simulator holds for pipeline
// resources and tokens (connection credentials, secret variable values,
// token values), which no answer ever carries: tests search outputs for them.
func (s *Server) Secrets() []string {
	var out []string
	for _, o := range s.allOrgs() {
		o.mu.RLock()
		pl := o.pipes()
		for _, ep := range pl.endpoints {
			out = append(out, ep.Secret)
		}
		for _, vg := range pl.varGroups {
			for _, v := range vg.Vars {
				if v.Secret {
					out = append(out, v.Value)
				}
			}
		}
		for _, t := range pl.pats {
			if !t.SSH { // an SSH key has no secret the service holds
				out = append(out, t.Value)
			}
		}
		o.mu.RUnlock()
	}
	return out
}

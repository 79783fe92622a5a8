package adosim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The HTTP side of pipeline resources (pipelines.go) and tokens
// (tokens.go): the routes, as the specs in ado-rest-specs (serviceEndpoint,
// distributedTask, securityRoles, approvalsAndChecks, tokenAdmin) define
// them, and where discovery says they live.

func init() {
	resourceAreas = append(resourceAreas,
		struct {
			id, name string
			host     host
		}{"1814ab31-2f4f-4a9f-8761-f4d77dc5a5d7", "serviceendpoint", hostOrg},
		struct {
			id, name string
			host     host
		}{"a85b8835-c1a1-4aac-ae97-1c3d0ba72dbd", "distributedtask", hostOrg},
		struct {
			id, name string
			host     host
		}{"a81a0441-de52-4000-aa15-ff0e07bfbbaa", "pipelinePermissions", hostOrg},
		struct {
			id, name string
			host     host
		}{"af68438b-ed04-4407-9eb6-f1dbae3f922e", "TokenAdmin", hostVSSPS},
		struct {
			id, name string
			host     host
		}{"4a933897-0488-45af-bd82-6fd3ad33f46a", "PipelinesChecks", hostOrg})
	locations = append(locations,
		location{"e85f1c62-adfc-4b74-b618-11a150fb195e", "serviceendpoint", "endpoints", "{project}/_apis/{area}/{resource}/{endpointId}", 4, hostOrg},
		location{"14e48fdc-2c8b-41ce-a0c3-e26f6cc55bd0", "serviceendpoint", "endpoints", "_apis/{area}/{resource}/{endpointId}", 4, hostOrg},
		location{"f5b09dd5-9d54-45a1-8b5a-1c8287d634cc", "distributedtask", "variablegroups", "{project}/_apis/{area}/{resource}/{groupId}", 2, hostOrg},
		location{"8572b1fc-2482-47fa-8f74-7e3ed53ee54b", "distributedtask", "environments", "{project}/_apis/{area}/{resource}/{environmentId}", 1, hostOrg},
		location{"a8c47e17-4d56-4a56-92bb-de7ea7dc65be", "distributedtask", "pools", "_apis/{area}/{resource}/{poolId}", 1, hostOrg},
		location{"900fa995-c559-4923-aae7-f8424fe4fbea", "distributedtask", "queues", "{project}/_apis/{area}/{resource}/{queueId}", 1, hostOrg},
		location{"b5b9a4a4-e6cd-4096-853c-ab7d8b0c4eb2", "pipelinePermissions", "pipelinePermissions", "{project}/_apis/pipelines/{resource}/{resourceType}/{resourceId}", 1, hostOrg},
		location{"86c8381e-5aee-4cde-8ae4-25c0c7f5eaea", "PipelinesChecks", "configurations", "{project}/_apis/pipelines/checks/{resource}/{id}", 1, hostOrg},
		location{"5f3d0e64-f943-4584-8811-77eb495e831e", "PipelinesChecks", "queryconfigurations", "{project}/_apis/pipelines/checks/{resource}", 1, hostOrg},
		location{"af68438b-ed04-4407-9eb6-f1dbae3f922e", "TokenAdmin", "PersonalAccessTokens", "_apis/{area}/{resource}/{subjectDescriptor}", 1, hostVSSPS},
		location{"a9c08b2c-5466-4e22-8626-1ff304ffdf0f", "TokenAdmin", "Revocations", "_apis/{area}/{resource}", 1, hostVSSPS},
	)
	scopeNames["vso.serviceendpoint"] = "Service Connections (Read & query)"
	scopeNames["vso.variablegroups_read"] = "Variable Groups (Read)"
	scopeNames["vso.environment_manage"] = "Environment (Read & manage)"
	scopeNames["vso.agentpools"] = "Agent Pools (Read)"
	scopeNames["vso.build"] = "Build (Read)"
	scopeNames["vso.pipelineresources_manage"] = "Pipeline Resources (Use and manage)"
	scopeNames["vso.tokenadministration"] = "Token Administration (Read & manage)"
	// The default credentials read (and the read-write one manages) them.
	readScopes = append(readScopes, "vso.serviceendpoint", "vso.variablegroups_read", "vso.environment_manage", "vso.agentpools", "vso.build", "vso.tokenadministration")
	writeScopes = append(writeScopes, "vso.serviceendpoint_manage", "vso.variablegroups_read", "vso.environment_manage", "vso.agentpools", "vso.build",
		"vso.pipelineresources_manage", "vso.tokenadministration")
	mutationKinds = append(mutationKinds, pipelineMutationKinds...)
}

func (s *Server) pipelineRoutes() []*route {
	h := hostOrg
	return append([]*route{
		newRoute(h, http.MethodGet, "{p}/_apis/serviceendpoint/endpoints", "serviceendpoint.endpoints.list", "vso.serviceendpoint", s.listEndpoints),
		newRoute(h, http.MethodGet, "{p}/_apis/serviceendpoint/endpoints/{id}", "serviceendpoint.endpoints.get", "vso.serviceendpoint", s.getEndpoint),
		newRoute(h, http.MethodGet, "{p}/_apis/distributedtask/variablegroups", "distributedtask.variablegroups.list", "vso.variablegroups_read", s.listVarGroups),
		newRoute(h, http.MethodGet, "{p}/_apis/distributedtask/environments", "distributedtask.environments.list", "vso.environment_manage", s.listEnvironments),
		newRoute(h, http.MethodGet, "_apis/distributedtask/pools", "distributedtask.pools.list", "vso.agentpools", s.listPools),
		newRoute(h, http.MethodGet, "{p}/_apis/distributedtask/queues", "distributedtask.queues.list", "vso.agentpools", s.listQueues),
		newRoute(h, http.MethodGet, "_apis/securityroles/scopes/{scope}/roleassignments/resources/{res}", "securityroles.roleassignments.list", anyScope, s.listRoleAssignments),
		newRoute(h, http.MethodDelete, "_apis/securityroles/scopes/{scope}/roleassignments/resources/{res}/{identity}", "securityroles.roleassignments.remove", "vso.security_manage", s.removeRoleAssignment),
		newRoute(h, http.MethodPatch, "_apis/securityroles/scopes/{scope}/roleassignments/resources/{res}", "securityroles.roleassignments.remove", "vso.security_manage", s.removeRoleAssignments),
		newRoute(h, http.MethodGet, "{p}/_apis/pipelines/pipelinepermissions/{type}/{id}", "pipelinepermissions.get", "vso.build", s.getPipelinePermissions),
		newRoute(h, http.MethodPatch, "{p}/_apis/pipelines/pipelinepermissions/{type}/{id}", "pipelinepermissions.update", "vso.pipelineresources_manage", s.updatePipelinePermissions),
	}, append(s.checkRoutes(), s.tokenRoutes()...)...)
}

func projectRefs(o *Org, ids []string) []map[string]any {
	out := []map[string]any{}
	for _, id := range ids {
		if p := o.liveProject(id); p != nil {
			out = append(out, map[string]any{"projectReference": map[string]any{"id": p.ID, "name": p.Name}, "name": "", "description": ""})
		}
	}
	return out
}

// endpointJSON never carries the credential: the authorization has its
// scheme and, for Azure, the tenant; secret parameters are left out.
func (o *Org) endpointJSON(ep *ServiceEndpoint) map[string]any {
	auth := map[string]any{"scheme": ep.Scheme}
	data := map[string]any{}
	if ep.Type == "azurerm" {
		auth["parameters"] = map[string]any{"tenantid": ep.TenantID, "serviceprincipalid": ep.ID, "authenticationType": "spnKey"}
		data = map[string]any{"subscriptionId": ep.SubscriptionID, "subscriptionName": ep.Subscription, "environment": "AzureCloud",
			"scopeLevel": "Subscription", "creationMode": "Automatic"}
	}
	return map[string]any{
		"data": data, "id": ep.ID, "name": ep.Name, "type": ep.Type, "url": ep.URL,
		"createdBy": o.identityRef(ep.CreatedBy), "description": "", "authorization": auth,
		"isShared": len(ep.SharedWith) > 0, "isReady": ep.IsReady, "isOutdated": false, "owner": "Library",
		"serviceEndpointProjectReferences": projectRefs(o, append([]string{ep.ProjectID}, ep.SharedWith...)),
	}
}

func (s *Server) listEndpoints(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	p := c.project()
	if p == nil {
		return
	}
	var items [][]byte
	for _, ep := range o.liveEndpoints(p) {
		items = append(items, mustJSON(o.endpointJSON(ep)))
	}
	writeList(c.w, items)
}

func (s *Server) getEndpoint(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	p := c.project()
	if p == nil {
		return
	}
	for _, ep := range o.liveEndpoints(p) {
		if strings.EqualFold(ep.ID, c.param("id")) {
			writeJSON(c.w, http.StatusOK, o.endpointJSON(ep))
			return
		}
	}
	// The service answers an unknown id with 200 and an empty body.
	writeRaw(c.w, http.StatusOK, []byte("null"))
}

// varGroupJSON masks secret values as the service does: "value": null.
func (o *Org) varGroupJSON(vg *VariableGroup) map[string]any {
	vars := map[string]any{}
	for _, v := range vg.Vars {
		if v.Secret {
			vars[v.Name] = map[string]any{"value": nil, "isSecret": true}
		} else {
			vars[v.Name] = map[string]any{"value": v.Value}
		}
	}
	typ := "Vsts"
	var provider any
	if vg.KeyVault != "" {
		typ = "AzureKeyVault"
		provider = map[string]any{"serviceEndpointId": "", "vault": vg.KeyVault}
	}
	when := vg.Created.UTC().Format("2006-01-02T15:04:05.0000000Z")
	return map[string]any{
		"variables": vars, "id": vg.ID, "type": typ, "name": vg.Name, "description": vg.Desc, "providerData": provider,
		"createdBy": o.identityRef(vg.CreatedBy), "createdOn": when, "modifiedBy": o.identityRef(vg.CreatedBy), "modifiedOn": when,
		"isShared": false, "variableGroupProjectReferences": projectRefs(o, []string{vg.ProjectID}),
	}
}

func (s *Server) listVarGroups(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	p := c.project()
	if p == nil {
		return
	}
	var items [][]byte
	for _, vg := range o.pipes().varGroups {
		if !vg.Deleted && vg.ProjectID == p.ID {
			items = append(items, mustJSON(o.varGroupJSON(vg)))
		}
	}
	writeList(c.w, items)
}

func (s *Server) listEnvironments(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	p := c.project()
	if p == nil {
		return
	}
	var items [][]byte
	for _, e := range o.pipes().envs {
		if !e.Deleted && e.ProjectID == p.ID {
			when := e.Created.UTC().Format("2006-01-02T15:04:05.000Z")
			items = append(items, mustJSON(map[string]any{
				"id": e.ID, "name": e.Name, "description": "", "createdBy": o.identityRef(e.CreatedBy), "createdOn": when,
				"lastModifiedBy": o.identityRef(e.CreatedBy), "lastModifiedOn": when, "project": map[string]any{"id": p.ID, "name": p.Name},
			}))
		}
	}
	writeList(c.w, items)
}

func (s *Server) listPools(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	var items [][]byte
	for _, pool := range o.pipes().pools {
		if !pool.Deleted {
			items = append(items, mustJSON(map[string]any{
				"id": pool.ID, "name": pool.Name, "isHosted": pool.IsHosted, "poolType": "automation", "size": 0,
				"createdBy": o.identityRef(pool.CreatedBy), "owner": o.identityRef(pool.CreatedBy), "autoProvision": false, "isLegacy": pool.IsHosted,
			}))
		}
	}
	writeList(c.w, items)
}

func (s *Server) listQueues(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	p := c.project()
	if p == nil {
		return
	}
	pl := o.pipes()
	var items [][]byte
	for _, q := range pl.queues {
		if q.Deleted || q.ProjectID != p.ID {
			continue
		}
		i := slices.IndexFunc(pl.pools, func(x *AgentPool) bool { return x.ID == q.PoolID })
		items = append(items, mustJSON(map[string]any{
			"id": q.ID, "projectId": p.ID, "name": q.Name,
			"pool": map[string]any{"id": q.PoolID, "name": q.Name, "isHosted": i >= 0 && pl.pools[i].IsHosted, "poolType": "automation"},
		}))
	}
	writeList(c.w, items)
}

func (s *Server) listRoleAssignments(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	scope := c.param("scope")
	list, ok := o.roleAssignments(scope, c.param("res"))
	if !ok {
		if _, known := roleDefs[scope]; !known {
			writeError(c.w, http.StatusNotFound, "InvalidScopeException", "The scope "+scope+" is not valid.")
			return
		}
		// An unknown resource has no assignments of its own.
		writeList(c.w, nil)
		return
	}
	var items [][]byte
	for _, a := range list {
		def := roleDefs[scope][0]
		for _, d := range roleDefs[scope] {
			if d.name == a.role {
				def = d
			}
		}
		access, accessName := "assigned", "Assigned"
		if a.inherited {
			access, accessName = "inherited", "Inherited"
		}
		items = append(items, mustJSON(map[string]any{
			"identity": o.identityRef(a.who),
			"role": map[string]any{"displayName": def.name, "name": def.name, "allowPermissions": def.allow, "denyPermissions": 0,
				"identifier": scope + "." + def.name, "description": def.desc, "scope": scope},
			"access": access, "accessDisplayName": accessName,
		}))
	}
	writeList(c.w, items)
}

func (s *Server) removeRoleAssignment(c *call) {
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	who := o.byID[strings.ToLower(c.param("identity"))]
	if who == nil {
		writeError(c.w, http.StatusNotFound, "IdentityNotFoundException", "The identity "+c.param("identity")+" could not be found.")
		return
	}
	if err := o.SetRole(o.admin, c.param("scope"), c.param("res"), who, ""); err != nil {
		c.fail(err)
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// removeRoleAssignments takes a list of identity ids (Remove Role
// Assignments); ids that hold no role are skipped.
func (s *Server) removeRoleAssignments(c *call) {
	var ids []string
	if !c.decode(&ids) {
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, id := range ids {
		if who := o.byID[strings.ToLower(id)]; who != nil {
			_ = o.SetRole(o.admin, c.param("scope"), c.param("res"), who, "")
		}
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// pipelineResource resolves a pipeline permission's resource in a project:
// its name, or false if it does not exist there.
func (o *Org) pipelineResource(p *Project, typ, id string) (string, bool) {
	pl := o.pipes()
	switch typ {
	case "endpoint":
		for _, ep := range o.liveEndpoints(p) {
			if strings.EqualFold(ep.ID, id) {
				return ep.Name, true
			}
		}
	case "variablegroup":
		for _, vg := range pl.varGroups {
			if !vg.Deleted && vg.ProjectID == p.ID && strconv.Itoa(vg.ID) == id {
				return vg.Name, true
			}
		}
	case "environment":
		for _, e := range pl.envs {
			if !e.Deleted && e.ProjectID == p.ID && strconv.Itoa(e.ID) == id {
				return e.Name, true
			}
		}
	case "queue":
		for _, q := range pl.queues {
			if !q.Deleted && q.ProjectID == p.ID && strconv.Itoa(q.ID) == id {
				return q.Name, true
			}
		}
	}
	return "", false
}

func (o *Org) pipelinePermissionsJSON(p *Project, typ, id string) map[string]any {
	pp := o.pipes().permOf(p.ID, typ, id)
	out := map[string]any{"resource": map[string]any{"type": typ, "id": id}}
	by := o.identityRef(o.admin)
	if pp.all {
		out["allPipelines"] = map[string]any{"authorized": true, "authorizedBy": by, "authorizedOn": "2024-01-02T08:59:48.77Z"}
	}
	pipes := []map[string]any{}
	for _, pid := range pp.pipelines {
		pipes = append(pipes, map[string]any{"id": pid, "authorized": true, "authorizedBy": by, "authorizedOn": "2024-01-02T08:59:48.77Z"})
	}
	out["pipelines"] = pipes
	return out
}

func (s *Server) getPipelinePermissions(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	p := c.project()
	if p == nil {
		return
	}
	if _, ok := o.pipelineResource(p, c.param("type"), c.param("id")); !ok {
		writeError(c.w, http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("The %s resource %s does not exist in project %s.", c.param("type"), c.param("id"), p.Name))
		return
	}
	writeJSON(c.w, http.StatusOK, o.pipelinePermissionsJSON(p, c.param("type"), c.param("id")))
}

// updatePipelinePermissions sets allPipelines and authorizes or
// unauthorizes pipelines, as the body says.
func (s *Server) updatePipelinePermissions(c *call) {
	var body struct {
		AllPipelines *struct {
			Authorized bool `json:"authorized"`
		} `json:"allPipelines"`
		Pipelines []struct {
			ID         int  `json:"id"`
			Authorized bool `json:"authorized"`
		} `json:"pipelines"`
	}
	if !c.decode(&body) {
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	p := c.project()
	if p == nil {
		return
	}
	typ, id := c.param("type"), strings.ToLower(c.param("id"))
	name, ok := o.pipelineResource(p, typ, id)
	if !ok {
		writeError(c.w, http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("The %s resource %s does not exist in project %s.", typ, id, p.Name))
		return
	}
	if body.AllPipelines != nil && body.AllPipelines.Authorized != o.pipes().perm(p.ID, typ, id).all {
		o.SetPipelinePermission(o.admin, p, typ, id, name, body.AllPipelines.Authorized)
	}
	pp := o.pipes().perm(p.ID, typ, id)
	for _, b := range body.Pipelines {
		i, found := slices.BinarySearch(pp.pipelines, b.ID)
		switch {
		case b.Authorized && !found:
			pp.pipelines = slices.Insert(pp.pipelines, i, b.ID)
		case !b.Authorized && found:
			pp.pipelines = slices.Delete(pp.pipelines, i, i+1)
		}
	}
	writeJSON(c.w, http.StatusOK, o.pipelinePermissionsJSON(p, typ, id))
}

// Mutations of pipeline resources and tokens for /_sim/mutate. They are
// drawn only when named (weight 0 in the default mix), so that the mix
// other tests rely on stays as it was.
var pipelineMutationKinds = []mutationKind{
	{"endpoint.create", 0, (*mutator).endpointCreate},
	{"endpoint.delete", 0, (*mutator).endpointDelete},
	{"pipeline.open", 0, (*mutator).pipelineOpen},
	{"role.assign", 0, (*mutator).roleAssign},
	{"vargroup.secret", 0, (*mutator).varGroupSecret},
	{"pat.create", 0, (*mutator).patCreate},
	{"pat.revoke", 0, (*mutator).patRevoke},
	{"check.add", 0, (*mutator).checkAdd}, // checks.go
	{"check.remove", 0, (*mutator).checkRemove},
	{"check.approvers", 0, (*mutator).checkApprovers},
	{"ssh.create", 0, (*mutator).sshCreate},
	{"ssh.revoke", 0, (*mutator).sshRevoke},
}

// PipelineMutationKinds are the kinds above, for tests that want them.
func PipelineMutationKinds() []string {
	var out []string
	for _, k := range pipelineMutationKinds {
		out = append(out, k.name)
	}
	return out
}

func (m *mutator) liveProjectPick() *Project {
	var live []*Project
	for _, p := range m.o.projects {
		if !p.Deleted {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		return nil
	}
	return live[m.r.IntN(len(live))]
}

func (m *mutator) endpointCreate() (Mutation, bool) {
	p := m.liveProjectPick()
	u := m.pick(func(s *Subject) bool { return s.Kind == KindUser && s.Ent != nil })
	if p == nil || u == nil {
		return Mutation{}, false
	}
	ep := m.o.CreateEndpoint(u, p, endpointKinds[m.r.IntN(len(endpointKinds))].typ, fmt.Sprintf("conn-%d", m.o.auditSeq), m.r.IntN(3) == 0)
	return Mutation{ActionID: "Library.ServiceConnectionCreated", Summary: "created service connection " + ep.Name, Target: ep.ID}, true
}

func (m *mutator) endpointDelete() (Mutation, bool) {
	var live []*ServiceEndpoint
	for _, ep := range m.o.pipes().endpoints {
		if !ep.Deleted && m.o.liveProject(ep.ProjectID) != nil {
			live = append(live, ep)
		}
	}
	if len(live) == 0 {
		return Mutation{}, false
	}
	ep := live[m.r.IntN(len(live))]
	m.o.DeleteEndpoint(m.o.admin, ep)
	return Mutation{ActionID: "Library.ServiceConnectionDeleted", Summary: "deleted service connection " + ep.Name, Target: ep.ID}, true
}

func (m *mutator) pipelineOpen() (Mutation, bool) {
	p := m.liveProjectPick()
	if p == nil {
		return Mutation{}, false
	}
	eps := m.o.liveEndpoints(p)
	if len(eps) == 0 {
		return Mutation{}, false
	}
	ep := eps[m.r.IntN(len(eps))]
	all := !m.o.pipes().perm(p.ID, "endpoint", ep.ID).all
	m.o.SetPipelinePermission(m.o.admin, p, "endpoint", ep.ID, ep.Name, all)
	action := "Pipelines.ResourceAuthorizedForAllPipelines"
	if !all {
		action = "Pipelines.ResourceUnauthorizedForAllPipelines"
	}
	return Mutation{ActionID: action, Summary: fmt.Sprintf("set %s open to all pipelines: %v", ep.Name, all), Target: ep.ID}, true
}

func (m *mutator) roleAssign() (Mutation, bool) {
	var live []*ServiceEndpoint
	for _, ep := range m.o.pipes().endpoints {
		if !ep.Deleted && m.o.liveProject(ep.ProjectID) != nil {
			live = append(live, ep)
		}
	}
	u := m.pick(func(s *Subject) bool { return s.Kind == KindUser && s.Ent != nil })
	if len(live) == 0 || u == nil {
		return Mutation{}, false
	}
	ep := live[m.r.IntN(len(live))]
	res := endpointResource(ep.ProjectID, ep.ID)
	role := []string{"User", "Administrator", ""}[m.r.IntN(3)]
	if role == "" && m.o.pipes().roles[resKey{roleScopeEndpoint, res}][u.seq] == "" {
		role = "User"
	}
	if err := m.o.SetRole(m.o.admin, roleScopeEndpoint, res, u, role); err != nil {
		return Mutation{}, false
	}
	return Mutation{ActionID: "Library.SecurityRoleAssignmentModified", Summary: fmt.Sprintf("set role %q of %s on %s", role, u.DisplayName, ep.Name), Target: res}, true
}

func (m *mutator) varGroupSecret() (Mutation, bool) {
	var live []*VariableGroup
	for _, vg := range m.o.pipes().varGroups {
		if !vg.Deleted && m.o.liveProject(vg.ProjectID) != nil {
			live = append(live, vg)
		}
	}
	if len(live) == 0 {
		return Mutation{}, false
	}
	vg := live[m.r.IntN(len(live))]
	m.o.SetSecretVariable(m.o.admin, vg, "Rotated", m.o.pipes().secret("sim-variable-secret-"), true)
	return Mutation{ActionID: "Library.VariableGroupModified", Summary: "added a secret to " + vg.Name, Target: strconv.Itoa(vg.ID)}, true
}

func (m *mutator) patCreate() (Mutation, bool) {
	u := m.pick(func(s *Subject) bool { return s.Kind == KindUser && s.Ent != nil })
	if u == nil {
		return Mutation{}, false
	}
	t := m.o.CreatePAT(u, patNames[m.r.IntN(len(patNames))], patScopes[m.r.IntN(len(patScopes))], 24*time.Hour*time.Duration([]int{30, 90, 365}[m.r.IntN(3)]), m.r.IntN(10) == 0)
	return Mutation{ActionID: "Token.PatCreateEvent", Summary: "created a personal access token for " + u.DisplayName, Target: t.AuthorizationID}, true
}

func (m *mutator) patRevoke() (Mutation, bool) {
	var pats []*PAT
	for _, t := range m.o.pipes().pats {
		if !t.SSH {
			pats = append(pats, t)
		}
	}
	if len(pats) == 0 {
		return Mutation{}, false
	}
	t := pats[m.r.IntN(len(pats))]
	_ = m.o.RevokePAT(m.o.admin, t.AuthorizationID)
	return Mutation{ActionID: "Token.PatRevokeEvent", Summary: "revoked a personal access token of " + t.Owner.DisplayName, Target: t.AuthorizationID}, true
}

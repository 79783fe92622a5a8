package adosim

import (
	"net/http"
	"strconv"
	"strings"
)

// Core: projects, teams and team members, on the organization URL. Lists
// page with $top/$skip; projects also answer X-MS-ContinuationToken (the
// next $skip). $top above maxTop is quietly capped, so a client must keep
// paging until a short page, as with the service.

const (
	defaultTop = 100
	maxTop     = 1000
)

func (s *Server) coreRoutes() []*route {
	const r, w = "vso.project", "vso.project_manage"
	h := hostOrg
	return []*route{
		newRoute(h, http.MethodGet, "_apis/projects", "core.projects.list", r, s.listProjects),
		newRoute(h, http.MethodGet, "_apis/projects/{p}", "core.projects.get", r, s.getProject),
		newRoute(h, http.MethodPost, "_apis/projects", "core.projects.create", w, s.createProject),
		newRoute(h, http.MethodPatch, "_apis/projects/{p}", "core.projects.update", w, s.updateProject),
		newRoute(h, http.MethodDelete, "_apis/projects/{p}", "core.projects.delete", w, s.deleteProject),
		newRoute(h, http.MethodGet, "_apis/teams", "core.teams.all", r, s.listAllTeams),
		newRoute(h, http.MethodGet, "_apis/projects/{p}/teams", "core.teams.list", r, s.listTeams),
		newRoute(h, http.MethodGet, "_apis/projects/{p}/teams/{t}", "core.teams.get", r, s.getTeam),
		newRoute(h, http.MethodPost, "_apis/projects/{p}/teams", "core.teams.create", w, s.createTeam),
		newRoute(h, http.MethodDelete, "_apis/projects/{p}/teams/{t}", "core.teams.delete", w, s.deleteTeam),
		newRoute(h, http.MethodGet, "_apis/projects/{p}/teams/{t}/members", "core.teams.members", r, s.listTeamMembers),
	}
}

// window reads $top and $skip.
func (c *call) window() (top, skip int, ok bool) {
	top, skip = defaultTop, 0
	if v := c.query("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "$top must be a non-negative number.")
			return 0, 0, false
		}
		top = n
	}
	if v := c.query("$skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "$skip must be a non-negative number.")
			return 0, 0, false
		}
		skip = n
	}
	return min(top, maxTop), skip, true
}

// processTypeIDs are the ids of the system processes, which a project
// creation names in capabilities.processTemplate.templateTypeId.
var processTypeIDs = map[string]string{
	"Agile": "adcc42ab-9882-485e-a3ed-7678f01f66bc",
	"Scrum": "6b724908-ef14-45cf-84f8-768b5384da45",
	"CMMI":  "27450541-8e31-4150-9947-dc59f998fc01",
	"Basic": "b8a3a935-7e91-48b8-a94c-606d37c3e9f2",
}

// processByTypeID names the system process with a template type id, or
// returns "" for an unknown one.
func processByTypeID(id string) string {
	for name, pid := range processTypeIDs {
		if strings.EqualFold(pid, id) {
			return name
		}
	}
	return ""
}

// projectRefJSON is the wire shape of a TeamProjectReference. A struct,
// not a map: project lists encode a thousand of them a second.
type projectRefJSON struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Description    string `json:"description"`
	URL            string `json:"url"`
	State          string `json:"state"`
	Revision       int64  `json:"revision"`
	Visibility     string `json:"visibility"`
	LastUpdateTime string `json:"lastUpdateTime"`
}

func (o *Org) projectRef(p *Project) projectRefJSON {
	return projectRefJSON{
		ID: p.ID, Name: p.Name, Description: p.Description,
		URL:   o.hostURL(hostOrg) + "/_apis/projects/" + p.ID,
		State: p.State, Revision: p.Revision, Visibility: p.Visibility, LastUpdateTime: adoTime(p.LastUpdate),
	}
}

func (s *Server) listProjects(c *call) {
	top, skip, ok := c.window()
	if !ok {
		return
	}
	if tok := c.query("continuationToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "The continuation token is not valid.")
			return
		}
		skip = n
	}
	state := strings.ToLower(c.query("stateFilter"))
	if state != "" && state != "wellformed" && state != "all" {
		writeList(c.w, nil) // nothing is being created, deleted or renamed in the simulator
		return
	}
	o := c.o
	o.mu.RLock()
	var live []*Project
	for _, p := range o.projects {
		if !p.Deleted {
			live = append(live, p)
		}
	}
	page := live[min(skip, len(live)):min(skip+top, len(live))]
	if skip+top < len(live) {
		c.w.Header().Set("X-MS-ContinuationToken", strconv.Itoa(skip+top))
	}
	body := buildList(len(page), 384, func(b []byte, i int) []byte { return append(b, c.o.projectRefJSON(page[i])...) })
	o.mu.RUnlock()
	writeBuilt(c.w, body)
}

// projectRefJSON is projectRef encoded, cached on the project until it
// changes.
func (o *Org) projectRefJSON(p *Project) []byte {
	if b := p.json.Load(); b != nil {
		return *b
	}
	b := mustJSON(o.projectRef(p))
	p.json.Store(&b)
	return b
}

// project resolves the {p} parameter (id or name) or writes the 404.
func (c *call) project() *Project {
	if p := c.o.projectByNameOrID(c.param("p")); p != nil {
		return p
	}
	writeError(c.w, http.StatusNotFound, "ProjectDoesNotExistWithNameException", "TF200016: The following project does not exist: "+c.param("p")+". Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server.")
	return nil
}

func (s *Server) getProject(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	p := c.project()
	if p == nil {
		return
	}
	out := struct {
		projectRefJSON
		Capabilities any `json:"capabilities,omitempty"`
		DefaultTeam  any `json:"defaultTeam,omitempty"`
	}{projectRefJSON: c.o.projectRef(p)}
	if strings.EqualFold(c.query("includeCapabilities"), "true") {
		out.Capabilities = map[string]any{
			"versioncontrol":  map[string]string{"sourceControlType": "Git", "gitEnabled": "true", "tfvcEnabled": "false"},
			"processTemplate": map[string]string{"templateName": p.Process, "templateTypeId": processTypeIDs[p.Process]},
		}
	}
	for _, t := range o.teams {
		if t.ProjectID == p.ID && t.IsDefault && !t.Deleted {
			out.DefaultTeam = map[string]any{"id": t.ID, "name": t.Name, "url": c.o.hostURL(hostOrg) + "/_apis/projects/" + p.ID + "/teams/" + t.ID}
		}
	}
	writeJSON(c.w, http.StatusOK, out)
}

// operation answers like the service's asynchronous operations, which the
// simulator completes at once.
func (s *Server) operation(c *call) {
	id := c.o.newGUID()
	writeJSON(c.w, http.StatusAccepted, map[string]any{"id": id, "status": "succeeded", "url": c.o.hostURL(hostOrg) + "/_apis/operations/" + id})
}

func (s *Server) createProject(c *call) {
	var body struct {
		Name         string `json:"name"`
		Description  string `json:"description"`
		Visibility   string `json:"visibility"`
		Capabilities struct {
			ProcessTemplate struct {
				TemplateTypeID string `json:"templateTypeId"`
			} `json:"processTemplate"`
		} `json:"capabilities"`
	}
	if !c.decode(&body) {
		return
	}
	if body.Name == "" {
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "VS402434: The project name is required.")
		return
	}
	process := "Agile"
	if id := body.Capabilities.ProcessTemplate.TemplateTypeID; id != "" {
		if process = processByTypeID(id); process == "" {
			writeError(c.w, http.StatusBadRequest, "ProcessTemplateNotFoundException", "VS402362: The process template "+id+" does not exist.")
			return
		}
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := o.CreateProject(o.admin, body.Name, body.Description, strings.ToLower(body.Visibility), process); err != nil {
		c.fail(err)
		return
	}
	s.operation(c)
}

func (s *Server) updateProject(c *call) {
	var body struct {
		Name string `json:"name"`
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
	if body.Name != "" && body.Name != p.Name {
		if err := o.RenameProject(o.admin, p, body.Name); err != nil {
			c.fail(err)
			return
		}
	}
	s.operation(c)
}

func (s *Server) deleteProject(c *call) {
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	p := c.project()
	if p == nil {
		return
	}
	o.DeleteProject(o.admin, p)
	s.operation(c)
}

func (o *Org) teamJSON(t *Team) []byte {
	p := o.projectByID[t.ProjectID]
	return mustJSON(map[string]any{
		"id": t.ID, "name": t.Name, "description": t.Desc,
		"url":         o.hostURL(hostOrg) + "/_apis/projects/" + p.ID + "/teams/" + t.ID,
		"identityUrl": o.hostURL(hostVSSPS) + "/_apis/Identities/" + t.ID,
		"projectName": p.Name, "projectId": p.ID,
	})
}

// pageTeams writes one $top/$skip window of the live teams that keep accepts.
func (s *Server) pageTeams(c *call, keep func(*Team) bool) {
	top, skip, ok := c.window()
	if !ok {
		return
	}
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	var items [][]byte
	n := 0
	for _, t := range o.teams {
		if t.Deleted || !keep(t) {
			continue
		}
		if n >= skip && len(items) < top {
			items = append(items, c.o.teamJSON(t))
		}
		n++
	}
	writeList(c.w, items)
}

func (s *Server) listAllTeams(c *call) {
	s.pageTeams(c, func(*Team) bool { return true })
}

func (s *Server) listTeams(c *call) {
	c.o.mu.RLock()
	p := c.project()
	c.o.mu.RUnlock()
	if p == nil {
		return
	}
	s.pageTeams(c, func(t *Team) bool { return t.ProjectID == p.ID })
}

// team resolves {t} (id or name) within the project {p}.
func (c *call) team() *Team {
	p := c.project()
	if p == nil {
		return nil
	}
	key := c.param("t")
	if t := c.o.teamByID[strings.ToLower(key)]; t != nil && !t.Deleted && t.ProjectID == p.ID {
		return t
	}
	for _, t := range c.o.teams {
		if !t.Deleted && t.ProjectID == p.ID && (strings.EqualFold(t.ID, key) || strings.EqualFold(t.Name, key)) {
			return t
		}
	}
	writeError(c.w, http.StatusNotFound, "TeamNotFoundException", "VS800057: The team with id or name "+key+" does not exist.")
	return nil
}

func (s *Server) getTeam(c *call) {
	c.o.mu.RLock()
	defer c.o.mu.RUnlock()
	if t := c.team(); t != nil {
		writeRaw(c.w, http.StatusOK, c.o.teamJSON(t))
	}
}

func (s *Server) createTeam(c *call) {
	var body struct {
		Name        string `json:"name"`
		Description string `json:"description"`
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
	if body.Name == "" {
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "VS800010: The team name is required.")
		return
	}
	t, err := o.CreateTeam(o.admin, p, body.Name, body.Description)
	if err != nil {
		c.fail(err)
		return
	}
	writeRaw(c.w, http.StatusOK, c.o.teamJSON(t))
}

func (s *Server) deleteTeam(c *call) {
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	t := c.team()
	if t == nil {
		return
	}
	if t.IsDefault {
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "VS800058: The default team of a project cannot be deleted.")
		return
	}
	if err := o.DeleteGroup(o.admin, t.Group); err != nil {
		c.fail(err)
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// listTeamMembers answers a team's direct members with isTeamAdmin.
func (s *Server) listTeamMembers(c *call) {
	top, skip, ok := c.window()
	if !ok {
		return
	}
	o := c.o
	o.mu.RLock()
	t := c.team()
	if t == nil {
		o.mu.RUnlock()
		return
	}
	members := o.directMembers(t.Group)
	page := members[min(skip, len(members)):min(skip+top, len(members))]
	admins := o.teamAdmins(t)
	body := buildList(len(page), 512, func(b []byte, i int) []byte {
		b = append(b, `{"isTeamAdmin":`...)
		b = strconv.AppendBool(b, admins[strings.ToLower(page[i].Legacy)])
		b = append(b, `,"identity":`...)
		b = append(b, c.o.identityRefJSON(page[i])...)
		return append(b, '}')
	})
	o.mu.RUnlock()
	writeBuilt(c.w, body)
}

// teamAdmins are the legacy descriptors (lower case) that administer a
// team. The service keeps no flag: a team administrator is an identity
// whose explicit entry on the team's token in the Identity namespace
// ("{project}\\{team}") allows ManageMembership, which is where the portal
// writes it and Terraform's azuredevops_team reads it back. So the
// generated administrators (the defaults) count only as long as entries
// set or removed through the API leave them so.
func (o *Org) teamAdmins(t *Team) map[string]bool {
	ns := namespaceByID(nsIdentity)
	bit := ns.bits("ManageMembership")
	out := map[string]bool{}
	for _, seq := range sortedSeqs(t.Admins) {
		out[strings.ToLower(o.subjects[seq].Legacy)] = true
	}
	for _, e := range o.aces[aclKey{ns.id, strings.ToLower(t.ProjectID + `\` + t.ID)}] {
		out[strings.ToLower(e.descriptor)] = !e.removed && e.allow&bit != 0
	}
	return out
}

// identityRefJSON is identityRef encoded, cached on the subject until it
// changes, like its Graph JSON.
func (o *Org) identityRefJSON(m *Subject) []byte {
	if b := m.ref.Load(); b != nil {
		return *b
	}
	b := mustJSON(o.identityRef(m))
	m.ref.Store(&b)
	return b
}

// identityRef is the short identity shape embedded in other resources.
func (o *Org) identityRef(m *Subject) map[string]any {
	unique := m.PrincipalName
	if m.Kind == KindGroup {
		unique = m.Legacy
	}
	ref := map[string]any{
		"displayName": m.DisplayName,
		"url":         o.hostURL(hostVSSPS) + "/_apis/Identities/" + m.ID,
		"id":          m.ID,
		"uniqueName":  unique,
		"imageUrl":    o.hostURL(hostOrg) + "/_api/_common/identityImage?id=" + m.ID,
		"descriptor":  m.Descriptor,
	}
	if m.Kind == KindGroup {
		ref["isContainer"] = true
	}
	return ref
}

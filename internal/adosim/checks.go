package adosim

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Checks and approvals on pipeline resources (approvalsAndChecks/7.1/
// pipelinesChecks.json): check configurations on environments, service
// connections (resource type "endpoint"), agent queues and variable
// groups. An Approval names its approvers and how many must approve; task
// checks (Business Hours, Branch control, …) carry their task's inputs.
// Reading them needs Build (Read), vso.build, as the spec says.
//
// The Audit Log entries are those of the Checks area of Microsoft's
// auditing events list (https://learn.microsoft.com/azure/devops/organizations/audit/auditing-events,
// "Checks": CheckConfiguration.Created, .Deleted, .Updated); the service
// files them under the area "Checks".

// Check types as the service names them.
const (
	checkTypeApproval = "Approval"
	checkTypeTask     = "Task Check"
)

var checkTypeIDs = map[string]string{
	checkTypeApproval: "8c6f20a7-a545-4486-9777-f762fafe0d4d",
	checkTypeTask:     "fe1de3ee-a436-41b4-bb20-f6eb4cb879a7",
}

// taskChecks are the task checks generated: display name, the task's
// definition and its inputs.
var taskChecks = []struct {
	display, defID, defName string
	inputs                  map[string]string
}{
	{"Business Hours", "445fde2f-6c39-441c-807f-8a59ff2e075f", "evaluateBusinessHours",
		map[string]string{"businessDays": "Monday,Tuesday,Wednesday,Thursday,Friday", "timeZone": "UTC", "startTime": "04:00", "endTime": "11:00"}},
	{"Branch control", "86b05a0c-73e6-4f7d-b3cf-e38f3b39a75b", "evaluatebranchProtection",
		map[string]string{"allowedBranches": "refs/heads/main", "ensureProtectionOfBranch": "true", "allowUnknownStatusBranch": "false"}},
}

// Check is a check configuration on a project's resource.
type Check struct {
	ID           int
	ProjectID    string
	ResType      string // endpoint, environment, queue, variablegroup
	ResID        string
	Type         string // checkTypeApproval or checkTypeTask
	Task         int    // index in taskChecks, for task checks
	Approvers    []*Subject
	MinApprovers int
	Timeout      int // minutes
	Disabled     bool
	CreatedBy    *Subject
	Created      time.Time
	Deleted      bool
}

// prodLike is the rule the product uses for a production-looking name.
var prodLike = regexp.MustCompile(`(?i)(^|[^a-z])(prod|production|prd|live)([^a-z]|$)`)

// genChecks puts checks on the resources genPipelines made, from its own
// generator, so the rest of the organization is the same with or without
// them: about 60% of production-looking environments carry an Approval,
// others fewer; some resources carry none.
func (g *generator) genChecks(seed uint64) {
	o := g.o
	pl := o.pipes()
	r := rand.New(rand.NewPCG(seed, 0xc4ec45))
	pl.nextCheck = 1
	for _, pg := range g.projs {
		p := pg.p
		add := func(typ, id, name string, approval, task int) {
			if r.IntN(100) < approval {
				c := pl.newCheck(p.ID, typ, id, checkTypeApproval, o.admin, g.ref.Add(-time.Duration(1+r.IntN(300))*24*time.Hour))
				c.Approvers = g.approvers(r, p)
				c.MinApprovers = r.IntN(len(c.Approvers) + 1)
				c.Disabled = r.IntN(20) == 0
			}
			if r.IntN(100) < task {
				c := pl.newCheck(p.ID, typ, id, checkTypeTask, o.admin, g.ref.Add(-time.Duration(1+r.IntN(300))*24*time.Hour))
				c.Task = r.IntN(len(taskChecks))
			}
		}
		for _, e := range pl.envs {
			if e.ProjectID != p.ID {
				continue
			}
			if prodLike.MatchString(e.Name) {
				add("environment", strconv.Itoa(e.ID), e.Name, 60, 30)
			} else {
				add("environment", strconv.Itoa(e.ID), e.Name, 15, 10)
			}
		}
		for _, ep := range pl.endpoints {
			if ep.ProjectID != p.ID {
				continue
			}
			if ep.Type == "azurerm" {
				add("endpoint", ep.ID, ep.Name, 40, 15)
			} else {
				add("endpoint", ep.ID, ep.Name, 10, 5)
			}
		}
		for _, vg := range pl.varGroups {
			if vg.ProjectID == p.ID {
				add("variablegroup", strconv.Itoa(vg.ID), vg.Name, 10, 5)
			}
		}
		for _, q := range pl.queues {
			if q.ProjectID == p.ID {
				add("queue", strconv.Itoa(q.ID), q.Name, 5, 10)
			}
		}
	}
}

// approvers are one to three people or the project's administrators.
func (g *generator) approvers(r *rand.Rand, p *Project) []*Subject {
	var out []*Subject
	if admins := g.o.projectGroup(p, "Project Administrators"); admins != nil && r.IntN(3) == 0 {
		out = append(out, admins)
	}
	for range 1 + r.IntN(2) {
		if len(g.users) > 0 {
			if u := g.users[r.IntN(len(g.users))]; !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	return out
}

func (pl *pipelineState) newCheck(projectID, typ, id, kind string, by *Subject, at time.Time) *Check {
	c := &Check{ID: pl.nextCheck, ProjectID: projectID, ResType: typ, ResID: strings.ToLower(id), Type: kind, Timeout: 43200, CreatedBy: by, Created: at}
	pl.nextCheck++
	pl.checks = append(pl.checks, c)
	return c
}

// liveChecks are the checks on a live resource of project p, of one
// resource ("" for all), in id order.
func (o *Org) liveChecks(p *Project, typ, id string) []*Check {
	var out []*Check
	for _, c := range o.pipes().checks {
		if c.Deleted || c.ProjectID != p.ID || typ != "" && (c.ResType != typ || c.ResID != strings.ToLower(id)) {
			continue
		}
		if _, ok := o.pipelineResource(p, c.ResType, c.ResID); ok {
			out = append(out, c)
		}
	}
	return out
}

// checkJSON is a check configuration as the service answers it; settings
// only when asked ($expand=settings).
func (o *Org) checkJSON(p *Project, c *Check, settings bool) map[string]any {
	name, _ := o.pipelineResource(p, c.ResType, c.ResID)
	when := c.Created.UTC().Format("2006-01-02T15:04:05.0000000Z")
	self := fmt.Sprintf("%s/%s/_apis/pipelines/checks/configurations/%d", o.hostURL(hostOrg), p.ID, c.ID)
	out := map[string]any{
		"createdBy": o.identityRef(c.CreatedBy), "createdOn": when, "modifiedBy": o.identityRef(c.CreatedBy), "modifiedOn": when,
		"timeout": c.Timeout, "_links": map[string]any{"self": map[string]any{"href": self}}, "id": c.ID,
		"type": map[string]any{"id": checkTypeIDs[c.Type], "name": c.Type}, "url": self, "isDisabled": c.Disabled,
		"resource": map[string]any{"type": c.ResType, "id": c.ResID, "name": name},
	}
	if !settings {
		return out
	}
	if c.Type == checkTypeApproval {
		approvers := []any{}
		for _, a := range c.Approvers {
			approvers = append(approvers, o.identityRef(a))
		}
		out["settings"] = map[string]any{"approvers": approvers, "executionOrder": "anyOrder", "minRequiredApprovers": c.MinApprovers,
			"instructions": "", "blockedApprovers": []any{}, "requesterCannotBeApprover": false}
	} else {
		t := taskChecks[c.Task]
		out["settings"] = map[string]any{"displayName": t.display, "definitionRef": map[string]any{"id": t.defID, "name": t.defName, "version": "0.0.1"},
			"inputs": t.inputs, "retryInterval": 5}
	}
	return out
}

func (s *Server) checkRoutes() []*route {
	h := hostOrg
	return []*route{
		newRoute(h, http.MethodPost, "{p}/_apis/pipelines/checks/queryconfigurations", "pipelineschecks.queryconfigurations", "vso.build", s.queryChecks),
		newRoute(h, http.MethodGet, "{p}/_apis/pipelines/checks/configurations", "pipelineschecks.configurations.list", "vso.build", s.listChecks),
		newRoute(h, http.MethodGet, "{p}/_apis/pipelines/checks/configurations/{id}", "pipelineschecks.configurations.get", "vso.build", s.getCheck),
	}
}

func expandSettings(c *call) bool { return strings.EqualFold(c.query("$expand"), "settings") }

// queryChecks answers the checks of many resources at once (Check
// Configurations - Query); resources that do not exist have none.
func (s *Server) queryChecks(c *call) {
	var body []struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	if !c.decode(&body) {
		return
	}
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	p := c.project()
	if p == nil {
		return
	}
	var items [][]byte
	for _, res := range body {
		for _, ck := range o.liveChecks(p, strings.ToLower(res.Type), res.ID) {
			items = append(items, mustJSON(o.checkJSON(p, ck, expandSettings(c))))
		}
	}
	writeList(c.w, items)
}

// listChecks answers the checks of one resource, or of every resource of
// the project when none is named.
func (s *Server) listChecks(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	p := c.project()
	if p == nil {
		return
	}
	typ, id := strings.ToLower(c.query("resourceType")), c.query("resourceId")
	if (typ == "") != (id == "") {
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "resourceType and resourceId go together.")
		return
	}
	var items [][]byte
	for _, ck := range o.liveChecks(p, typ, id) {
		items = append(items, mustJSON(o.checkJSON(p, ck, expandSettings(c))))
	}
	writeList(c.w, items)
}

func (s *Server) getCheck(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	p := c.project()
	if p == nil {
		return
	}
	for _, ck := range o.liveChecks(p, "", "") {
		if strconv.Itoa(ck.ID) == c.param("id") {
			writeJSON(c.w, http.StatusOK, o.checkJSON(p, ck, expandSettings(c)))
			return
		}
	}
	writeError(c.w, http.StatusNotFound, "CheckConfigurationNotFoundException", "Check configuration "+c.param("id")+" was not found.")
}

// Changes, each with its Checks entry. Callers hold the write lock.

func (o *Org) recordCheck(actor *Subject, c *Check, action, verb string) {
	p := o.projectByID[c.ProjectID]
	name, _ := o.pipelineResource(p, c.ResType, c.ResID)
	o.record(o.clock.Now(), actor, action, fmt.Sprintf("%s check has been %s %s %s", c.Type, verb, c.ResType, name), p,
		map[string]any{"Type": c.Type, "ResourceType": c.ResType, "ResourceId": c.ResID, "ResourceName": name, "CheckConfigurationId": c.ID})
}

// AddApproval puts an Approval check on a resource of project p.
func (o *Org) AddApproval(actor *Subject, p *Project, typ, id string, approvers []*Subject, min int) *Check {
	c := o.pipes().newCheck(p.ID, typ, id, checkTypeApproval, actor, o.clock.Now())
	c.Approvers, c.MinApprovers = approvers, min
	o.recordCheck(actor, c, "CheckConfiguration.Created", "added to")
	return c
}

// RemoveCheck deletes a check configuration.
func (o *Org) RemoveCheck(actor *Subject, c *Check) {
	c.Deleted = true
	o.recordCheck(actor, c, "CheckConfiguration.Deleted", "removed from")
}

// SetApprovers changes an Approval's approvers.
func (o *Org) SetApprovers(actor *Subject, c *Check, approvers []*Subject, min int) {
	c.Approvers, c.MinApprovers = approvers, min
	o.recordCheck(actor, c, "CheckConfiguration.Updated", "updated for")
}

// CheckRow is a live check as a full read should find it.
type CheckRow struct {
	ProjectID, ResType, ResID string
	ID                        int
	Type                      string
	Disabled                  bool
	Approvers                 []string // identity ids, lower case, sorted
	MinApprovers              int
	CreatedBy                 string
}

// ResourceChecks lists the live checks of the first organization.
func (s *Server) ResourceChecks() []CheckRow {
	o := s.org
	o.mu.RLock()
	defer o.mu.RUnlock()
	var out []CheckRow
	for _, p := range o.projects {
		if p.Deleted {
			continue
		}
		for _, c := range o.liveChecks(p, "", "") {
			row := CheckRow{ProjectID: p.ID, ResType: c.ResType, ResID: c.ResID, ID: c.ID, Type: c.Type, Disabled: c.Disabled,
				MinApprovers: c.MinApprovers, CreatedBy: strings.ToLower(c.CreatedBy.ID)}
			for _, a := range c.Approvers {
				row.Approvers = append(row.Approvers, strings.ToLower(a.ID))
			}
			slices.Sort(row.Approvers)
			out = append(out, row)
		}
	}
	return out
}

// PlantEnvironment adds an environment named name to the first live
// project, with an Approval by the organization's administrator or with
// none, and answers the project's id and the environment's id.
func (s *Server) PlantEnvironment(name string, approval bool) (string, int) {
	o := s.org
	o.mu.Lock()
	defer o.mu.Unlock()
	var p *Project
	for _, x := range o.projects {
		if !x.Deleted {
			p = x
			break
		}
	}
	pl := o.pipes()
	e := &Environment{ID: pl.nextID, ProjectID: p.ID, Name: name, CreatedBy: o.admin, Created: o.clock.Now()}
	pl.nextID++
	pl.envs = append(pl.envs, e)
	if approval {
		o.AddApproval(o.admin, p, "environment", strconv.Itoa(e.ID), []*Subject{o.admin}, 1)
	}
	return p.ID, e.ID
}

func (m *mutator) checkAdd() (Mutation, bool) {
	p := m.liveProjectPick()
	u := m.pick(func(s *Subject) bool { return s.Kind == KindUser && s.Ent != nil })
	if p == nil || u == nil {
		return Mutation{}, false
	}
	var res [][2]string
	for _, e := range m.o.pipes().envs {
		if !e.Deleted && e.ProjectID == p.ID {
			res = append(res, [2]string{"environment", strconv.Itoa(e.ID)})
		}
	}
	for _, ep := range m.o.liveEndpoints(p) {
		if ep.ProjectID == p.ID {
			res = append(res, [2]string{"endpoint", ep.ID})
		}
	}
	if len(res) == 0 {
		return Mutation{}, false
	}
	x := res[m.r.IntN(len(res))]
	c := m.o.AddApproval(m.o.admin, p, x[0], x[1], []*Subject{u}, m.r.IntN(2))
	return Mutation{ActionID: "CheckConfiguration.Created", Summary: fmt.Sprintf("added an approval by %s to %s %s", u.DisplayName, x[0], x[1]), Target: strconv.Itoa(c.ID)}, true
}

// liveCheckPick picks a live check (an Approval when approval is set).
func (m *mutator) liveCheckPick(approval bool) *Check {
	var live []*Check
	for _, p := range m.o.projects {
		if p.Deleted {
			continue
		}
		for _, c := range m.o.liveChecks(p, "", "") {
			if !approval || c.Type == checkTypeApproval {
				live = append(live, c)
			}
		}
	}
	if len(live) == 0 {
		return nil
	}
	return live[m.r.IntN(len(live))]
}

func (m *mutator) checkRemove() (Mutation, bool) {
	c := m.liveCheckPick(false)
	if c == nil {
		return Mutation{}, false
	}
	m.o.RemoveCheck(m.o.admin, c)
	return Mutation{ActionID: "CheckConfiguration.Deleted", Summary: fmt.Sprintf("removed %s check %d from %s %s", c.Type, c.ID, c.ResType, c.ResID), Target: strconv.Itoa(c.ID)}, true
}

func (m *mutator) checkApprovers() (Mutation, bool) {
	c := m.liveCheckPick(true)
	u := m.pick(func(s *Subject) bool { return s.Kind == KindUser && s.Ent != nil })
	if c == nil || u == nil {
		return Mutation{}, false
	}
	approvers := slices.DeleteFunc(slices.Clone(c.Approvers), func(s *Subject) bool { return s == u })
	if len(approvers) == len(c.Approvers) {
		approvers = append(approvers, u)
	}
	if len(approvers) == 0 {
		approvers = []*Subject{m.o.admin}
	}
	m.o.SetApprovers(m.o.admin, c, approvers, min(c.MinApprovers, len(approvers)))
	return Mutation{ActionID: "CheckConfiguration.Updated", Summary: fmt.Sprintf("changed the approvers of check %d (%s)", c.ID, u.DisplayName), Target: strconv.Itoa(c.ID)}, true
}

package adosim

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// This file holds every change to an organization. Each one updates the
// state and appends the Audit Log entry the service writes for it, so the
// API write paths and /_sim/mutate produce the same trail. Callers hold the
// write lock.

// Errors the API maps to the service's status codes.
var (
	errNotFound = errors.New("not found")
	errConflict = errors.New("conflict")
	errInvalid  = errors.New("invalid")
)

// dotnetTicks converts a time to .NET ticks; audit ids are built from them.
func dotnetTicks(t time.Time) int64 {
	const unixEpochTicks = 621355968000000000
	return unixEpochTicks + t.UnixNano()/100
}

// auditCategory is the category the service gives an action.
func auditCategory(action string) string {
	switch action {
	case "Group.CreateGroups", "Project.CreateCompleted", "Git.RepositoryCreated", "Licensing.Assigned", "Licensing.GroupRuleCreated", "CheckConfiguration.Created":
		return "create"
	case "Group.UpdateGroups.Delete", "Project.SoftDeleteCompleted", "Project.HardDeleteCompleted", "Git.RepositoryDeleted", "Licensing.Removed", "Licensing.GroupRuleDeleted", "Security.RemovePermission", "CheckConfiguration.Deleted":
		return "remove"
	}
	return "modify"
}

// auditArea is an action's area: the prefix of its id, except for checks,
// which the service files under "Checks" (CheckConfiguration.*, CheckSuite.*).
func auditArea(action string) string {
	prefix, _, _ := strings.Cut(action, ".")
	if prefix == "CheckConfiguration" || prefix == "CheckSuite" {
		return "Checks"
	}
	return prefix
}

// record appends an audit entry. Entries are kept in time order; with an
// audit lag configured an entry becomes visible only some time after its
// timestamp, like late-arriving entries on the service.
func (o *Org) record(at time.Time, actor *Subject, action, details string, p *Project, data map[string]any) *AuditEntry {
	o.auditSeq++
	corr := o.newGUID()
	e := &AuditEntry{
		Time:          at,
		VisibleAt:     at,
		ActionID:      action,
		Area:          auditArea(action),
		Category:      auditCategory(action),
		Details:       details,
		ScopeType:     "organization",
		ScopeID:       o.ID,
		CorrelationID: corr,
		Data:          data,
	}
	if o.auditLag > 0 {
		e.VisibleAt = at.Add(time.Duration(o.ids.Int64N(int64(o.auditLag))))
	}
	if p != nil {
		e.ProjectID, e.ProjectName = p.ID, p.Name
	}
	if actor != nil {
		e.ActorID, e.ActorUPN, e.ActorName = actor.ID, actor.PrincipalName, actor.DisplayName
	} else {
		e.ActorID, e.ActorName = "00000002-0000-8888-8000-000000000000", "Azure DevOps Service"
	}
	const maxTicks = 3155378975999999999
	e.ID = fmt.Sprintf("%d;%s;%s", maxTicks-dotnetTicks(at), e.ActorID, corr)
	// Keep time order: late generated history or a clock set back lands in place.
	i := len(o.audit)
	for i > 0 && o.audit[i-1].Time.After(at) {
		i--
	}
	o.audit = append(o.audit, nil)
	copy(o.audit[i+1:], o.audit[i:])
	o.audit[i] = e
	return e
}

func (o *Org) projectOf(s *Subject) *Project {
	if s.ProjectID == "" {
		return nil
	}
	return o.projectByID[s.ProjectID]
}

func (o *Org) auditMembership(at time.Time, actor, group, member *Subject, add bool) {
	action, verb := "Group.UpdateGroupMembership.Add", "Added %s to group %s"
	if !add {
		action, verb = "Group.UpdateGroupMembership.Remove", "Removed %s from group %s"
	}
	o.record(at, actor, action, fmt.Sprintf(verb, member.DisplayName, group.PrincipalName), o.projectOf(group), map[string]any{
		"GroupId":           group.ID,
		"GroupName":         group.PrincipalName,
		"MemberId":          member.ID,
		"MemberDisplayName": member.DisplayName,
		"Updates":           []any{map[string]any{"GroupId": group.ID, "MemberId": member.ID, "Active": add}},
	})
}

func (o *Org) auditLicense(at time.Time, actor, user *Subject, action, previous, current, reason string) {
	data := map[string]any{"AccessLevel": current, "UserIdentifier": user.PrincipalName}
	details := fmt.Sprintf("Access level %s assigned to %s", current, user.PrincipalName)
	switch action {
	case "Licensing.Modified":
		data["PreviousAccessLevel"] = previous
		details = fmt.Sprintf("Access level changed from %s to %s for %s", previous, current, user.PrincipalName)
	case "Licensing.Removed":
		details = fmt.Sprintf("Access level %s removed from %s", current, user.PrincipalName)
	}
	if reason != "" {
		data["Reason"] = reason
	}
	o.record(at, actor, action, details, nil, data)
}

// AddMember adds a direct membership.
func (o *Org) AddMember(actor, group, member *Subject) error {
	if !group.IsGroup() {
		return fmt.Errorf("%w: %s is not a group", errInvalid, group.Descriptor)
	}
	if group.Type == "aadgp" {
		return fmt.Errorf("%w: the membership of Microsoft Entra group %s is managed in Microsoft Entra ID", errInvalid, group.DisplayName)
	}
	if group == member {
		return fmt.Errorf("%w: a group cannot be a member of itself", errInvalid)
	}
	if !o.link(group, member) {
		return nil // the service answers success for an existing membership
	}
	group.changed()
	o.auditMembership(o.clock.Now(), actor, group, member, true)
	return nil
}

// RemoveMember removes a direct membership.
func (o *Org) RemoveMember(actor, group, member *Subject) error {
	if group.Type == "aadgp" {
		return fmt.Errorf("%w: the membership of Microsoft Entra group %s is managed in Microsoft Entra ID", errInvalid, group.DisplayName)
	}
	if !o.unlink(group, member) {
		return fmt.Errorf("%w: %s is not a member of %s", errNotFound, member.Descriptor, group.Descriptor)
	}
	o.auditMembership(o.clock.Now(), actor, group, member, false)
	return nil
}

// CreateGroup creates an Azure DevOps group in a project or the organization.
func (o *Org) CreateGroup(actor *Subject, p *Project, name, desc string) (*Subject, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: a group needs a display name", errInvalid)
	}
	for _, s := range o.groupsIn(p) {
		if s.DisplayName == name {
			return nil, fmt.Errorf("%w: a group named %q already exists", errConflict, name)
		}
	}
	g := o.newGroup(p, name, desc, false)
	o.record(o.clock.Now(), actor, "Group.CreateGroups", fmt.Sprintf("%s group was created", g.PrincipalName), p, map[string]any{"GroupName": g.PrincipalName})
	return g, nil
}

// groupsIn lists the live groups of a project, or of the organization level.
func (o *Org) groupsIn(p *Project) []*Subject {
	var out []*Subject
	if p != nil {
		for _, seq := range o.byProject[p.ID] {
			if s := o.subjects[seq]; !s.Deleted {
				out = append(out, s)
			}
		}
		return out
	}
	for _, s := range o.subjects {
		if s.Kind == KindGroup && s.ProjectID == "" && !s.Deleted {
			out = append(out, s)
		}
	}
	return out
}

// UpdateGroup renames a group or changes its description.
func (o *Org) UpdateGroup(actor, g *Subject, name, desc *string) error {
	if g.Type == "aadgp" {
		return fmt.Errorf("%w: Microsoft Entra groups are changed in Microsoft Entra ID", errInvalid)
	}
	if name != nil && *name != "" && *name != g.DisplayName {
		g.DisplayName = *name
		if p := o.projectOf(g); p != nil {
			g.PrincipalName = "[" + p.Name + `]\` + *name
		} else {
			g.PrincipalName = "[" + o.Name + `]\` + *name
		}
		if t := o.teamByID[g.TeamID]; t != nil {
			t.Name = *name
		}
	}
	if desc != nil {
		g.Description = *desc
		if t := o.teamByID[g.TeamID]; t != nil {
			t.Desc = *desc
		}
	}
	g.changed()
	o.record(o.clock.Now(), actor, "Group.UpdateGroups.Modify", fmt.Sprintf("%s group was modified", g.PrincipalName), o.projectOf(g), map[string]any{"GroupId": g.ID, "GroupName": g.PrincipalName})
	return nil
}

// DeleteGroup deletes a group and every membership it takes part in. A
// team's group takes the team with it.
func (o *Org) DeleteGroup(actor, g *Subject) error {
	if g.Builtin {
		return fmt.Errorf("%w: %s is a built-in group and cannot be deleted", errInvalid, g.PrincipalName)
	}
	o.unlinkAll(g)
	g.Deleted = true
	if t := o.teamByID[g.TeamID]; t != nil {
		t.Deleted = true
	}
	for _, r := range o.groupRules {
		if r.Group == g {
			r.Deleted = true
		}
	}
	o.record(o.clock.Now(), actor, "Group.UpdateGroups.Delete", fmt.Sprintf("%s group was deleted", g.PrincipalName), o.projectOf(g), map[string]any{"GroupId": g.ID, "GroupName": g.PrincipalName})
	return nil
}

// AddUser adds an account to the organization with an access level.
func (o *Org) AddUser(actor *Subject, k userKind, display, login string, license Entitlement) *Subject {
	u := o.newUser(k, display, login)
	ent := license
	ent.DateCreated = o.clock.Now()
	ent.LastAccessed = time.Time{}
	if ent.Status == "" {
		ent.Status = "pending"
	}
	if ent.AssignmentSource == "" {
		ent.AssignmentSource = "unknown"
	}
	u.Ent = &ent
	o.auditLicense(o.clock.Now(), actor, u, "Licensing.Assigned", "", ent.LicenseDisplayName(), "User added to the organization")
	return u
}

// RemoveUser removes an account from the organization: its access level and
// every group membership go with it.
func (o *Org) RemoveUser(actor, u *Subject) error {
	if u.Kind == KindGroup || u.Deleted {
		return fmt.Errorf("%w: %s", errNotFound, u.Descriptor)
	}
	license := "No access"
	if u.Ent != nil {
		license = u.Ent.LicenseDisplayName()
	}
	o.unlinkAll(u)
	u.Deleted = true
	o.auditLicense(o.clock.Now(), actor, u, "Licensing.Removed", "", license, "User removed from the organization")
	return nil
}

// SetLicense changes a user's access level (and status, when given).
func (o *Org) SetLicense(actor, u *Subject, license Entitlement) error {
	if u.Ent == nil || u.Deleted {
		return fmt.Errorf("%w: %s has no entitlement", errNotFound, u.Descriptor)
	}
	previous := u.Ent.LicenseDisplayName()
	e := u.Ent
	e.AccountLicenseType = license.AccountLicenseType
	e.LicensingSource = license.LicensingSource
	e.MsdnLicenseType = license.MsdnLicenseType
	if e.MsdnLicenseType == "" {
		e.MsdnLicenseType = "none"
	}
	if license.Status != "" {
		e.Status = license.Status
	}
	e.AssignmentSource, e.GroupRuleID = "unknown", ""
	reason := ""
	if license.Status == "disabled" {
		reason = "User disabled"
	}
	o.auditLicense(o.clock.Now(), actor, u, "Licensing.Modified", previous, e.LicenseDisplayName(), reason)
	return nil
}

// CreateProject creates a project with its default groups, team, repository
// and build service identity.
func (o *Org) CreateProject(actor *Subject, name, desc, visibility, process string) (*Project, error) {
	if o.projectByNameOrID(name) != nil {
		return nil, fmt.Errorf("%w: a project named %q already exists", errConflict, name)
	}
	if visibility == "" {
		visibility = "private"
	}
	if process == "" {
		process = "Agile"
	}
	p := o.newProject(name, desc, visibility, process, o.clock.Now())
	o.record(o.clock.Now(), nil, "Project.CreateCompleted", fmt.Sprintf("%s project was created successfully", name), p, map[string]any{
		"ProjectId": p.ID, "ProjectName": p.Name, "ProcessTemplate": process, "ProjectVisibility": capitalize(visibility),
	})
	if actor != nil {
		if admins := o.projectGroup(p, "Project Administrators"); admins != nil {
			_ = o.AddMember(nil, admins, actor)
		}
	}
	return p, nil
}

// DeleteProject deletes a project with its groups, teams and repositories.
func (o *Org) DeleteProject(actor *Subject, p *Project) {
	for _, seq := range o.byProject[p.ID] {
		if s := o.subjects[seq]; !s.Deleted {
			o.unlinkAll(s)
			s.Deleted = true
		}
	}
	for _, t := range o.teams {
		if t.ProjectID == p.ID {
			t.Deleted = true
		}
	}
	for _, r := range o.repos {
		if r.ProjectID == p.ID {
			r.Deleted = true
		}
	}
	p.Deleted = true
	o.dropACLs(func(token string) bool { return tokenUnder(token, p.ID) })
	o.record(o.clock.Now(), actor, "Project.SoftDeleteCompleted", fmt.Sprintf("%s project was deleted", p.Name), p, map[string]any{"ProjectId": p.ID, "ProjectName": p.Name})
}

// RenameProject renames a project; its groups' principal names follow.
func (o *Org) RenameProject(actor *Subject, p *Project, name string) error {
	if other := o.projectByNameOrID(name); other != nil && other != p {
		return fmt.Errorf("%w: a project named %q already exists", errConflict, name)
	}
	old := p.Name
	p.Name = name
	p.Revision++
	p.LastUpdate = o.clock.Now()
	p.changed()
	for _, seq := range o.byProject[p.ID] {
		s := o.subjects[seq]
		s.PrincipalName = "[" + name + `]\` + s.DisplayName
		s.changed()
	}
	o.record(o.clock.Now(), actor, "Project.UpdateRenameCompleted", fmt.Sprintf("Renamed project %s to %s", old, name), p, map[string]any{"ProjectId": p.ID, "PreviousProjectName": old, "ProjectName": name})
	return nil
}

// CreateTeam creates a team (and its group) in a project.
func (o *Org) CreateTeam(actor *Subject, p *Project, name, desc string) (*Team, error) {
	for _, s := range o.groupsIn(p) {
		if s.DisplayName == name {
			return nil, fmt.Errorf("%w: a team or group named %q already exists", errConflict, name)
		}
	}
	t := o.newTeam(p, name, desc)
	o.record(o.clock.Now(), actor, "Group.CreateGroups", fmt.Sprintf("%s group was created", t.Group.PrincipalName), p, map[string]any{"GroupName": t.Group.PrincipalName})
	return t, nil
}

// CreateRepo creates a repository.
func (o *Org) CreateRepo(actor *Subject, p *Project, name string) (*Repo, error) {
	for _, r := range o.repos {
		if r.ProjectID == p.ID && !r.Deleted && r.Name == name {
			return nil, fmt.Errorf("%w: a repository named %q already exists", errConflict, name)
		}
	}
	r := o.newRepo(p, name)
	o.record(o.clock.Now(), actor, "Git.RepositoryCreated", fmt.Sprintf("Created repository %s in project %s", name, p.Name), p, map[string]any{"RepoId": r.ID, "RepoName": name, "ProjectName": p.Name})
	return r, nil
}

// DeleteRepo deletes a repository.
func (o *Org) DeleteRepo(actor *Subject, r *Repo) {
	r.Deleted = true
	o.dropACLs(func(token string) bool { return tokenUnder(token, r.ID) })
	p := o.projectByID[r.ProjectID]
	o.record(o.clock.Now(), actor, "Git.RepositoryDeleted", fmt.Sprintf("Deleted repository %s from project %s", r.Name, p.Name), p, map[string]any{"RepoId": r.ID, "RepoName": r.Name, "ProjectName": p.Name})
}

// RenameRepo renames a repository.
func (o *Org) RenameRepo(actor *Subject, r *Repo, name string) {
	old := r.Name
	r.Name = name
	p := o.projectByID[r.ProjectID]
	o.record(o.clock.Now(), actor, "Git.RepositoryRenamed", fmt.Sprintf("Renamed repository %s to %s in project %s", old, name, p.Name), p, map[string]any{"RepoId": r.ID, "PreviousRepoName": old, "RepoName": name, "ProjectName": p.Name})
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

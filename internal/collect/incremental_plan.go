package collect

import (
	"fmt"
	"sort"
	"strings"
)

// Mapping Audit Log entries to what an incremental run re-reads.

// plan is what an incremental run re-reads.
type plan struct {
	groupKeys  map[string]bool     // storage keys of groups named by entries
	groups     map[string]bool     // descriptors of groups to re-read: metadata and direct members
	users      map[string]bool     // principal names (lower case): account and access level
	scopes     map[string]bool     // project ids ("" = organization) whose group list to re-read
	created    map[string][]string // project id → names of the groups created there (see createdGroups)
	teamsOf    map[string]bool     // project ids whose teams to re-read
	teams      map[string]bool     // team ids whose members and administrators to re-read
	projects   bool                // re-read the project list
	svc        bool                // re-read the service accounts (a new project brings a build identity)
	repos      bool                // re-read the repositories
	groupRules bool                // re-read the group rules
	acl        *aclPlan            // permissions (incremental_perms.go)
	pipes      pipePlan            // pipeline resources and tokens (incremental_pipelines.go)
	full       map[string]string   // resource kind → why it is re-read in full
	mapped     int                 // entries that led to re-reads
	ignored    map[string]int      // actions that touch nothing collected, by area
}

func newPlan(opts SyncOptions) *plan {
	return &plan{groupKeys: map[string]bool{}, groups: map[string]bool{}, users: map[string]bool{},
		scopes: map[string]bool{}, created: map[string][]string{}, teamsOf: map[string]bool{}, teams: map[string]bool{},
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
	if p.addPipelines(e, area) {
		return
	}
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
		// The entry names the group, not its id. A new team's group is
		// found through its project's team list, which a new project group
		// makes the run read anyway (the team's id is its group's); any
		// other through the group list of its scope (createdGroups).
		names := dataStrings(e.data, "GroupName")
		if e.projectID == "" || len(names) == 0 {
			p.scopes[e.projectID] = true
		} else {
			p.created[e.projectID] = append(p.created[e.projectID], names...)
		}
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

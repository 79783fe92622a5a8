package adosim

import (
	"cmp"
	"fmt"
	"strings"
	"time"
)

// This file creates entities the way the service does: descriptors, storage
// keys, legacy descriptors, the groups, team and repository a new project
// gets. The generator and the API write paths share it.

// userKind selects how a new user account is shaped.
type userKind struct {
	Type  string // aad, msa, bnd
	Guest bool
}

// newUser creates a user account. login is the alias the principal name is
// made of, or, when it holds an '@', the principal name itself.
func (o *Org) newUser(k userKind, display, login string) *Subject {
	alias, upn := login, ""
	if a, _, ok := strings.Cut(login, "@"); ok {
		alias, upn = a, login
	}
	s := &Subject{
		Kind:        KindUser,
		Type:        k.Type,
		ID:          o.newGUID(),
		DisplayName: display,
		MetaType:    "member",
	}
	switch k.Type {
	case "msa":
		s.Origin = "msa"
		s.OriginID = strings.ToUpper(strings.ReplaceAll(o.newGUID()[:19], "-", ""))
		s.PrincipalName = cmp.Or(upn, alias+"@outlook.com")
		s.Domain = "Windows Live ID"
		s.Legacy = legacyClaims + ";" + s.OriginID + "@Live.com"
	default:
		s.Origin = "aad"
		s.OriginID = o.newGUID()
		domain := "fabrikam.example"
		if k.Guest {
			s.MetaType = "guest"
			domain = "partner.example"
		}
		s.PrincipalName = cmp.Or(upn, alias+"@"+domain)
		s.Domain = o.TenantID
		s.DirectoryAlias = alias
		s.Legacy = legacyClaims + ";" + o.TenantID + `\` + s.PrincipalName
	}
	s.Mail = s.PrincipalName
	s.Descriptor = makeDescriptor(s.Type, o.newGUID())
	return o.addSubject(s)
}

// newServiceAccount creates a build service identity (svc.): one per
// project and one for the organization.
func (o *Org) newServiceAccount(display, scopeID string) *Subject {
	s := &Subject{
		Kind:          KindUser,
		Type:          "svc",
		ID:            o.newGUID(),
		Origin:        "vsts",
		Domain:        "Build",
		DisplayName:   display,
		MetaType:      "member",
		PrincipalName: "",
	}
	s.OriginID = s.ID
	s.PrincipalName = s.ID
	payload := s.ID + ":Build:" + scopeID
	s.Descriptor = makeDescriptor("svc", payload)
	s.Legacy = legacyService + ";" + payload
	return o.addSubject(s)
}

// newServicePrincipal creates an Entra service principal or managed identity.
func (o *Org) newServicePrincipal(display string, managed bool) *Subject {
	s := &Subject{
		Kind:          KindServicePrincipal,
		Type:          "aadsp",
		ID:            o.newGUID(),
		Origin:        "aad",
		OriginID:      o.newGUID(),
		ApplicationID: o.newGUID(),
		Domain:        o.TenantID,
		DisplayName:   display,
		MetaType:      "application",
	}
	if managed {
		s.MetaType = "managedIdentity"
	}
	s.PrincipalName = s.ApplicationID
	s.DirectoryAlias = s.OriginID // the object id, as Microsoft's examples of service principals show it
	s.Descriptor = makeDescriptor("aadsp", o.newGUID())
	s.Legacy = legacyAADSP + ";" + o.TenantID + `\` + s.OriginID
	return o.addSubject(s)
}

// newGroup creates an Azure DevOps group (vssgp) at organization level (p
// nil) or in a project, or an Entra group (aadgp) materialized in the org.
func (o *Org) newGroup(p *Project, name, desc string, entra bool) *Subject {
	s := &Subject{
		Kind:        KindGroup,
		Type:        "vssgp",
		ID:          o.newGUID(),
		Origin:      "vsts",
		DisplayName: name,
		Description: desc,
	}
	s.SID = sidFor(o.ids.Uint64(), o.ids.Uint64())
	switch {
	case entra:
		s.Type = "aadgp"
		s.Origin = "aad"
		s.OriginID = o.newGUID()
		s.Domain = o.TenantID
		s.PrincipalName = `[TEAM FOUNDATION]\` + name
		s.Mail = strings.ToLower(strings.ReplaceAll(name, " ", "-")) + "@fabrikam.example"
	case p != nil:
		s.ProjectID = p.ID
		s.OriginID = s.ID
		s.Domain = "vstfs:///Classification/TeamProject/" + p.ID
		s.PrincipalName = "[" + p.Name + `]\` + name
	default:
		s.OriginID = s.ID
		s.Domain = "vstfs:///Framework/IdentityDomain/" + o.ID
		s.PrincipalName = "[" + o.Name + `]\` + name
	}
	s.Descriptor = makeDescriptor(s.Type, s.SID)
	s.Legacy = legacyGroup + ";" + s.SID
	return o.addSubject(s)
}

// defaultProjectGroups are the groups every new project gets.
var defaultProjectGroups = []struct{ name, desc string }{
	{"Project Administrators", "Members of this group can perform all operations in the team project."},
	{"Build Administrators", "Members of this group can create, modify and delete build definitions and manage queued and completed builds."},
	{"Contributors", "Members of this group can add, modify, and delete items within the team project."},
	{"Readers", "Members of this group have access to the team project."},
	{"Project Valid Users", "Members of this group have access to the team project."},
	{"Endpoint Administrators", "Members of this group should include accounts for people who should be able to manage all the service connections."},
	{"Endpoint Creators", "Members of this group should include accounts for people who should be able to create service connections."},
}

// newProject creates a project as the service does: its default groups, a
// default team (a member of Contributors), a default repository and a build
// service identity (also a member of Contributors).
func (o *Org) newProject(name, desc, visibility, process string, created time.Time) *Project {
	p := &Project{
		seq:         int32(len(o.projects)),
		ID:          o.newGUID(),
		Name:        name,
		Description: desc,
		State:       "wellFormed",
		Visibility:  visibility,
		Process:     process,
		Revision:    int64(len(o.projects)) + 100,
		LastUpdate:  created,
		groups:      map[string]*Subject{},
	}
	o.projects = append(o.projects, p)
	o.projectByID[p.ID] = p
	var contributors *Subject
	for _, g := range defaultProjectGroups {
		s := o.newGroup(p, g.name, g.desc, false)
		s.Builtin = true
		p.groups[g.name] = s
		if g.name == "Contributors" {
			contributors = s
		}
	}
	t := o.newTeam(p, name+" Team", "The default project team.")
	t.IsDefault = true
	t.Group.Builtin = true
	o.link(contributors, t.Group)
	o.newRepo(p, name)
	// The project's build identity contributes to its own project. It joins
	// no organization group: a project's creation changes only its own
	// groups, which is what its audit entry lets a reader re-read.
	svc := o.newServiceAccount(fmt.Sprintf("%s Build Service (%s)", name, o.Name), p.ID)
	o.buildService[p.ID] = svc
	o.link(contributors, svc)
	return p
}

func (o *Org) newTeam(p *Project, name, desc string) *Team {
	g := o.newGroup(p, name, desc, false)
	t := &Team{seq: int32(len(o.teams)), ID: g.ID, Name: name, Desc: desc, ProjectID: p.ID, Group: g, Admins: map[int32]bool{}}
	g.TeamID = t.ID
	o.teams = append(o.teams, t)
	o.teamByID[t.ID] = t
	return t
}

func (o *Org) newRepo(p *Project, name string) *Repo {
	r := &Repo{seq: int32(len(o.repos)), ID: o.newGUID(), Name: name, ProjectID: p.ID, DefaultBranch: "refs/heads/main", Size: int64(o.ids.IntN(50_000_000))}
	o.repos = append(o.repos, r)
	o.repoByID[r.ID] = r
	return r
}

// projectGroup returns a project's live group with the given display name.
func (o *Org) projectGroup(p *Project, name string) *Subject {
	for _, seq := range o.byProject[p.ID] {
		if s := o.subjects[seq]; !s.Deleted && s.DisplayName == name && s.TeamID == "" {
			return s
		}
	}
	return nil
}

package adosim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// MutateRequest asks for Count random changes, drawn from Seed. Kinds
// restricts them to some of MutationKinds; empty means all, weighted as
// changes happen in a real organization (mostly memberships).
type MutateRequest struct {
	Count int      `json:"count"`
	Seed  uint64   `json:"seed"`
	Kinds []string `json:"kinds,omitempty"`
	Org   string   `json:"org,omitempty"` // which organization ("": the first)
}

// Mutation is one applied change.
type Mutation struct {
	Kind     string `json:"kind"`
	ActionID string `json:"action_id"` // the audit action written for it ("": none, a change in Entra ID)
	Summary  string `json:"summary"`
	Target   string `json:"target"` // descriptor or id of the entity changed
}

// MutateResult lists the changes applied.
type MutateResult struct {
	Applied []Mutation `json:"applied"`
	Now     time.Time  `json:"now"`
}

// mutationKind is a kind of change and its weight in a realistic mix.
type mutationKind struct {
	name   string
	weight int
	apply  func(m *mutator) (Mutation, bool)
}

// MutationKinds lists the kinds /_sim/mutate knows: the audited ones, then
// those made in Entra ID (entra.*).
func MutationKinds() []string {
	var out []string
	for _, k := range mutationKinds {
		out = append(out, k.name)
	}
	return out
}

// The weights (per 417 changes) follow the make-up of an organization's
// access-related Audit Log: mostly group membership changes (75%), then
// licenses and accounts (12%), a few structural changes: groups (4%),
// repositories (4%), teams (1%: created, administrators changed), projects
// (1%), and permissions (4%: entries set, removed and reset, inheritance
// turned off or on). Changes made in Entra ID, which the log never shows
// (mutate_entra.go), come on top: 105 more, so about one change in five,
// for tenants that grant access through Entra groups (membership added 56,
// removed 45, users deleted in Entra 4).
var mutationKinds = []mutationKind{
	{"membership.add", 152, (*mutator).membershipAdd},
	{"membership.remove", 120, (*mutator).membershipRemove},
	{"nested.add", 24, (*mutator).nestedAdd},
	{"nested.remove", 16, (*mutator).nestedRemove},
	{"license.change", 20, (*mutator).licenseChange},
	{"user.add", 16, (*mutator).userAdd},
	{"user.remove", 8, (*mutator).userRemove},
	{"user.disable", 4, (*mutator).userDisable},
	{"group.create", 8, (*mutator).groupCreate},
	{"group.delete", 4, (*mutator).groupDelete},
	{"group.rename", 4, (*mutator).groupRename},
	{"team.create", 4, (*mutator).teamCreate},
	{"repo.create", 8, (*mutator).repoCreate},
	{"repo.delete", 4, (*mutator).repoDelete},
	{"repo.rename", 4, (*mutator).repoRename},
	{"project.create", 2, (*mutator).projectCreate},
	{"project.delete", 1, (*mutator).projectDelete},
	{"project.rename", 1, (*mutator).projectRename},
	{"permission.set", 8, (*mutator).permissionSet},
	{"permission.remove", 3, (*mutator).permissionRemove},
	{"permission.reset", 2, (*mutator).permissionReset},
	{"acl.inherit", 2, (*mutator).aclInherit},
	{"team.admin", 2, (*mutator).teamAdmin},
	{"entra.membership.add", 56, (*mutator).entraMemberAdd},
	{"entra.membership.remove", 45, (*mutator).entraMemberRemove},
	{"entra.user.disable", 4, (*mutator).entraUserDisable},
	// Renamed in Entra ID: not in the default mix (that would change every
	// seed's draw); named, it is drawn.
	{"entra.user.rename", 0, (*mutator).entraUserRename},
}

type mutator struct {
	o *Org
	r *rand.Rand
}

// Mutate applies random changes, each with the audit entry the service
// would write.
func (s *Server) Mutate(req MutateRequest) (MutateResult, error) {
	if req.Count < 0 || req.Count > 1_000_000 {
		return MutateResult{Applied: []Mutation{}}, fmt.Errorf("mutate: count must be between 0 and 1000000, got %d", req.Count)
	}
	kinds := mutationKinds
	if len(req.Kinds) > 0 {
		kinds = nil
		for _, name := range req.Kinds {
			i := slices.IndexFunc(mutationKinds, func(k mutationKind) bool { return k.name == name })
			if i < 0 {
				return MutateResult{Applied: []Mutation{}}, fmt.Errorf("mutate: unknown kind %q (known: %v)", name, MutationKinds())
			}
			k := mutationKinds[i]
			k.weight = max(k.weight, 1) // a kind named is drawn even if the default mix leaves it out
			kinds = append(kinds, k)
		}
	}
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	o := s.org
	if req.Org != "" {
		if o = s.orgNamed(req.Org); o == nil {
			return MutateResult{Applied: []Mutation{}}, fmt.Errorf("mutate: no organization %q", req.Org)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	// The seed is mixed with the number of audit entries ever written (not
	// those still kept: reading the log prunes them), so the same seed on
	// the same organization makes the same changes, and again new ones.
	m := &mutator{o: o, r: rand.New(rand.NewPCG(req.Seed, uint64(o.auditSeq)))}
	res := MutateResult{Applied: []Mutation{}}
	for len(res.Applied) < req.Count {
		applied := false
		for attempt := 0; attempt < 50 && !applied; attempt++ {
			x := m.r.IntN(total)
			for _, k := range kinds {
				if x < k.weight {
					var mu Mutation
					if mu, applied = k.apply(m); applied {
						mu.Kind = k.name
						res.Applied = append(res.Applied, mu)
					}
					break
				}
				x -= k.weight
			}
		}
		if !applied {
			return res, fmt.Errorf("mutate: no applicable change after %d of %d (the organization may be too small for the kinds asked)", len(res.Applied), req.Count)
		}
	}
	res.Now = s.clock.Now()
	return res, nil
}

// pick returns a random live subject matching ok, or nil.
func (m *mutator) pick(ok func(*Subject) bool) *Subject {
	o := m.o
	for range 200 {
		s := o.subjects[m.r.IntN(len(o.subjects))]
		if !s.Deleted && ok(s) {
			return s
		}
	}
	return nil
}

func editableGroup(s *Subject) bool { return s.Kind == KindGroup && s.Type == "vssgp" }
func memberCandidate(s *Subject) bool {
	return s.Kind != KindGroup && (s.Ent != nil || s.Type == "svc")
}

func (m *mutator) membershipAdd() (Mutation, bool) {
	g, u := m.pick(editableGroup), m.pick(memberCandidate)
	if g == nil || u == nil || m.o.isMember(g, u) {
		return Mutation{}, false
	}
	_ = m.o.AddMember(m.o.admin, g, u)
	return Mutation{ActionID: "Group.UpdateGroupMembership.Add", Summary: fmt.Sprintf("added %s to %s", u.DisplayName, g.PrincipalName), Target: g.Descriptor}, true
}

// memberOfKind picks a random direct member of g that satisfies ok.
func (m *mutator) memberOfKind(g *Subject, ok func(*Subject) bool) *Subject {
	var cands []*Subject
	for _, s := range m.o.directMembers(g) {
		if ok(s) {
			cands = append(cands, s)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	return cands[m.r.IntN(len(cands))]
}

func (m *mutator) membershipRemove() (Mutation, bool) {
	g := m.pick(func(s *Subject) bool { return editableGroup(s) && len(m.o.members[s.seq]) > 0 })
	if g == nil {
		return Mutation{}, false
	}
	u := m.memberOfKind(g, func(s *Subject) bool { return s.Kind != KindGroup })
	if u == nil || u == m.o.admin {
		return Mutation{}, false
	}
	_ = m.o.RemoveMember(m.o.admin, g, u)
	return Mutation{ActionID: "Group.UpdateGroupMembership.Remove", Summary: fmt.Sprintf("removed %s from %s", u.DisplayName, g.PrincipalName), Target: g.Descriptor}, true
}

func (m *mutator) nestedAdd() (Mutation, bool) {
	g := m.pick(editableGroup)
	h := m.pick(func(s *Subject) bool { return s.Kind == KindGroup })
	if g == nil || h == nil || g == h || m.o.isMember(g, h) {
		return Mutation{}, false
	}
	_ = m.o.AddMember(m.o.admin, g, h)
	return Mutation{ActionID: "Group.UpdateGroupMembership.Add", Summary: fmt.Sprintf("nested %s in %s", h.PrincipalName, g.PrincipalName), Target: g.Descriptor}, true
}

func (m *mutator) nestedRemove() (Mutation, bool) {
	g := m.pick(func(s *Subject) bool { return editableGroup(s) && len(m.o.members[s.seq]) > 0 })
	if g == nil {
		return Mutation{}, false
	}
	h := m.memberOfKind(g, func(s *Subject) bool { return s.Kind == KindGroup })
	if h == nil {
		return Mutation{}, false
	}
	_ = m.o.RemoveMember(m.o.admin, g, h)
	return Mutation{ActionID: "Group.UpdateGroupMembership.Remove", Summary: fmt.Sprintf("un-nested %s from %s", h.PrincipalName, g.PrincipalName), Target: g.Descriptor}, true
}

var accountLicenses = []string{"express", "stakeholder", "advanced"}

func (m *mutator) licenseChange() (Mutation, bool) {
	u := m.pick(func(s *Subject) bool { return s.Kind == KindUser && s.Ent != nil })
	if u == nil {
		return Mutation{}, false
	}
	next := accountLicenses[m.r.IntN(len(accountLicenses))]
	if next == u.Ent.AccountLicenseType && u.Ent.LicensingSource == "account" {
		return Mutation{}, false
	}
	before := u.Ent.LicenseDisplayName()
	_ = m.o.SetLicense(m.o.admin, u, Entitlement{AccountLicenseType: next, LicensingSource: "account", MsdnLicenseType: "none"})
	return Mutation{ActionID: "Licensing.Modified", Summary: fmt.Sprintf("%s: %s → %s", u.PrincipalName, before, u.Ent.LicenseDisplayName()), Target: u.Descriptor}, true
}

func (m *mutator) userDisable() (Mutation, bool) {
	u := m.pick(func(s *Subject) bool {
		return s.Kind == KindUser && s.Ent != nil && s.Ent.Status == "active" && s != m.o.admin
	})
	if u == nil {
		return Mutation{}, false
	}
	e := *u.Ent
	e.Status = "disabled"
	_ = m.o.SetLicense(m.o.admin, u, e)
	return Mutation{ActionID: "Licensing.Modified", Summary: u.PrincipalName + " disabled", Target: u.Descriptor}, true
}

func (m *mutator) userAdd() (Mutation, bool) {
	o := m.o
	display, login := personName(m.r, len(o.subjects))
	k := userKind{Type: "aad", Guest: m.r.IntN(10) == 0}
	u := o.AddUser(o.admin, k, display, login, Entitlement{AccountLicenseType: accountLicenses[m.r.IntN(2)], LicensingSource: "account", MsdnLicenseType: "none"})
	return Mutation{ActionID: "Licensing.Assigned", Summary: "added user " + u.PrincipalName, Target: u.Descriptor}, true
}

func (m *mutator) userRemove() (Mutation, bool) {
	u := m.pick(func(s *Subject) bool { return s.Kind == KindUser && s.Ent != nil && s != m.o.admin })
	if u == nil {
		return Mutation{}, false
	}
	_ = m.o.RemoveUser(m.o.admin, u)
	return Mutation{ActionID: "Licensing.Removed", Summary: "removed user " + u.PrincipalName, Target: u.Descriptor}, true
}

// randomProject returns a live project, or nil for an organization-level change.
func (m *mutator) randomProject() *Project {
	o := m.o
	for range 50 {
		if p := o.projects[m.r.IntN(len(o.projects))]; !p.Deleted {
			return p
		}
	}
	return nil
}

func (m *mutator) groupCreate() (Mutation, bool) {
	var p *Project
	if m.r.IntN(3) > 0 && len(m.o.projects) > 0 {
		p = m.randomProject()
	}
	name := fmt.Sprintf("%s Reviewers %d", teamWords[m.r.IntN(len(teamWords))], len(m.o.subjects))
	g, err := m.o.CreateGroup(m.o.admin, p, name, "Created by a scripted change.")
	if err != nil {
		return Mutation{}, false
	}
	return Mutation{ActionID: "Group.CreateGroups", Summary: "created group " + g.PrincipalName, Target: g.Descriptor}, true
}

func (m *mutator) groupDelete() (Mutation, bool) {
	g := m.pick(func(s *Subject) bool { return editableGroup(s) && !s.Builtin })
	if g == nil {
		return Mutation{}, false
	}
	_ = m.o.DeleteGroup(m.o.admin, g)
	return Mutation{ActionID: "Group.UpdateGroups.Delete", Summary: "deleted group " + g.PrincipalName, Target: g.Descriptor}, true
}

func (m *mutator) groupRename() (Mutation, bool) {
	g := m.pick(func(s *Subject) bool { return editableGroup(s) && !s.Builtin })
	if g == nil {
		return Mutation{}, false
	}
	name := g.DisplayName + " (renamed)"
	_ = m.o.UpdateGroup(m.o.admin, g, &name, nil)
	return Mutation{ActionID: "Group.UpdateGroups.Modify", Summary: "renamed group to " + g.PrincipalName, Target: g.Descriptor}, true
}

func (m *mutator) teamCreate() (Mutation, bool) {
	p := m.randomProject()
	if p == nil {
		return Mutation{}, false
	}
	t, err := m.o.CreateTeam(m.o.admin, p, fmt.Sprintf("Squad %d", len(m.o.teams)), "Created by a scripted change.")
	if err != nil {
		return Mutation{}, false
	}
	return Mutation{ActionID: "Group.CreateGroups", Summary: "created team " + t.Name + " in " + p.Name, Target: t.ID}, true
}

func (m *mutator) repoCreate() (Mutation, bool) {
	p := m.randomProject()
	if p == nil {
		return Mutation{}, false
	}
	r, err := m.o.CreateRepo(m.o.admin, p, fmt.Sprintf("repo-%d", len(m.o.repos)))
	if err != nil {
		return Mutation{}, false
	}
	return Mutation{ActionID: "Git.RepositoryCreated", Summary: "created repository " + r.Name, Target: r.ID}, true
}

func (m *mutator) liveRepo() *Repo {
	o := m.o
	for range 50 {
		if r := o.repos[m.r.IntN(len(o.repos))]; !r.Deleted {
			return r
		}
	}
	return nil
}

func (m *mutator) repoDelete() (Mutation, bool) {
	r := m.liveRepo()
	if r == nil {
		return Mutation{}, false
	}
	m.o.DeleteRepo(m.o.admin, r)
	return Mutation{ActionID: "Git.RepositoryDeleted", Summary: "deleted repository " + r.Name, Target: r.ID}, true
}

func (m *mutator) repoRename() (Mutation, bool) {
	r := m.liveRepo()
	if r == nil {
		return Mutation{}, false
	}
	m.o.RenameRepo(m.o.admin, r, r.Name+"-renamed")
	return Mutation{ActionID: "Git.RepositoryRenamed", Summary: "renamed repository to " + r.Name, Target: r.ID}, true
}

func (m *mutator) projectCreate() (Mutation, bool) {
	p, err := m.o.CreateProject(m.o.admin, projectName(m.r, len(m.o.projects)+1000), "Created by a scripted change.", "private", "Agile")
	if err != nil {
		return Mutation{}, false
	}
	return Mutation{ActionID: "Project.CreateCompleted", Summary: "created project " + p.Name, Target: p.ID}, true
}

func (m *mutator) projectDelete() (Mutation, bool) {
	live := 0
	for _, p := range m.o.projects {
		if !p.Deleted {
			live++
		}
	}
	p := m.randomProject()
	if p == nil || live < 2 {
		return Mutation{}, false
	}
	m.o.DeleteProject(m.o.admin, p)
	return Mutation{ActionID: "Project.SoftDeleteCompleted", Summary: "deleted project " + p.Name, Target: p.ID}, true
}

func (m *mutator) projectRename() (Mutation, bool) {
	p := m.randomProject()
	if p == nil {
		return Mutation{}, false
	}
	if err := m.o.RenameProject(m.o.admin, p, p.Name+"-r"); err != nil {
		return Mutation{}, false
	}
	return Mutation{ActionID: "Project.UpdateRenameCompleted", Summary: "renamed project to " + p.Name, Target: p.ID}, true
}

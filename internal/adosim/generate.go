package adosim

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
)

// Spec describes an organization to generate. Counts are targets: the
// generator adds the groups, teams and service identities the service
// creates on its own (a project's default groups, its build service), and
// the edge cases every preset carries.
type Spec struct {
	Users              int     `json:"users"`                // human accounts (Entra and Microsoft accounts)
	GuestShare         float64 `json:"guest_share"`          // share of Entra users that are guests
	MSAShare           float64 `json:"msa_share"`            // share of users that are Microsoft accounts
	ServicePrincipals  int     `json:"service_principals"`   // Entra service principals and managed identities
	OrgGroups          int     `json:"org_groups"`           // custom organization-level groups
	EntraGroups        int     `json:"entra_groups"`         // Entra groups materialized in the organization
	EntraGroupSize     int     `json:"entra_group_size"`     // average direct members of an Entra group
	Projects           int     `json:"projects"`             //
	MaxExtraTeams      int     `json:"max_extra_teams"`      // per project, beyond the default team (uniform 0..N)
	MaxRepos           int     `json:"max_repos"`            // per project (uniform 1..N)
	MembershipsPerUser int     `json:"memberships_per_user"` // average direct group memberships of a user
	NestingDepth       int     `json:"nesting_depth"`        // length of chains of nested custom groups
	GroupRules         int     `json:"group_rules"`          // Entra groups that grant a license to their members
	DormantShare       float64 `json:"dormant_share"`        // share of users last seen over 90 days ago
	NeverShare         float64 `json:"never_share"`          // share of users that never signed in
	AuditHistory       int     `json:"audit_history"`        // audit entries spread over the 120 days before generation
}

// Presets are the named organizations `exporter sim --preset` knows.
var Presets = map[string]Spec{
	"small": {
		Users: 50, GuestShare: 0.1, MSAShare: 0.06, ServicePrincipals: 3, OrgGroups: 4,
		EntraGroups: 3, EntraGroupSize: 8, Projects: 3, MaxExtraTeams: 2, MaxRepos: 3,
		MembershipsPerUser: 4, NestingDepth: 3, GroupRules: 1, DormantShare: 0.12, NeverShare: 0.06,
		AuditHistory: 40,
	},
	"medium": {
		Users: 5000, GuestShare: 0.08, MSAShare: 0.04, ServicePrincipals: 40, OrgGroups: 60,
		EntraGroups: 150, EntraGroupSize: 50, Projects: 100, MaxExtraTeams: 3, MaxRepos: 5,
		MembershipsPerUser: 10, NestingDepth: 4, GroupRules: 10, DormantShare: 0.1, NeverShare: 0.05,
		AuditHistory: 600,
	},
	"large": {
		Users: 50000, GuestShare: 0.08, MSAShare: 0.03, ServicePrincipals: 250, OrgGroups: 480,
		EntraGroups: 1000, EntraGroupSize: 60, Projects: 1000, MaxExtraTeams: 1, MaxRepos: 5,
		MembershipsPerUser: 16, NestingDepth: 5, GroupRules: 40, DormantShare: 0.1, NeverShare: 0.05,
		AuditHistory: 3000,
	},
}

// projectGroups are the handles the generator needs to place members.
type projectGroups struct {
	p                                                    *Project
	admins, build, contributors, readers, endpointAdmins *Subject
	release                                              *Subject // nil unless the project has one
	teams                                                []*Team
}

// generate builds an organization from a spec and a seed. The same inputs
// give the same organization, byte for byte; ref is the moment the
// generated history ends ("now" at generation).
func generate(name string, spec Spec, seed uint64, ref time.Time, clk *clock) *Org {
	o := newOrg(name, spec, clk, seed)
	r := rand.New(rand.NewPCG(seed, 0x5eed5eed))
	g := &generator{o: o, r: r, ref: ref.UTC()}
	g.builtins()
	g.genUsers()
	g.servicePrincipals()
	g.genOrgGroups()
	g.entraGroups()
	g.projects()
	g.memberships()
	g.edgeCases()
	g.groupRules()
	g.history()
	g.genPipelines(seed)
	return o
}

type generator struct {
	o         *Org
	r         *rand.Rand
	ref       time.Time
	users     []*Subject // human users, in creation order
	sps       []*Subject
	orgGroups []*Subject
	entra     []*Subject
	projs     []*projectGroups
}

func (g *generator) builtins() {
	o := g.o
	builtin := func(name, desc string) *Subject {
		s := o.newGroup(nil, name, desc, false)
		s.Builtin = true
		return s
	}
	o.pca = builtin("Project Collection Administrators", "Members of this application group can perform all privileged operations on the organization.")
	o.pcvu = builtin("Project Collection Valid Users", "This application group contains all users and groups that have access to the organization.")
	o.pcsa = builtin("Project Collection Service Accounts", "This application group should only be given to service accounts.")
	o.pcbsa = builtin("Project Collection Build Service Accounts", "Members of this group should include the service accounts used by the build services set up for this organization.")
	builtin("Project Collection Build Administrators", "Members of this group should include accounts for people who should be able to administer the build resources.")
	builtin("Project Collection Test Service Accounts", "Members of this group should include the service accounts used by the test controllers set up for this organization.")
	builtin("Project-Scoped Users", "Members of this group will have limited visibility to organization-level data.")
	builtin("Security Service Group", "Identities which are granted explicit permission to a resource will be automatically added to this group if they were not previously a member of any other group.")
	o.link(o.pca, o.pcsa)
	svc := o.newServiceAccount(fmt.Sprintf("Project Collection Build Service (%s)", o.Name), o.ID)
	o.link(o.pcbsa, svc)
}

func (g *generator) genUsers() {
	o, r, spec := g.o, g.r, g.o.spec
	// Every hostile name goes to some user: one in seven, or closer
	// together when there are too few users for all names to appear.
	stride := max(1, min(7, (spec.Users-1)/len(hostileNames)))
	for i := range spec.Users {
		k := userKind{Type: "aad"}
		switch x := r.Float64(); {
		case x < spec.MSAShare:
			k.Type = "msa"
		case x < spec.MSAShare+spec.GuestShare:
			k.Guest = true
		}
		display, login := personName(r, i)
		if i == 0 {
			display, login = "Morgan Admin", "morgan.admin"
			k = userKind{Type: "aad"}
		} else if n := i - 1; n%stride == 0 && n/stride < len(hostileNames) {
			display = hostile(n / stride)
		}
		u := o.newUser(k, display, login)
		u.Ent = g.entitlement(i == 0)
		if i%97 == 13 && k.Type == "aad" {
			u.DeletedOrigin = true // left the company, still holds access
		}
		g.users = append(g.users, u)
	}
	if len(g.users) > 0 {
		o.admin = g.users[0]
		o.link(o.pca, o.admin)
	}
}

// entitlement draws a license and access dates.
func (g *generator) entitlement(admin bool) *Entitlement {
	r, spec := g.r, g.o.spec
	day := 24 * time.Hour
	e := &Entitlement{LicensingSource: "account", MsdnLicenseType: "none", Status: "active", AssignmentSource: "unknown"}
	switch x := r.Float64(); {
	case admin || x < 0.55:
		e.AccountLicenseType = "express"
	case x < 0.85:
		e.AccountLicenseType = "stakeholder"
	case x < 0.90:
		e.AccountLicenseType = "advanced"
	default:
		e.AccountLicenseType = "none"
		e.LicensingSource = "msdn"
		e.MsdnLicenseType = []string{"enterprise", "professional", "testProfessional"}[r.IntN(3)]
	}
	e.DateCreated = g.ref.Add(-time.Duration(2+r.IntN(3*365))*day - time.Duration(r.IntN(86400))*time.Second)
	switch x := r.Float64(); {
	case admin:
		e.LastAccessed = g.ref.Add(-time.Duration(r.IntN(3600)) * time.Second)
	case x < spec.NeverShare:
		if r.IntN(2) == 0 {
			e.Status = "pending"
		}
	case x < spec.NeverShare+spec.DormantShare:
		e.LastAccessed = g.ref.Add(-time.Duration(91+r.IntN(600))*day - time.Duration(r.IntN(86400))*time.Second)
	default:
		e.LastAccessed = g.ref.Add(-time.Duration(r.IntN(89))*day - time.Duration(r.IntN(86400))*time.Second)
	}
	if !e.LastAccessed.IsZero() && e.LastAccessed.Before(e.DateCreated) {
		e.DateCreated = e.LastAccessed.Add(-time.Duration(1+r.IntN(30)) * day)
	}
	if e.Status == "active" && r.Float64() < 0.02 {
		e.Status = "disabled"
	}
	return e
}

func (g *generator) servicePrincipals() {
	for i := range g.o.spec.ServicePrincipals {
		managed := i%3 == 2
		name := fmt.Sprintf("%s-deployer-%d", teamWords[i%len(teamWords)], i)
		if managed {
			name = fmt.Sprintf("mi-%s-%d", teamWords[i%len(teamWords)], i)
		}
		sp := g.o.newServicePrincipal(name, managed)
		sp.Ent = g.entitlement(false)
		sp.Ent.AccountLicenseType = []string{"express", "stakeholder"}[i%2]
		sp.Ent.LicensingSource, sp.Ent.MsdnLicenseType = "account", "none"
		g.sps = append(g.sps, sp)
	}
}

func (g *generator) genOrgGroups() {
	o, spec := g.o, g.o.spec
	for i := range spec.OrgGroups {
		name := fmt.Sprintf("%s %d", orgGroupWords[i%len(orgGroupWords)], i/len(orgGroupWords)+1)
		desc := "Custom organization group."
		if i == 1 {
			desc = hostile(0) // descriptions are free text
		}
		g.orgGroups = append(g.orgGroups, o.newGroup(nil, name, desc, false))
	}
	// Chains of nested groups: each group is a member of the next.
	depth := max(spec.NestingDepth, 1)
	for i := 0; i+1 < len(g.orgGroups); i++ {
		if (i+1)%depth != 0 {
			o.link(g.orgGroups[i+1], g.orgGroups[i])
		}
	}
}

func (g *generator) entraGroups() {
	o, r, spec := g.o, g.r, g.o.spec
	aad := make([]*Subject, 0, len(g.users))
	for _, u := range g.users {
		if u.Type == "aad" {
			aad = append(aad, u)
		}
	}
	for i := range spec.EntraGroups {
		name := fmt.Sprintf("sg-%s-%d", teamWords[i%len(teamWords)], i)
		if i%11 == 5 {
			name = hostile(i/11 + 1)
		}
		eg := o.newGroup(nil, name, "Synchronized from Microsoft Entra ID.", true)
		g.entra = append(g.entra, eg)
		if len(aad) == 0 {
			continue
		}
		size := 1 + r.IntN(max(2*spec.EntraGroupSize-1, 1))
		for range size {
			o.link(eg, aad[r.IntN(len(aad))])
		}
		if len(g.sps) > 0 && i%9 == 0 {
			o.link(eg, g.sps[r.IntN(len(g.sps))])
		}
	}
}

func (g *generator) projects() {
	o, r, spec := g.o, g.r, g.o.spec
	processes := []string{"Agile", "Scrum", "Basic", "CMMI"}
	for i := range spec.Projects {
		name := projectName(r, i)
		switch i {
		case 1:
			name = "プロジェクト-東京"
		case 2:
			name = "Проект Ω"
		}
		visibility := "private"
		if r.IntN(10) == 0 {
			visibility = "public"
		}
		created := g.ref.Add(-time.Duration(30+r.IntN(1000)) * 24 * time.Hour)
		p := o.newProject(name, "Generated project "+name, visibility, processes[r.IntN(len(processes))], created)
		pg := &projectGroups{p: p}
		for _, seq := range o.byProject[p.ID] {
			s := o.subjects[seq]
			switch s.DisplayName {
			case "Project Administrators":
				pg.admins = s
			case "Build Administrators":
				pg.build = s
			case "Contributors":
				pg.contributors = s
			case "Readers":
				pg.readers = s
			case "Endpoint Administrators":
				pg.endpointAdmins = s
			}
		}
		if r.IntN(3) == 0 {
			pg.release = o.newGroup(p, "Release Administrators", "Members of this group can manage releases.", false)
		}
		for _, t := range o.teams[len(o.teams)-1:] {
			pg.teams = append(pg.teams, t)
		}
		for j := range r.IntN(spec.MaxExtraTeams + 1) {
			name := teamWords[(i+j)%len(teamWords)] + " Team"
			if i == 0 && j == 0 {
				name = "Team Ümlaut, \"Quoted\""
			}
			pg.teams = append(pg.teams, o.newTeam(p, name, "Team "+name))
		}
		for j := range r.IntN(max(spec.MaxRepos, 1)) {
			o.newRepo(p, fmt.Sprintf("%s-svc-%d", teamWords[(i+j)%len(teamWords)], j))
		}
		if i == 0 {
			o.newRepo(p, "репозиторий-данных")
			o.newRepo(p, "legacy-disabled").IsDisabled = true
		}
		g.projs = append(g.projs, pg)
	}
}

// memberships places users, Entra groups, service principals and custom
// groups in project and organization groups.
func (g *generator) memberships() {
	o, r, spec := g.o, g.r, g.o.spec
	if len(g.projs) == 0 {
		return
	}
	home := func() *projectGroups {
		u := r.Float64()
		return g.projs[int(float64(len(g.projs))*u*u)] // a few busy projects, a long tail
	}
	for i, u := range g.users {
		if i == 0 {
			continue
		}
		homes := []*projectGroups{home(), home(), home()}
		k := 1 + r.IntN(max(2*spec.MembershipsPerUser-1, 1))
		for range k {
			pg := homes[r.IntN(len(homes))]
			switch x := r.IntN(100); {
			case x < 36:
				o.link(pg.teams[r.IntN(len(pg.teams))].Group, u)
			case x < 56:
				o.link(pg.contributors, u)
			case x < 70:
				o.link(pg.readers, u)
			case x < 80 && len(g.entra) > 0 && u.Type == "aad":
				o.link(g.entra[r.IntN(len(g.entra))], u)
			case x < 88 && len(g.orgGroups) > 0:
				o.link(g.orgGroups[r.IntN(len(g.orgGroups))], u)
			case x < 91:
				o.link(pg.admins, u)
			case x < 93:
				o.link(pg.build, u)
			case x < 94:
				o.link(pg.endpointAdmins, u)
			case x < 95 && pg.release != nil:
				o.link(pg.release, u)
			default:
				pg = home()
				o.link(pg.teams[r.IntN(len(pg.teams))].Group, u)
			}
		}
	}
	// Entra groups grant access to projects through project groups.
	for i, eg := range g.entra {
		for range 1 + r.IntN(3) {
			pg := home()
			target := pg.contributors
			switch {
			case i%23 == 0:
				target = pg.admins
			case r.IntN(3) == 0:
				target = pg.readers
			}
			o.link(target, eg)
		}
	}
	// Custom organization groups (the tops of the chains) reach into projects.
	for i, og := range g.orgGroups {
		if len(o.memberOf[og.seq]) == 0 {
			pg := home()
			target := pg.readers
			if i%5 == 0 {
				target = pg.admins
			}
			o.link(target, og)
		}
	}
	for i, sp := range g.sps {
		pg := home()
		o.link(pg.contributors, sp)
		if i%10 == 0 {
			o.link(o.pcsa, sp)
		}
	}
	// A few team administrators.
	for _, t := range o.teams {
		if ms := o.members[t.Group.seq]; len(ms) > 0 {
			t.Admins[ms[r.IntN(len(ms))]] = true
		}
	}
}

// edgeCases adds what every preset must carry whatever the spec says: a
// membership cycle and an account in no group at all.
func (g *generator) edgeCases() {
	o := g.o
	a := o.newGroup(nil, "Cycle A", "Member of Cycle B, which is a member of this group.", false)
	b := o.newGroup(nil, "Cycle B", "Member of Cycle A, which is a member of this group.", false)
	o.link(a, b)
	o.link(b, a)
	if len(g.users) > 1 {
		o.link(a, g.users[1])
	}
	lonely := o.newUser(userKind{Type: "aad"}, "Lonely, Nobody \"No Groups\"", "nobody.nogroups")
	lonely.Ent = g.entitlement(false)
	g.users = append(g.users, lonely)
}

// groupRules turns some Entra groups into license group rules; members that
// hold an account license get it from the rule.
func (g *generator) groupRules() {
	o := g.o
	for i := 0; i < o.spec.GroupRules && i < len(g.entra); i++ {
		eg := g.entra[i]
		rule := &GroupRule{ID: eg.ID, Group: eg, LastExecuted: g.ref.Add(-time.Duration(i+1) * time.Hour)}
		rule.License = Entitlement{AccountLicenseType: []string{"express", "stakeholder", "advanced"}[i%3], LicensingSource: "account", MsdnLicenseType: "none", Status: "active"}
		o.groupRules = append(o.groupRules, rule)
		for _, m := range o.members[eg.seq] {
			u := o.subjects[m]
			if u.Ent == nil || u.Ent.LicensingSource != "account" || u.Ent.AssignmentSource == "groupRule" {
				continue
			}
			u.Ent.AccountLicenseType = rule.License.AccountLicenseType
			u.Ent.AssignmentSource = "groupRule"
			u.Ent.GroupRuleID = rule.ID
		}
	}
}

// history writes audit entries for the 120 days before ref, so that the log
// has a past (and a part past retention) when the simulator starts.
func (g *generator) history() {
	o, r := g.o, g.r
	if len(g.users) < 2 || len(g.projs) == 0 {
		return
	}
	times := make([]time.Time, o.spec.AuditHistory)
	for i := range times {
		times[i] = g.ref.Add(-time.Duration(r.Int64N(int64(120 * 24 * time.Hour))))
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	for _, at := range times {
		pg := g.projs[r.IntN(len(g.projs))]
		u := g.users[1+r.IntN(len(g.users)-1)]
		switch r.IntN(3) {
		case 0:
			o.auditMembership(at, o.admin, pg.contributors, u, true)
		case 1:
			o.auditMembership(at, o.admin, pg.readers, u, false)
		default:
			if u.Ent != nil {
				o.auditLicense(at, o.admin, u, "Licensing.Modified", "Stakeholder", u.Ent.LicenseDisplayName(), "")
			}
		}
	}
}

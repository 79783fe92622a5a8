package adosim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// SubjectKind is what Graph calls subjectKind.
type SubjectKind uint8

const (
	KindUser SubjectKind = iota
	KindGroup
	KindServicePrincipal
)

func (k SubjectKind) String() string {
	switch k {
	case KindGroup:
		return "group"
	case KindServicePrincipal:
		return "servicePrincipal"
	}
	return "user"
}

// Subject is a user, service account, service principal or group: anything
// with a Graph descriptor that can be a member of a group.
type Subject struct {
	seq  int32 // index in Org.subjects: creation order, and the Graph paging key
	Kind SubjectKind
	// Type is the descriptor prefix: aad, msa, svc, aadsp, vssgp, aadgp, bnd.
	Type        string
	Descriptor  string
	ID          string // storage key, also the identity id (VSID)
	Origin      string // aad, msa, vsts
	OriginID    string
	MetaType    string // member, guest, application, managedIdentity; "" for groups
	DisplayName string
	// PrincipalName is the UPN for users and "[scope]\name" for groups.
	PrincipalName  string
	Mail           string
	Domain         string
	DirectoryAlias string
	Description    string
	ApplicationID  string // service principals only
	ProjectID      string // project-scoped groups; "" at organization level
	SID            string // groups only
	Legacy         string // legacy identity descriptor (IMS, ACEs)
	DeletedOrigin  bool   // gone from Entra ID but still in the organization
	Builtin        bool   // a group the service creates and won't delete
	TeamID         string // set on the group that backs a team
	Deleted        bool

	Ent *Entitlement // users with a license (aad, msa) and service principals

	json atomic.Pointer[[]byte] // cached Graph JSON, reset on change
	ref  atomic.Pointer[[]byte] // cached IdentityRef JSON (team members), reset on change
}

func (s *Subject) changed() {
	s.json.Store(nil)
	s.ref.Store(nil)
}

// IsGroup reports whether the subject can have members.
func (s *Subject) IsGroup() bool { return s.Kind == KindGroup }

// Entitlement is a user's (or service principal's) access level.
type Entitlement struct {
	AccountLicenseType string // none, express, stakeholder, advanced, professional, earlyAdopter
	LicensingSource    string // account, msdn, none, …
	MsdnLicenseType    string // none, eligible, professional, enterprise, …
	Status             string // active, disabled, pending, …
	AssignmentSource   string // unknown or groupRule
	GroupRuleID        string // the group rule that assigned it, when AssignmentSource is groupRule
	DateCreated        time.Time
	LastAccessed       time.Time // zero means never
}

// LicenseDisplayName is the name the portal shows for an access level.
func (e *Entitlement) LicenseDisplayName() string {
	if e.LicensingSource == "msdn" {
		switch e.MsdnLicenseType {
		case "enterprise":
			return "Visual Studio Enterprise subscription"
		case "professional":
			return "Visual Studio Professional subscription"
		case "testProfessional":
			return "Visual Studio Test Professional subscription"
		default:
			return "Visual Studio Subscription"
		}
	}
	switch e.AccountLicenseType {
	case "express":
		return "Basic"
	case "stakeholder":
		return "Stakeholder"
	case "advanced":
		return "Basic + Test Plans"
	case "professional":
		return "Visual Studio Professional"
	case "earlyAdopter":
		return "Early Adopter"
	}
	return "No access"
}

// Project is a team project.
type Project struct {
	seq         int32
	ID          string
	Name        string
	Description string
	State       string // wellFormed
	Visibility  string // private, public
	Process     string
	Revision    int64
	LastUpdate  time.Time
	Deleted     bool
	// groups are the default groups the project was created with, by
	// name: its default ACL entries stay theirs whatever they are renamed
	// to, or if they are deleted.
	groups map[string]*Subject

	json atomic.Pointer[[]byte] // cached TeamProjectReference JSON, reset on change
}

func (p *Project) changed() { p.json.Store(nil) }

// ScopeDescriptor is the Graph scope descriptor of the project.
func (p *Project) ScopeDescriptor() string { return makeDescriptor("scp", p.ID) }

// Team is a project team; its membership is the membership of its group.
type Team struct {
	seq       int32
	ID        string // equal to the ID of its group
	Name      string
	Desc      string
	ProjectID string
	Group     *Subject
	Admins    map[int32]bool // subject seqs that administer the team
	IsDefault bool
	Deleted   bool
}

// Repo is a Git repository.
type Repo struct {
	seq           int32
	ID            string
	Name          string
	ProjectID     string
	DefaultBranch string
	Size          int64
	IsDisabled    bool
	Deleted       bool
}

// GroupRule grants an access level to every member of a group.
type GroupRule struct {
	ID           string // the group's storage key
	Group        *Subject
	License      Entitlement // only the license fields are used
	LastExecuted time.Time
	Deleted      bool
}

// AuditEntry is one Audit Log entry.
type AuditEntry struct {
	ID            string
	Time          time.Time
	VisibleAt     time.Time // late-arriving entries become visible after Time
	ActionID      string
	Area          string
	Category      string
	Details       string
	ScopeType     string
	ScopeID       string
	ProjectID     string
	ProjectName   string
	ActorID       string
	ActorUPN      string
	ActorName     string
	CorrelationID string
	Data          map[string]any
}

// Org is one simulated organization. Every exported method is safe for
// concurrent use; HTTP handlers take the read lock, changes the write lock.
type Org struct {
	mu sync.RWMutex

	Name     string
	ID       string
	TenantID string

	clock *clock
	ids   *rand.Rand // deterministic GUIDs
	spec  Spec

	subjects     []*Subject // by seq; deleted subjects stay as tombstones
	byDescriptor map[string]*Subject
	byID         map[string]*Subject
	byOriginID   map[string]*Subject
	byLegacy     map[string]*Subject
	byProject    map[string][]int32 // project id → seqs of its groups

	members  map[int32][]int32 // container seq → sorted member seqs
	memberOf map[int32][]int32 // member seq → sorted container seqs

	projects    []*Project
	projectByID map[string]*Project
	teams       []*Team
	teamByID    map[string]*Team
	repos       []*Repo
	repoByID    map[string]*Repo
	groupRules  []*GroupRule

	audit     []*AuditEntry // in time order
	auditLag  time.Duration
	auditSeq  int64
	retention time.Duration

	entraDelta entraDeltaLog // Entra membership changes, for Microsoft Graph delta queries (msgraph_delta.go)
	entraUsers entraDeltaLog // Entra user changes, for the users delta query (msgraph_users_delta.go)

	byName nameOrders // user entitlement searches ordered by name (entitlements.go)

	// Well-known groups and the administrator that scripted changes run as.
	pca, pcvu, pcsa, pcbsa *Subject
	buildService           map[string]*Subject // project id → its build service identity
	admin                  *Subject

	aces    map[aclKey][]ace       // explicit access control entries set through the API
	pl      *pipelineState         // pipeline resources and tokens (pipelines.go), made on first use
	inherit map[aclKey]inheritFlag // inheritPermissions set through the API

	srv    *Server                                 // the server that serves it
	urls   atomic.Pointer[[hostMSGraph + 1]string] // hostURL of every service, set when served
	faults atomic.Pointer[faultState]              // this organization's own faults, if any (admin.go)
}

func newOrg(name string, spec Spec, clk *clock, seed uint64) *Org {
	o := &Org{
		Name:         name,
		clock:        clk,
		ids:          rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
		spec:         spec,
		byDescriptor: map[string]*Subject{},
		byID:         map[string]*Subject{},
		byOriginID:   map[string]*Subject{},
		byLegacy:     map[string]*Subject{},
		byProject:    map[string][]int32{},
		members:      map[int32][]int32{},
		memberOf:     map[int32][]int32{},
		projectByID:  map[string]*Project{},
		teamByID:     map[string]*Team{},
		repoByID:     map[string]*Repo{},
		retention:    90 * 24 * time.Hour,
		aces:         map[aclKey][]ace{},
		inherit:      map[aclKey]inheritFlag{},
		buildService: map[string]*Subject{},
	}
	o.ID = o.newGUID()
	o.TenantID = o.newGUID()
	// The organization's id comes from its name as well as the seed: two
	// organizations generated from one seed are still two organizations.
	// (The draw above stays, so every other generated id is unchanged.)
	o.ID = uuid.NewSHA1(uuid.MustParse(o.TenantID), []byte(strings.ToLower(name))).String()
	return o
}

// deploymentID is the id of the service deployment hosting the organization.
func (o *Org) deploymentID() string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("adosim-deployment")).String()
}

// newGUID returns the next deterministic GUID.
func (o *Org) newGUID() string {
	a, b := o.ids.Uint64(), o.ids.Uint64()
	// Version 4, RFC 4122 variant, so the values look like the service's.
	a = (a &^ 0xf000) | 0x4000
	b = (b &^ (0xc << 60)) | (0x8 << 60)
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", uint32(a>>32), uint16(a>>16), uint16(a), uint16(b>>48), b&0xffffffffffff)
}

// addSubject indexes a new subject and assigns its seq.
func (o *Org) addSubject(s *Subject) *Subject {
	s.seq = int32(len(o.subjects))
	o.subjects = append(o.subjects, s)
	o.byDescriptor[s.Descriptor] = s
	o.byID[s.ID] = s
	if s.OriginID != "" {
		o.byOriginID[s.OriginID] = s
	}
	if s.Legacy != "" {
		o.byLegacy[s.Legacy] = s
	}
	if s.ProjectID != "" {
		o.byProject[s.ProjectID] = append(o.byProject[s.ProjectID], s.seq)
	}
	return s
}

// subject returns a live subject by descriptor.
func (o *Org) subject(descriptor string) *Subject {
	s := o.byDescriptor[descriptor]
	if s == nil || s.Deleted {
		return nil
	}
	return s
}

func (o *Org) isMember(container, member *Subject) bool {
	_, found := slices.BinarySearch(o.members[container.seq], member.seq)
	return found
}

// link adds a direct membership; it reports false when it already existed.
func (o *Org) link(container, member *Subject) bool {
	ms := o.members[container.seq]
	i, found := slices.BinarySearch(ms, member.seq)
	if found {
		return false
	}
	o.members[container.seq] = slices.Insert(ms, i, member.seq)
	up := o.memberOf[member.seq]
	j, _ := slices.BinarySearch(up, container.seq)
	o.memberOf[member.seq] = slices.Insert(up, j, container.seq)
	return true
}

// unlink removes a direct membership; it reports false when there was none.
func (o *Org) unlink(container, member *Subject) bool {
	ms := o.members[container.seq]
	i, found := slices.BinarySearch(ms, member.seq)
	if !found {
		return false
	}
	o.members[container.seq] = slices.Delete(ms, i, i+1)
	up := o.memberOf[member.seq]
	if j, ok := slices.BinarySearch(up, container.seq); ok {
		o.memberOf[member.seq] = slices.Delete(up, j, j+1)
	}
	return true
}

// unlinkAll drops every membership of s, in both directions.
func (o *Org) unlinkAll(s *Subject) {
	for _, c := range slices.Clone(o.memberOf[s.seq]) {
		o.unlink(o.subjects[c], s)
	}
	for _, m := range slices.Clone(o.members[s.seq]) {
		o.unlink(s, o.subjects[m])
	}
	delete(o.members, s.seq)
	delete(o.memberOf, s.seq)
}

// directMembers returns the live direct members of a group.
func (o *Org) directMembers(g *Subject) []*Subject {
	seqs := o.members[g.seq]
	out := make([]*Subject, 0, len(seqs))
	for _, m := range seqs {
		if s := o.subjects[m]; !s.Deleted {
			out = append(out, s)
		}
	}
	return out
}

// directContainers returns the live groups s is directly a member of.
func (o *Org) directContainers(s *Subject) []*Subject {
	seqs := o.memberOf[s.seq]
	out := make([]*Subject, 0, len(seqs))
	for _, c := range seqs {
		if g := o.subjects[c]; !g.Deleted {
			out = append(out, g)
		}
	}
	return out
}

// expand walks memberships transitively (down: members; up: containers),
// tolerating cycles, and returns every subject reached except start.
func (o *Org) expand(start *Subject, down bool) []*Subject {
	seen := map[int32]bool{start.seq: true}
	queue := []int32{start.seq}
	var out []*Subject
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		next := o.memberOf[cur]
		if down {
			next = o.members[cur]
		}
		for _, n := range next {
			if seen[n] || o.subjects[n].Deleted {
				continue
			}
			seen[n] = true
			out = append(out, o.subjects[n])
			queue = append(queue, n)
		}
	}
	return out
}

func (o *Org) liveProject(id string) *Project {
	p := o.projectByID[id]
	if p == nil || p.Deleted {
		return nil
	}
	return p
}

// projectByName finds a live project by name or id, case-insensitively by name.
func (o *Org) projectByNameOrID(key string) *Project {
	if p := o.liveProject(key); p != nil {
		return p
	}
	for _, p := range o.projects {
		if !p.Deleted && strings.EqualFold(p.Name, key) {
			return p
		}
	}
	return nil
}

// clock is the simulated time: wall time plus whatever /_sim/advance added.
type clock struct {
	offset atomic.Int64
	now    func() time.Time
}

func (c *clock) Now() time.Time {
	return c.now().Add(time.Duration(c.offset.Load())).UTC()
}

func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

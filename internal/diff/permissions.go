package diff

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Permissions: the access control entries of a run, and the effective
// permissions they give each account on each project, repository and
// branch, computed as the service computes them (see Evaluate).

// Action is one permission bit of a namespace, named as the namespace
// names it (GenericContribute, ForcePush, …).
type Action struct {
	Bit     int64
	Name    string
	Display string
}

// Namespace is a security namespace whose ACLs the run read.
type Namespace struct {
	ID, Name, Separator string
	Actions             []Action
}

// Names lists the names of the actions in mask.
func (ns *Namespace) Names(mask int64) []string {
	var out []string
	for _, a := range ns.Actions {
		if mask&a.Bit != 0 {
			out = append(out, a.Name)
		}
	}
	return out
}

// Bit finds an action by name (or display name), case-insensitively.
func (ns *Namespace) Bit(name string) (Action, bool) {
	for _, a := range ns.Actions {
		if strings.EqualFold(a.Name, name) || strings.EqualFold(a.Display, name) {
			return a, true
		}
	}
	return Action{}, false
}

// key is how a token is looked up: without regard to case, and without a
// trailing separator. Microsoft's token reference gives Git tokens as
// repoV2/{projectId}/{repoId}/ ("valid tokens always end in the separator
// character") while the service lists them without it: both name the same
// object, a path part being what lies between separators.
func (ns *Namespace) key(token string) string {
	t := strings.ToLower(token)
	if ns.Separator != "" && len(t) > len(ns.Separator) {
		t = strings.TrimSuffix(t, ns.Separator)
	}
	return t
}

// parent is the token one level up, by the separator.
func (ns *Namespace) parent(token string) (string, bool) {
	if ns.Separator == "" {
		return "", false
	}
	i := strings.LastIndex(token, ns.Separator)
	if i <= 0 {
		return "", false
	}
	return token[:i], true
}

// Subject is an identity an entry names: resolved to an account or group
// of the run, or not (Known false: removed from the organization, or never
// resolved).
type Subject struct {
	Identity   string // the legacy identity descriptor the entry names
	Descriptor string // the subject descriptor, "" when unresolved
	Kind       string // user, service_account, service_principal, group; "" unknown
	Name       string
	Known      bool // an account or group of the run
}

// ACE is one access control entry of a run: the permissions table.
type ACE struct {
	Namespace   *Namespace
	Token       string
	Resource    Resource
	Inherit     bool // the ACL's inheritPermissions
	Subject     Subject
	Allow, Deny int64
}

// permState is one run's permission data, loaded once.
type permState struct {
	run        int64
	namespaces []*Namespace
	acls       map[*Namespace]map[string]*aclState // by lower-case token
	subjects   map[string]*Subject                 // by legacy descriptor
	names      map[string]Subject                  // by subject descriptor: accounts and groups of the run
	res        *resources

	// The membership closure, as Effective computes it.
	in      *interner
	c       *closure
	members map[int32][]member // group → accounts in it, directly or nested
	// admins are the accounts in Project Collection Administrators,
	// directly or nested (see EffectivePermission.AdminOverridePossible).
	admins map[string]bool
}

type aclState struct {
	token   string
	inherit bool
	aces    []aceState
}

type aceState struct {
	subject     *Subject
	allow, deny int64
}

// member is an account in a group, with how (see reach).
type member struct {
	account int32
	r       reach
}

// loadPermissions reads a run's namespaces, ACLs, entries, subjects and
// membership closure.
func loadPermissions(ctx context.Context, st *snapshot.Store, run int64) (*permState, error) {
	if _, err := st.CompleteRun(ctx, run); err != nil {
		return nil, err
	}
	db := st.DB()
	at := []any{sql.Named("run", run)}
	s := &permState{run: run, acls: map[*Namespace]map[string]*aclState{}, subjects: map[string]*Subject{}, names: map[string]Subject{}}
	byID := map[string]*Namespace{}
	err := queryEach(ctx, db, "perm_namespaces_at", at, func(r []any) {
		ns := &Namespace{ID: r[0].(string), Name: r[1].(string), Separator: r[2].(string)}
		s.namespaces = append(s.namespaces, ns)
		byID[ns.ID] = ns
		s.acls[ns] = map[string]*aclState{}
	})
	if err == nil {
		err = queryEach(ctx, db, "perm_actions_at", at, func(r []any) {
			if ns := byID[r[0].(string)]; ns != nil {
				ns.Actions = append(ns.Actions, Action{Bit: r[1].(int64), Name: r[2].(string), Display: r[3].(string)})
			}
		})
	}
	if err == nil {
		err = queryEach(ctx, db, "perm_acls_at", at, func(r []any) {
			if ns := byID[r[0].(string)]; ns != nil {
				t := r[1].(string)
				s.acls[ns][ns.key(t)] = &aclState{token: t, inherit: r[2].(int64) != 0}
			}
		})
	}
	if err == nil {
		err = queryEach(ctx, db, "perm_subjects_at", at, func(r []any) {
			d, kind := r[0].(string), r[1].(string)
			name := AccountName(text(r[2]), text(r[3]), d)
			if kind == "group" {
				name = GroupName(text(r[2]), text(r[3]), d)
			}
			s.names[d] = Subject{Descriptor: d, Kind: kind, Name: name, Known: true}
		})
	}
	legacy := map[string]string{}
	if err == nil {
		// The service compares identity descriptors without regard to
		// case; entries may name one in other letter case.
		err = queryEach(ctx, db, "perm_identity_keys", nil, func(r []any) { legacy[strings.ToLower(r[0].(string))] = r[1].(string) })
	}
	if err == nil {
		err = queryEach(ctx, db, "perm_aces_at", at, func(r []any) {
			ns := byID[r[0].(string)]
			if ns == nil {
				return
			}
			a := s.acls[ns][ns.key(r[1].(string))]
			if a == nil { // an entry without its list: never written so, but harmless
				a = &aclState{token: r[1].(string), inherit: true}
				s.acls[ns][ns.key(a.token)] = a
			}
			a.aces = append(a.aces, aceState{subject: s.subject(r[2].(string), legacy), allow: r[3].(int64), deny: r[4].(int64)})
		})
	}
	if err != nil {
		return nil, fmt.Errorf("permissions at run %d: %w", run, err)
	}
	if s.res, err = loadResources(ctx, db, run); err != nil {
		return nil, fmt.Errorf("permissions at run %d: %w", run, err)
	}
	if err := s.loadClosure(ctx, st, run); err != nil {
		return nil, fmt.Errorf("permissions at run %d: %w", run, err)
	}
	return s, nil
}

// subject resolves a legacy descriptor once.
func (s *permState) subject(identity string, legacy map[string]string) *Subject {
	if sub := s.subjects[identity]; sub != nil {
		return sub
	}
	sub := &Subject{Identity: identity, Descriptor: legacy[strings.ToLower(identity)]}
	if known, ok := s.names[sub.Descriptor]; ok && sub.Descriptor != "" {
		sub.Kind, sub.Name, sub.Known = known.Kind, known.Name, true
	} else {
		sub.Name = identity
		if sub.Descriptor != "" {
			sub.Name = sub.Descriptor
		}
	}
	s.subjects[identity] = sub
	return sub
}

// loadClosure computes, through the effective-access closure, the accounts
// in every group an entry names, each with its shortest path.
func (s *permState) loadClosure(ctx context.Context, st *snapshot.Store, run int64) error {
	s.in = newInterner()
	var edges []edge
	err := scanPairs(ctx, st.DB(), "diff_memberships_at", []any{sql.Named("run", run)}, func(c, m []byte, _ []bool) {
		edges = append(edges, edge{s.in.idOf(c), s.in.idOf(m)})
	})
	if err != nil {
		return err
	}
	groupNames := map[string]string{}
	kinds := map[string]string{}
	for d, sub := range s.names {
		if sub.Kind == "group" {
			groupNames[d] = sub.Name
		} else {
			kinds[d] = sub.Kind
		}
	}
	s.c = &closure{g: newGraph(s.in, edges), names: groupNames, kinds: kinds}
	wanted := map[int32]bool{}
	for _, sub := range s.subjects {
		if id, ok := s.in.ids[sub.Descriptor]; ok && sub.Kind == "group" {
			wanted[id] = true
		}
	}
	var admins []int32
	err = queryEach(ctx, st.DB(), "perm_collection_admins_at", []any{sql.Named("run", run)}, func(r []any) {
		if id, ok := s.in.ids[r[0].(string)]; ok {
			admins = append(admins, id)
			wanted[id] = true
		}
	})
	if err != nil {
		return err
	}
	s.members = map[int32][]member{}
	best := map[int32]reach{}
	for _, u := range s.c.accounts() {
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, r := range s.c.g.effective(u, best) {
			if wanted[r.group] {
				s.members[r.group] = append(s.members[r.group], member{account: u, r: r})
			}
		}
	}
	s.admins = map[string]bool{}
	for _, g := range admins {
		for _, m := range s.members[g] {
			s.admins[s.in.names[m.account]] = true
		}
	}
	return nil
}

// queryEach runs a named query and hands each row's values to fn.
func queryEach(ctx context.Context, db *sql.DB, name string, args []any, fn func([]any)) error {
	rows, err := db.QueryContext(ctx, snapshot.Query(name), args...)
	if err != nil {
		return fmt.Errorf("query %s: %w", name, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("query %s: %w", name, err)
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		fn(vals)
	}
	return rows.Err()
}

// Permissions streams the access control entries of a run, by namespace
// name, token and identity.
func Permissions(ctx context.Context, st *snapshot.Store, run int64, emit func(ACE) error) error {
	s, err := loadPermissions(ctx, st, run)
	if err != nil {
		return err
	}
	return s.entries(emit)
}

// NsGit is the id of the Git Repositories namespace.
const NsGit = nsGit

func (s *permState) entries(emit func(ACE) error) error {
	for _, ns := range s.namespaces {
		for _, a := range sortedACLs(s.acls[ns]) {
			res := s.res.of(ns, a.token)
			aces := slices.Clone(a.aces)
			slices.SortFunc(aces, func(x, y aceState) int { return strings.Compare(x.subject.Identity, y.subject.Identity) })
			for _, e := range aces {
				if err := emit(ACE{Namespace: ns, Token: a.token, Resource: res, Inherit: a.inherit, Subject: *e.subject, Allow: e.allow, Deny: e.deny}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func sortedACLs(m map[string]*aclState) []*aclState {
	out := make([]*aclState, 0, len(m))
	for _, a := range m {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *aclState) int { return strings.Compare(a.token, b.token) })
	return out
}

// PermissionSnapshot is one run's permissions, loaded once for several
// reads (a packet's permissions and effective_permissions tables).
type PermissionSnapshot struct{ s *permState }

// LoadPermissions loads a run's namespaces, ACLs, entries and membership
// closure.
func LoadPermissions(ctx context.Context, st *snapshot.Store, run int64) (*PermissionSnapshot, error) {
	s, err := loadPermissions(ctx, st, run)
	if err != nil {
		return nil, err
	}
	return &PermissionSnapshot{s}, nil
}

// Entries streams the access control entries (see Permissions).
func (p *PermissionSnapshot) Entries(emit func(ACE) error) error { return p.s.entries(emit) }

// Effective streams effective permissions (see EffectivePermissions).
func (p *PermissionSnapshot) Effective(ctx context.Context, f PermissionFilter, emit func(EffectivePermission) error) error {
	return p.s.effective(ctx, f, emit)
}

// Namespaces are the namespaces whose ACLs the run read.
func (p *PermissionSnapshot) Namespaces() []*Namespace { return p.s.namespaces }

// Resource describes a token of a namespace.
func (p *PermissionSnapshot) Resource(ns *Namespace, token string) Resource {
	return p.s.res.of(ns, token)
}

// Repository finds a repository's token by name or id ("project/repo", or
// a repository alone when one project has it).
func (p *PermissionSnapshot) Repository(name string) (token string, err error) {
	project, repo, scoped := strings.Cut(name, "/")
	if !scoped {
		project, repo = "", name
	}
	var found []string
	for id, rp := range p.s.res.repos {
		if (strings.EqualFold(rp[1], repo) || strings.EqualFold(id, repo)) && (project == "" || strings.EqualFold(p.s.res.projects[rp[0]], project) || strings.EqualFold(rp[0], project)) {
			found = append(found, RepoToken(rp[0], id))
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no repository %q at run %d", name, p.s.run)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%d repositories are named %q at run %d: name one as PROJECT/REPOSITORY", len(found), name, p.s.run)
}

// Project finds a project's id by name or id.
func (p *PermissionSnapshot) Project(name string) (string, error) {
	for id, n := range p.s.res.projects {
		if strings.EqualFold(n, name) || strings.EqualFold(id, name) {
			return id, nil
		}
	}
	return "", fmt.Errorf("no project %q at run %d", name, p.s.run)
}

// BranchTokens lists the tokens below a repository's that hold ACLs.
func (p *PermissionSnapshot) BranchTokens(repoToken string) []string {
	var out []string
	for _, ns := range p.s.namespaces {
		if ns.ID != nsGit {
			continue
		}
		for _, a := range p.s.acls[ns] {
			if strings.HasPrefix(strings.ToLower(a.token), strings.ToLower(repoToken)+"/") {
				out = append(out, a.token)
			}
		}
	}
	slices.Sort(out)
	return out
}

package adosim

import (
	"slices"
	"sort"
	"strings"
)

// acl is one access control list of a view.
type acl struct {
	token   string
	aces    []ace
	inherit bool // inheritPermissions: false stops the walk up the hierarchy
}

func (a *acl) find(descriptor string) int {
	return slices.IndexFunc(a.aces, func(e ace) bool { return strings.EqualFold(e.descriptor, descriptor) })
}

// aclView is one namespace's ACLs as the service holds them right now: the
// derived defaults with the API's changes applied. It is built per request
// under the read lock and is not kept.
type aclView struct {
	o      *Org
	ns     *securityNamespace
	order  []string        // lower-case tokens, in listing order
	acls   map[string]*acl // by lower-case token
	builds map[string]*Subject
	repos  map[string][]*Repo
	teams  map[string][]*Team
	memo   map[[2]string][2]int
}

// aclView builds the view of one namespace. Callers hold the lock.
func (o *Org) aclView(ns *securityNamespace) *aclView {
	v := &aclView{o: o, ns: ns, acls: map[string]*acl{}, memo: map[[2]string][2]int{},
		builds: map[string]*Subject{}, repos: map[string][]*Repo{}, teams: map[string][]*Team{}}
	for project, s := range o.buildService {
		if !s.Deleted {
			v.builds[project] = s
		}
	}
	for _, r := range o.repos {
		if !r.Deleted {
			v.repos[r.ProjectID] = append(v.repos[r.ProjectID], r)
		}
	}
	for _, t := range o.teams {
		if !t.Deleted {
			v.teams[t.ProjectID] = append(v.teams[t.ProjectID], t)
		}
	}
	if ns.defaults != nil {
		ns.defaults(v)
	}
	var changed []aclKey
	for k := range o.aces {
		if k.namespace == ns.id {
			changed = append(changed, k)
		}
	}
	for k := range o.inherit {
		if _, dup := o.aces[k]; k.namespace == ns.id && !dup {
			changed = append(changed, k)
		}
	}
	sort.Slice(changed, func(i, j int) bool { return changed[i].token < changed[j].token })
	for _, k := range changed {
		for _, e := range o.aces[k] {
			v.put(e)
		}
		if f, ok := o.inherit[k]; ok {
			v.token(f.token).inherit = f.on
		}
	}
	return v
}

func (v *aclView) projects() []*Project {
	var out []*Project
	for _, p := range v.o.projects {
		if !p.Deleted {
			out = append(out, p)
		}
	}
	return out
}

// group is a default group of a project: the group the project was
// created with, even renamed or deleted (see the package comment).
func (v *aclView) group(p *Project, name string) *Subject { return p.groups[name] }

func (v *aclView) buildService(p *Project) *Subject { return v.builds[p.ID] }

// token returns the ACL of a token, creating an empty one.
func (v *aclView) token(t string) *acl {
	k := strings.ToLower(t)
	a := v.acls[k]
	if a == nil {
		a = &acl{token: t, inherit: true}
		v.acls[k] = a
		v.order = append(v.order, k)
	}
	return a
}

// grant adds a default entry; a missing identity (a project without a
// Release Administrators group) adds nothing, one removed from the
// organization keeps its entry.
func (v *aclView) grant(token string, who *Subject, allow int) {
	if who == nil || allow == 0 {
		return
	}
	a := v.token(token)
	if i := a.find(who.Legacy); i >= 0 {
		a.aces[i].allow |= allow
		return
	}
	a.aces = append(a.aces, ace{token: token, descriptor: who.Legacy, allow: allow})
}

// put applies a stored change: it replaces the entry, or removes it.
func (v *aclView) put(e ace) {
	a := v.token(e.token)
	i := a.find(e.descriptor)
	switch {
	case e.removed && i >= 0:
		a.aces = slices.Delete(a.aces, i, i+1)
	case e.removed:
	case i >= 0:
		a.aces[i] = e
	default:
		a.aces = append(a.aces, e)
	}
}

// explicit is the entry a descriptor has on a token, zero when none.
func (v *aclView) explicit(token, descriptor string) (allow, deny int) {
	if a := v.acls[strings.ToLower(token)]; a != nil {
		if i := a.find(descriptor); i >= 0 {
			return a.aces[i].allow, a.aces[i].deny
		}
	}
	return 0, 0
}

// parent is the token one level up, by the namespace's separator.
func (v *aclView) parent(token string) (string, bool) {
	sep := v.ns.separator
	if sep == "" || v.ns.flat {
		return "", false
	}
	i := strings.LastIndex(token, sep)
	if i <= 0 {
		return "", false
	}
	return token[:i], true
}

// inherited is what a descriptor gets on a token from its ancestors.
func (v *aclView) inherited(token, descriptor string) (allow, deny int) {
	if a := v.acls[strings.ToLower(token)]; a != nil && !a.inherit {
		return 0, 0
	}
	if p, ok := v.parent(token); ok {
		return v.effective(p, descriptor)
	}
	return 0, 0
}

// effective combines a descriptor's entry on a token with what it
// inherits: an explicit bit overrides an inherited one; within the entry,
// deny wins.
func (v *aclView) effective(token, descriptor string) (allow, deny int) {
	key := [2]string{strings.ToLower(token), strings.ToLower(descriptor)}
	if r, ok := v.memo[key]; ok {
		return r[0], r[1]
	}
	a, d := v.explicit(token, descriptor)
	ia, id := v.inherited(token, descriptor)
	set := a | d
	allow, deny = (a&^d)|(ia&^set), d|(id&^set)
	v.memo[key] = [2]int{allow, deny}
	return allow, deny
}

// descriptorsAbove lists the descriptors with entries on the ancestors of a
// token: the identities that inherit something there.
func (v *aclView) descriptorsAbove(token string) []string {
	var out []string
	for t, ok := v.parent(token); ok; t, ok = v.parent(t) {
		if a := v.acls[strings.ToLower(token)]; a != nil && !a.inherit {
			break
		}
		token = t
		if a := v.acls[strings.ToLower(t)]; a != nil {
			for _, e := range a.aces {
				if !slices.ContainsFunc(out, func(d string) bool { return strings.EqualFold(d, e.descriptor) }) {
					out = append(out, e.descriptor)
				}
			}
		}
	}
	return out
}

// Wire shapes of security.AccessControlList and AccessControlEntry.
type aclJSON struct {
	InheritPermissions  bool               `json:"inheritPermissions"`
	Token               string             `json:"token"`
	AcesDictionary      map[string]aceJSON `json:"acesDictionary"`
	IncludeExtendedInfo bool               `json:"includeExtendedInfo,omitempty"`
}

type aceJSON struct {
	Descriptor   string       `json:"descriptor"`
	Allow        int          `json:"allow"`
	Deny         int          `json:"deny"`
	ExtendedInfo *aceExtended `json:"extendedInfo,omitempty"`
}

// aceExtended leaves zero masks out, as the service does.
type aceExtended struct {
	EffectiveAllow int `json:"effectiveAllow,omitempty"`
	EffectiveDeny  int `json:"effectiveDeny,omitempty"`
	InheritedAllow int `json:"inheritedAllow,omitempty"`
	InheritedDeny  int `json:"inheritedDeny,omitempty"`
}

// render answers one token's ACL, or false when there is nothing to show:
// a token holds an ACL when it has entries of its own; with extended info
// asked for, a requested token also shows what it inherits. A descriptor
// filter shows an entry (zero when absent) for each descriptor asked for,
// on every ACL listed, as in the service's example.
func (v *aclView) render(token string, requested bool, descriptors []string, extended bool) (aclJSON, bool) {
	a := v.acls[strings.ToLower(token)]
	var shown []string
	if a != nil {
		token = a.token
		for _, e := range a.aces {
			if e.allow != 0 || e.deny != 0 {
				shown = append(shown, e.descriptor)
			}
		}
	}
	if extended && requested {
		for _, d := range v.descriptorsAbove(token) {
			if !slices.ContainsFunc(shown, func(s string) bool { return strings.EqualFold(s, d) }) {
				shown = append(shown, d)
			}
		}
	}
	inherit := a == nil || a.inherit
	if len(shown) == 0 && inherit {
		return aclJSON{}, false
	}
	if descriptors != nil {
		shown = descriptors
	}
	out := aclJSON{InheritPermissions: inherit, Token: token, AcesDictionary: map[string]aceJSON{}, IncludeExtendedInfo: extended}
	for _, d := range shown {
		allow, deny := v.explicit(token, d)
		e := aceJSON{Descriptor: d, Allow: allow, Deny: deny}
		if extended {
			ea, ed := v.effective(token, d)
			ia, id := v.inherited(token, d)
			set := allow | deny
			e.ExtendedInfo = &aceExtended{EffectiveAllow: ea, EffectiveDeny: ed, InheritedAllow: ia &^ set, InheritedDeny: id &^ set}
		}
		out.AcesDictionary[d] = e
	}
	return out, true
}

// descendants lists the tokens below token that hold ACLs, in listing order.
func (v *aclView) descendants(token string) []string {
	if v.ns.separator == "" {
		return nil
	}
	prefix := strings.ToLower(token) + strings.ToLower(v.ns.separator)
	var out []string
	for _, k := range v.order {
		if strings.HasPrefix(k, prefix) {
			out = append(out, v.acls[k].token)
		}
	}
	return out
}

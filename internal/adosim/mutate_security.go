package adosim

import (
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf16"
)

// Permission changes for /_sim/mutate: entries set, removed and reset, and
// inheritance turned off or on, on projects, repositories and branches,
// each written through the same methods as the API (and so audited as the
// service audits them).

// BranchToken is the Git Repositories token of a branch: the repository's
// token, "refs/heads", then each segment of the branch name as the hex of
// its UTF-16LE bytes ("main" → "6d00610069006e00"), as the service forms it.
func BranchToken(repoToken, branch string) string {
	branch = strings.TrimPrefix(branch, "refs/heads/")
	parts := strings.Split(branch, "/")
	for i, p := range parts {
		var b []byte
		for _, u := range utf16.Encode([]rune(p)) {
			b = append(b, byte(u), byte(u>>8))
		}
		parts[i] = hex.EncodeToString(b)
	}
	return repoToken + "/refs/heads/" + strings.Join(parts, "/")
}

// mutableBits are the permissions scripted changes grant or deny, by
// namespace: those an access review cares about.
var mutableBits = map[string][]string{
	nsGit:     {"GenericContribute", "ForcePush", "PolicyExempt", "PullRequestBypassPolicy", "ManagePermissions", "Administer", "CreateBranch", "EditPolicies"},
	nsProject: {"GENERIC_WRITE", "DELETE", "MANAGE_PROPERTIES", "UPDATE_VISIBILITY"},
	nsBuild:   {"QueueBuilds", "EditBuildDefinition", "AdministerBuildPermissions"},
}

// permissionToken picks a namespace and a token of a live project:
// mostly Git (the project, one of its repositories, or a branch).
func (m *mutator) permissionToken() (*securityNamespace, string, *Project) {
	p := m.randomProject()
	if p == nil {
		return nil, "", nil
	}
	switch x := m.r.IntN(20); {
	case x < 3:
		return namespaceByID(nsProject), projectPrefix + p.ID, p
	case x < 6:
		return namespaceByID(nsBuild), p.ID, p
	}
	git := namespaceByID(nsGit)
	token := "repoV2/" + p.ID
	var repos []*Repo
	for _, r := range m.o.repos {
		if r.ProjectID == p.ID && !r.Deleted {
			repos = append(repos, r)
		}
	}
	if len(repos) == 0 || m.r.IntN(4) == 0 {
		return git, token, p
	}
	r := repos[m.r.IntN(len(repos))]
	token += "/" + r.ID
	switch m.r.IntN(3) {
	case 0:
		return git, BranchToken(token, r.DefaultBranch), p
	case 1:
		return git, BranchToken(token, "release/"+fmt.Sprint(2024+m.r.IntN(3))), p
	}
	return git, token, p
}

// permissionSubject picks who gets an entry: a group of the project, an
// organization group, or an account (a direct user entry).
func (m *mutator) permissionSubject(p *Project) *Subject {
	o := m.o
	if m.r.IntN(3) == 0 {
		return m.pick(memberCandidate)
	}
	if seqs := o.byProject[p.ID]; len(seqs) > 0 && m.r.IntN(4) != 0 {
		if s := o.subjects[seqs[m.r.IntN(len(seqs))]]; !s.Deleted && s.Kind == KindGroup {
			return s
		}
	}
	return m.pick(func(s *Subject) bool { return s.Kind == KindGroup && s.Type == "vssgp" })
}

func (m *mutator) permissionSet() (Mutation, bool) {
	ns, token, p := m.permissionToken()
	if ns == nil {
		return Mutation{}, false
	}
	who := m.permissionSubject(p)
	if who == nil || who.Legacy == "" {
		return Mutation{}, false
	}
	names := mutableBits[ns.id]
	bits := ns.bits(names[m.r.IntN(len(names))])
	if m.r.IntN(2) == 0 {
		bits |= ns.bits(names[m.r.IntN(len(names))])
	}
	in := aceInput{Descriptor: who.Legacy, Allow: bits}
	verb := "allowed"
	if m.r.IntN(10) < 3 {
		in, verb = aceInput{Descriptor: who.Legacy, Deny: bits}, "denied"
	}
	if _, err := m.o.SetAccessControlEntries(m.o.admin, ns, token, true, []aceInput{in}); err != nil {
		return Mutation{}, false
	}
	return Mutation{ActionID: "Security.ModifyPermission", Summary: fmt.Sprintf("%s %s %s on %s", verb, who.DisplayName, ns.names(bits), token), Target: token}, true
}

// entryOn picks one entry of the ACL of a token, if it has any.
func (m *mutator) entryOn(ns *securityNamespace, token string) (ace, bool) {
	a := m.o.aclView(ns).acls[strings.ToLower(token)]
	if a == nil || len(a.aces) == 0 {
		return ace{}, false
	}
	return a.aces[m.r.IntN(len(a.aces))], true
}

func (m *mutator) permissionRemove() (Mutation, bool) {
	ns, token, _ := m.permissionToken()
	if ns == nil {
		return Mutation{}, false
	}
	e, ok := m.entryOn(ns, token)
	if !ok {
		return Mutation{}, false
	}
	if removed, err := m.o.RemoveAccessControlEntries(m.o.admin, ns, token, []string{e.descriptor}); err != nil || !removed {
		return Mutation{}, false
	}
	return Mutation{ActionID: "Security.RemovePermission", Summary: fmt.Sprintf("removed the entry of %s on %s", m.o.identityName(e.descriptor), token), Target: token}, true
}

func (m *mutator) permissionReset() (Mutation, bool) {
	ns, token, _ := m.permissionToken()
	if ns == nil {
		return Mutation{}, false
	}
	e, ok := m.entryOn(ns, token)
	if !ok {
		return Mutation{}, false
	}
	set := e.allow | e.deny
	bit := set & -set // the lowest bit set
	if m.r.IntN(2) == 0 {
		bit = set
	}
	if _, err := m.o.ResetPermission(m.o.admin, ns, token, e.descriptor, bit); err != nil {
		return Mutation{}, false
	}
	return Mutation{ActionID: "Security.ResetPermission", Summary: fmt.Sprintf("reset %s of %s on %s", ns.names(bit), m.o.identityName(e.descriptor), token), Target: token}, true
}

// aclInherit turns inheritance off (or back on) on a repository or branch,
// keeping the entries the ACL has.
func (m *mutator) aclInherit() (Mutation, bool) {
	ns, token, _ := m.permissionToken()
	if ns == nil || ns.id != nsGit || strings.Count(token, "/") < 2 {
		return Mutation{}, false
	}
	v := m.o.aclView(ns)
	on := false
	in := aclInput{Token: token, AcesDictionary: map[string]aceInput{}}
	if a := v.acls[strings.ToLower(token)]; a != nil {
		on = !a.inherit
		for _, e := range a.aces {
			in.AcesDictionary[e.descriptor] = aceInput{Descriptor: e.descriptor, Allow: e.allow, Deny: e.deny}
		}
	}
	in.InheritPermissions = &on
	if err := m.o.SetAccessControlLists(m.o.admin, ns, []aclInput{in}); err != nil {
		return Mutation{}, false
	}
	return Mutation{ActionID: "Security.ModifyAccessControlLists", Summary: fmt.Sprintf("inheritance %s on %s", onOff(on), token), Target: token}, true
}

// teamAdmin makes a direct member of a team its administrator, or an
// administrator no longer one, as the team's settings page does: an entry
// on the team's token in the Identity namespace (see teamAdmins).
func (m *mutator) teamAdmin() (Mutation, bool) {
	o := m.o
	var teams []*Team
	for _, t := range o.teams {
		if !t.Deleted && !t.Group.Deleted && len(o.members[t.Group.seq]) > 0 {
			teams = append(teams, t)
		}
	}
	if len(teams) == 0 {
		return Mutation{}, false
	}
	t := teams[m.r.IntN(len(teams))]
	members := o.directMembers(t.Group)
	if len(members) == 0 {
		return Mutation{}, false
	}
	who := members[m.r.IntN(len(members))]
	ns := namespaceByID(nsIdentity)
	token := t.ProjectID + `\` + t.ID
	if o.teamAdmins(t)[strings.ToLower(who.Legacy)] {
		if _, err := o.RemoveAccessControlEntries(o.admin, ns, token, []string{who.Legacy}); err != nil {
			return Mutation{}, false
		}
		return Mutation{ActionID: "Security.RemovePermission", Summary: who.DisplayName + " no longer administers team " + t.Name, Target: token}, true
	}
	if _, err := o.SetAccessControlEntries(o.admin, ns, token, false, []aceInput{{Descriptor: who.Legacy, Allow: ns.all()}}); err != nil {
		return Mutation{}, false
	}
	return Mutation{ActionID: "Security.ModifyPermission", Summary: who.DisplayName + " administers team " + t.Name, Target: token}, true
}

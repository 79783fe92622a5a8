package provision

import (
	"context"
	"fmt"
	"strings"
)

// resolve turns decisions into actions on named subjects and groups, as
// the snapshot knows them: a packet's at the packet's run (whose rows the
// reviewers saw), a plan file's at the newest run. Every unknown name is a
// problem; so are contradictions between rows.
type resolver struct {
	ctx     context.Context
	packet  *view // the packet's run (nil for a plan file)
	newest  *view
	orgName string
	ps      problems
	actions []*Action
	byKey   map[string]*Action // kind, subject and group → the action
	notes   []Note
	keep    map[string]Source // access rows kept: group and member → where
}

func newResolver(ctx context.Context, packet, newest *view, org string) *resolver {
	return &resolver{ctx: ctx, packet: packet, newest: newest, orgName: orgName(org), byKey: map[string]*Action{}, keep: map[string]Source{}}
}

// orgName is an organization's name, the scope of its own groups ("[fabrikam]\…").
func orgName(org string) string {
	org = strings.TrimRight(org, "/")
	if i := strings.LastIndexByte(org, '/'); i >= 0 {
		org = org[i+1:]
	}
	return org
}

// add records an action, merging it with an equal one from another row.
func (r *resolver) add(a *Action) {
	key := a.key()
	if prev, ok := r.byKey[key]; ok {
		prev.Sources = append(prev.Sources, a.Sources...)
		return
	}
	r.byKey[key] = a
	a.Seq = len(r.actions) + 1
	r.actions = append(r.actions, a)
}

func (r *resolver) packetDecision(d Decision) error {
	v := r.packet
	switch {
	case isPipelineTable(d.Table):
		return r.pipeDecision(d)
	case d.Table == TableAccounts:
		acc := v.accounts[d.Subject]
		if acc == nil {
			r.ps.add(d.Source, "account %s is not in the packet's run %d of the store", clip(d.Subject), v.run)
			return nil
		}
		if d.Value == Change {
			r.notes = append(r.notes, Note{Source: d.Source, Subject: acc.name(), Msg: "Change is not carried out from a packet: write the change (set-license, grant, revoke) in a plan file"})
			return nil
		}
		r.add(&Action{Kind: ActRemoveAccount, Subject: subjectOf(acc), Sources: []Source{d.Source}, Approver: d.Reviewer, Reason: d.Comment})
		return nil
	}
	acc, g := v.accounts[d.Subject], v.groups[d.Group]
	if acc == nil {
		r.ps.add(d.Source, "account %s is not in the packet's run %d of the store", clip(d.Subject), v.run)
	}
	if g == nil {
		r.ps.add(d.Source, "group %s is not in the packet's run %d of the store", clip(d.Group), v.run)
	}
	if acc == nil || g == nil {
		return nil
	}
	if d.Value == Change {
		r.notes = append(r.notes, Note{Source: d.Source, Subject: acc.name(), Group: g.name(), Msg: "Change is not carried out from a packet: write the change in a plan file"})
		return nil
	}
	direct := d.Direct || (len(d.Path) == 1 && d.Path[0] == d.Group)
	if direct {
		r.add(&Action{Kind: ActRevoke, Subject: subjectOf(acc), Group: groupRef(g), Sources: []Source{d.Source}, Approver: d.Reviewer, Reason: d.Comment})
		return nil
	}
	// Inherited: the direct membership that grants it is the first hop of
	// its path. Removing it may take away more than this access, so it is
	// not done unless asked for explicitly.
	path := d.Path
	if len(path) == 0 {
		var err error
		if path, err = v.pathUp(r.ctx, d.Subject, d.Group); err != nil {
			return err
		}
	}
	if len(path) == 0 {
		r.ps.add(d.Source, "%s does not reach %s at the packet's run %d: the row does not match the store", acc.name(), g.name(), v.run)
		return nil
	}
	first := path[0]
	via := first
	if fg := v.groups[first]; fg != nil {
		via = fg.name()
	}
	r.notes = append(r.notes, Note{Source: d.Source, Subject: acc.name(), Group: g.name(), Open: true, direct: [2]string{d.Subject, first},
		Msg: fmt.Sprintf("the access is inherited through %s; to take it away, %s must leave %s: mark that direct row Revoke (or put a revoke in a plan file)", via, acc.name(), via)})
	return nil
}

// resolveNotes closes the notes of inherited access whose direct
// membership an action of the plan revokes.
func (r *resolver) resolveNotes() {
	for i := range r.notes {
		n := &r.notes[i]
		if !n.Open {
			continue
		}
		if a, ok := r.byKey[ActRevoke+"\x1f"+n.direct[0]+"\x1f"+n.direct[1]]; ok {
			n.Open = false
			n.Msg = fmt.Sprintf("inherited; covered by action %d, which removes %s from %s", a.Seq, a.Subject.Name, a.Group.Name)
		}
	}
}

func (r *resolver) planDecision(d Decision) {
	v := r.newest
	a := &Action{Kind: d.Action, Sources: []Source{d.Source}, Approver: d.Approver, Ticket: d.Ticket, Reason: d.Reason}
	if d.License != "" {
		lvl, _ := parseLicense(d.License)
		a.License = lvl.AccountLicenseType
	}
	switch d.Action {
	case ActAddAccount:
		a.Subject = Subject{Name: d.Subject, Principal: d.Subject}
		if ds := v.lookup(d.Subject); len(ds) == 1 && v.accounts[ds[0]] != nil {
			a.Subject = subjectOf(v.accounts[ds[0]])
		} else if !strings.Contains(d.Subject, "@") {
			r.ps.add(d.Source, "add-account needs the new account's principal name or mail (user@domain), got %s", clip(d.Subject))
			return
		}
		for _, t := range strings.Split(d.Target, ";") {
			if t = strings.TrimSpace(t); t == "" {
				continue
			}
			g := r.group(d.Source, t)
			if g == nil {
				continue
			}
			gt := projectGroupTypes[g.display]
			if g.scopeID == "" || gt == "" {
				r.ps.add(d.Source, "add-account puts an account in a project's Readers, Contributors or Project Administrators, not %s: grant other groups once the account exists", g.name())
				continue
			}
			ref := groupRef(g)
			ref.GroupType = gt
			a.Groups = append(a.Groups, *ref)
		}
	case ActSetLicense, ActRemoveAccount:
		acc := r.account(d.Source, d.Subject)
		if acc == nil {
			return
		}
		a.Subject = subjectOf(acc)
	case ActRevokePAT, ActRemoveRole, ActClosePipelines:
		if !r.pipePlanDecision(d, a) {
			return
		}
	case ActGrant, ActRevoke:
		s := r.subject(d.Source, d.Subject)
		g := r.group(d.Source, d.Target)
		if s == nil || g == nil {
			return
		}
		if s.Descriptor == g.descriptor {
			r.ps.add(d.Source, "a group cannot be a member of itself")
			return
		}
		a.Subject, a.Group = *s, groupRef(g)
	}
	if prev, ok := r.byKey[a.key()]; ok {
		r.ps.add(d.Source, "the same %s as %s", a.Kind, prev.Sources[0])
		return
	}
	if a.Kind == ActGrant || a.Kind == ActRevoke {
		other := ActRevoke
		if a.Kind == ActRevoke {
			other = ActGrant
		}
		if prev, ok := r.byKey[other+"\x1f"+a.Subject.Descriptor+"\x1f"+a.Group.Descriptor]; ok {
			r.ps.add(d.Source, "%s contradicts %s, which %ss the same membership", a.Kind, prev.Sources[0], prev.Kind)
			return
		}
	}
	r.add(a)
}

// projectGroupTypes are the project groups an account can be added to
// with its access level, and their entitlement group types.
var projectGroupTypes = map[string]string{
	"Readers":                "projectReader",
	"Contributors":           "projectContributor",
	"Project Administrators": "projectAdministrator",
}

// account finds one account of the newest run by descriptor, principal name or mail.
func (r *resolver) account(src Source, name string) *account {
	var found []*account
	for _, d := range r.newest.lookup(name) {
		if a := r.newest.accounts[d]; a != nil {
			found = append(found, a)
		}
	}
	switch len(found) {
	case 0:
		r.ps.add(src, "unknown account %s: not in the newest snapshot (run %d)", clip(name), r.newest.run)
		return nil
	case 1:
		return found[0]
	}
	r.ps.add(src, "%s names %d accounts: use the descriptor", clip(name), len(found))
	return nil
}

// subject finds the member of a grant or revoke: an account or a group.
func (r *resolver) subject(src Source, name string) *Subject {
	ds := r.newest.lookup(name)
	switch {
	case len(ds) == 0:
		r.ps.add(src, "unknown subject %s: no account or group of the newest snapshot (run %d) has that descriptor or name", clip(name), r.newest.run)
		return nil
	case len(ds) > 1:
		r.ps.add(src, "%s names %d subjects: use the descriptor", clip(name), len(ds))
		return nil
	}
	if a := r.newest.accounts[ds[0]]; a != nil {
		s := subjectOf(a)
		return &s
	}
	g := r.newest.groups[ds[0]]
	return &Subject{Descriptor: g.descriptor, Name: g.name(), Principal: g.principal, OriginID: g.originID, Kind: "group"}
}

// group finds a group of the newest run by descriptor or principal name
// ([Project]\Group, [org]\Group).
func (r *resolver) group(src Source, name string) *group {
	for _, d := range r.newest.lookup(name) {
		if g := r.newest.groups[d]; g != nil {
			return g
		}
	}
	hint := ""
	if !strings.HasPrefix(name, "[") && !strings.Contains(name, ".") {
		hint = fmt.Sprintf(` (name a group with its scope: [Project]\%s, or [%s]\%s at organization level)`, name, r.orgName, name)
	}
	r.ps.add(src, "unknown group %s%s", clip(name), hint)
	return nil
}

func subjectOf(a *account) Subject {
	return Subject{Descriptor: a.descriptor, Name: a.name(), Principal: a.principal, OriginID: a.originID, Kind: a.kind, Origin: a.origin}
}

func groupRef(g *group) *Group {
	return &Group{Descriptor: g.descriptor, Name: g.name(), OriginID: g.originID, ProjectID: g.scopeID, Entra: g.entra || g.subjectType == "aadgp"}
}

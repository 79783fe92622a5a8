package adosim

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// SetAccessControlEntries sets entries on a token. With merge an entry's
// bits are merged into the current entry (an incoming allow clears the
// same deny bit and the reverse); without, it replaces the entry. Each
// entry that changes writes a Security.ModifyPermission audit entry with
// the data keys of the service's event (NamespaceId, NamespaceName, Token,
// SubjectDescriptor, ChangedPermission, PermissionModifiedTo, EventSummary).
// Callers hold the write lock.
func (o *Org) SetAccessControlEntries(actor *Subject, ns *securityNamespace, token string, merge bool, entries []aceInput) ([]ace, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: the token is required", errInvalid)
	}
	for _, e := range entries {
		if !strings.Contains(e.Descriptor, ";") {
			return nil, fmt.Errorf("%w: %q is not an identity descriptor (type;identifier); use the identity's legacy descriptor from the Identities API", errInvalid, e.Descriptor)
		}
	}
	v := o.aclView(ns)
	now := o.clock.Now()
	out := make([]ace, 0, len(entries))
	for _, e := range entries {
		oldAllow, oldDeny := v.explicit(token, e.Descriptor)
		next := ace{token: token, descriptor: e.Descriptor, allow: e.Allow, deny: e.Deny}
		if merge {
			next.allow = oldAllow&^e.Deny | e.Allow
			next.deny = oldDeny&^e.Allow | e.Deny
		}
		o.storeACE(ns, next)
		v.put(next)
		out = append(out, next)
		if next.allow == oldAllow && next.deny == oldDeny {
			continue
		}
		o.auditPermission(now, actor, ns, token, e.Descriptor, oldAllow, oldDeny, next.allow, next.deny)
	}
	return out, nil
}

// RemoveAccessControlEntries removes the entries of descriptors from a
// token and reports whether any existed; removing any writes one
// Security.RemovePermission audit entry (data NamespaceId, NamespaceName,
// Token, Identities). Callers hold the write lock.
func (o *Org) RemoveAccessControlEntries(actor *Subject, ns *securityNamespace, token string, descriptors []string) (bool, error) {
	if token == "" || len(descriptors) == 0 {
		return false, fmt.Errorf("%w: token and descriptors are required", errInvalid)
	}
	v := o.aclView(ns)
	var removed, names []string
	for _, d := range descriptors {
		if a, dn := v.explicit(token, d); a == 0 && dn == 0 {
			continue
		}
		o.storeACE(ns, ace{token: token, descriptor: d, removed: true})
		removed = append(removed, d)
		names = append(names, o.identityName(d))
	}
	if len(removed) == 0 {
		return false, nil
	}
	o.record(o.clock.Now(), actor, "Security.RemovePermission",
		fmt.Sprintf("All permissions were removed for %s on namespace %s and token %s.", strings.Join(names, ", "), ns.name, token),
		o.projectInToken(token), map[string]any{"NamespaceId": ns.id, "NamespaceName": ns.name, "Token": token, "Identities": removed})
	return true, nil
}

// storeACE records a change, replacing an earlier change of the same entry.
func (o *Org) storeACE(ns *securityNamespace, e ace) {
	k := aclKey{ns.id, strings.ToLower(e.token)}
	list := o.aces[k]
	if i := slices.IndexFunc(list, func(x ace) bool { return strings.EqualFold(x.descriptor, e.descriptor) }); i >= 0 {
		list[i] = e
		return
	}
	o.aces[k] = append(list, e)
}

// auditPermission writes the Security.ModifyPermission entry of one
// changed entry: the bits newly allowed, newly denied and no longer set.
func (o *Org) auditPermission(at time.Time, actor *Subject, ns *securityNamespace, token, descriptor string, oldAllow, oldDeny, allow, deny int) {
	name := o.identityName(descriptor)
	var summary []map[string]any
	for _, ch := range []struct {
		mask int
		to   string
	}{
		{allow &^ oldAllow, "Allow"},
		{deny &^ oldDeny, "Deny"},
		{(oldAllow | oldDeny) &^ (allow | deny), "Not set"},
	} {
		if ch.mask != 0 {
			summary = append(summary, map[string]any{"permissionNames": ns.names(ch.mask), "change": ch.to, "subjectDisplayName": name})
		}
	}
	first := summary[0]
	o.record(at, actor, "Security.ModifyPermission",
		fmt.Sprintf(`Permission "%s\%s" was set to %s for %s.`, ns.name, first["permissionNames"], first["change"], name),
		o.projectInToken(token), map[string]any{
			"NamespaceId": ns.id, "NamespaceName": ns.name, "Token": token,
			"SubjectDescriptor": descriptor, "SubjectDisplayName": name,
			"ChangedPermission": first["permissionNames"], "PermissionModifiedTo": first["change"],
			"EventSummary": summary,
		})
}

// identityName is how the audit log names an identity: its principal name
// for groups ("[project]\Contributors"), its display name otherwise, the
// descriptor itself when unknown.
func (o *Org) identityName(descriptor string) string {
	s := o.byLegacy[descriptor]
	switch {
	case s == nil:
		return descriptor
	case s.IsGroup():
		return s.PrincipalName
	}
	return s.DisplayName
}

// projectInToken finds the project a token belongs to, for the audit
// entry's project fields.
func (o *Org) projectInToken(token string) *Project {
	for _, part := range strings.FieldsFunc(token, func(r rune) bool { return r == '/' || r == '\\' || r == ':' }) {
		if p := o.projectByID[strings.ToLower(part)]; p != nil {
			return p
		}
	}
	return nil
}

// inheritFlag is an ACL's inheritPermissions as the API last set it.
type inheritFlag struct {
	token string // as the caller wrote it
	on    bool
}

// aclInput is one list of a SetAccessControlLists request.
type aclInput struct {
	Token              string              `json:"token"`
	InheritPermissions *bool               `json:"inheritPermissions"`
	AcesDictionary     map[string]aceInput `json:"acesDictionary"`
}

// SetAccessControlLists replaces whole ACLs: each list's entries become the
// token's only entries, and its inheritPermissions is set (true when not
// given). Each list that changes writes one Security.ModifyAccessControlLists
// audit entry (data NamespaceId, NamespaceName, Token, InheritPermissions).
// Callers hold the write lock.
func (o *Org) SetAccessControlLists(actor *Subject, ns *securityNamespace, lists []aclInput) error {
	for _, l := range lists {
		if l.Token == "" {
			return fmt.Errorf("%w: every access control list needs a token", errInvalid)
		}
		for d := range l.AcesDictionary {
			if !strings.Contains(d, ";") {
				return fmt.Errorf("%w: %q is not an identity descriptor (type;identifier)", errInvalid, d)
			}
		}
	}
	for _, l := range lists {
		v := o.aclView(ns)
		inherit := l.InheritPermissions == nil || *l.InheritPermissions
		changed := o.setInherit(v, ns, l.Token, inherit)
		keep := map[string]bool{}
		for d, e := range l.AcesDictionary {
			keep[strings.ToLower(d)] = true
			if a, dn := v.explicit(l.Token, d); a != e.Allow || dn != e.Deny {
				o.storeACE(ns, ace{token: l.Token, descriptor: d, allow: e.Allow, deny: e.Deny})
				changed = true
			}
		}
		if a := v.acls[strings.ToLower(l.Token)]; a != nil {
			for _, e := range a.aces {
				if !keep[strings.ToLower(e.descriptor)] {
					o.storeACE(ns, ace{token: l.Token, descriptor: e.descriptor, removed: true})
					changed = true
				}
			}
		}
		if changed {
			o.record(o.clock.Now(), actor, "Security.ModifyAccessControlLists",
				fmt.Sprintf("The access control list of token %s in namespace %s was set (inheritance %s).", l.Token, ns.name, onOff(inherit)),
				o.projectInToken(l.Token), map[string]any{"NamespaceId": ns.id, "NamespaceName": ns.name, "Token": l.Token, "InheritPermissions": inherit})
		}
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// setInherit records a token's inheritPermissions and reports whether it
// changed.
func (o *Org) setInherit(v *aclView, ns *securityNamespace, token string, on bool) bool {
	was := true
	if a := v.acls[strings.ToLower(token)]; a != nil {
		was = a.inherit
	}
	if was == on {
		return false
	}
	o.inherit[aclKey{ns.id, strings.ToLower(token)}] = inheritFlag{token: token, on: on}
	return true
}

// RemoveAccessControlLists removes the ACLs of tokens (and with recurse,
// of the tokens below them): every entry and the inheritance setting. It
// reports whether any existed; removing any writes one
// Security.RemoveAccessControlLists audit entry (data NamespaceId,
// NamespaceName, Tokens). Callers hold the write lock.
func (o *Org) RemoveAccessControlLists(actor *Subject, ns *securityNamespace, tokens []string, recurse bool) (bool, error) {
	if len(tokens) == 0 {
		return false, fmt.Errorf("%w: tokens are required", errInvalid)
	}
	v := o.aclView(ns)
	var removed []string
	for _, t := range tokens {
		all := []string{t}
		if recurse {
			all = append(all, v.descendants(t)...)
		}
		for _, tok := range all {
			a := v.acls[strings.ToLower(tok)]
			if a == nil || (len(a.aces) == 0 && a.inherit) {
				continue
			}
			for _, e := range a.aces {
				o.storeACE(ns, ace{token: a.token, descriptor: e.descriptor, removed: true})
			}
			if !a.inherit {
				o.inherit[aclKey{ns.id, strings.ToLower(tok)}] = inheritFlag{token: a.token, on: true}
			}
			removed = append(removed, a.token)
		}
	}
	if len(removed) == 0 {
		return false, nil
	}
	o.record(o.clock.Now(), actor, "Security.RemoveAccessControlLists",
		fmt.Sprintf("All access control lists were removed on namespace %s on token(s) %s", ns.name, strings.Join(removed, ", ")),
		o.projectInToken(removed[0]), map[string]any{"NamespaceId": ns.id, "NamespaceName": ns.name, "Tokens": removed})
	return true, nil
}

// ResetPermission clears bits of one identity's entry on a token (allow
// and deny alike: they become "not set"), as DELETE _apis/permissions
// does, and answers the entry as it is now. A change writes one
// Security.ResetPermission audit entry (data NamespaceId, NamespaceName,
// Token, SubjectDescriptor, ChangedPermission). Callers hold the write lock.
func (o *Org) ResetPermission(actor *Subject, ns *securityNamespace, token, descriptor string, bits int) (ace, error) {
	if token == "" || !strings.Contains(descriptor, ";") {
		return ace{}, fmt.Errorf("%w: a token and an identity descriptor (type;identifier) are required", errInvalid)
	}
	v := o.aclView(ns)
	allow, deny := v.explicit(token, descriptor)
	next := ace{token: token, descriptor: descriptor, allow: allow &^ bits, deny: deny &^ bits}
	cleared := (allow | deny) & bits
	if cleared == 0 {
		return next, nil
	}
	o.storeACE(ns, next)
	name := o.identityName(descriptor)
	o.record(o.clock.Now(), actor, "Security.ResetPermission",
		fmt.Sprintf("All permissions for the namespace %s on %s were reset back to default", ns.name, name),
		o.projectInToken(token), map[string]any{"NamespaceId": ns.id, "NamespaceName": ns.name, "Token": token,
			"SubjectDescriptor": descriptor, "SubjectDisplayName": name, "ChangedPermission": ns.names(cleared)})
	return next, nil
}

// dropACLs forgets what the API set on the tokens of a deleted project or
// repository: the service deletes their ACLs with them. Callers hold the
// write lock.
func (o *Org) dropACLs(gone func(token string) bool) {
	for k, list := range o.aces {
		if len(list) > 0 && gone(list[0].token) {
			delete(o.aces, k)
		}
	}
	for k, f := range o.inherit {
		if gone(f.token) {
			delete(o.inherit, k)
		}
	}
}

// tokenUnder reports whether token names id (a project or repository) as
// one of its parts.
func tokenUnder(token, id string) bool {
	for _, part := range strings.FieldsFunc(token, func(r rune) bool { return r == '/' || r == '\\' || r == ':' }) {
		if strings.EqualFold(part, id) {
			return true
		}
	}
	return false
}

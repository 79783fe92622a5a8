package adosim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The service's own evaluation of permissions (GET _apis/permissions, POST
// _apis/security/permissionevaluationbatch), for the caller. It is written
// here independently of how the product computes effective permissions, so
// that tests can hold one against the other:
//
//   - the caller's identities are the caller and every group it belongs to,
//     directly or through nested groups;
//   - for each bit, the walk goes from the token up its hierarchy and stops
//     at the first ACL where one of those identities has the bit allowed or
//     denied: the most specific explicit setting decides;
//   - at that ACL, a deny for any of the identities beats allows for others;
//   - an ACL whose inheritPermissions is off ends the walk: nothing above it
//     counts;
//   - a bit set nowhere on the walk is not allowed.

// evaluate returns the bits a set of identities (lower-cased legacy
// descriptors) is allowed and denied on a token.
func (v *aclView) evaluate(token string, ids map[string]bool) (allow, deny int) {
	undecided := -1
	for t, ok := token, true; ok && undecided != 0; t, ok = v.parent(t) {
		a := v.acls[strings.ToLower(t)]
		if a == nil {
			continue
		}
		var al, de int
		for _, e := range a.aces {
			if ids[strings.ToLower(e.descriptor)] {
				al, de = al|e.allow, de|e.deny
			}
		}
		deny |= de & undecided
		allow |= al &^ de & undecided
		undecided &^= al | de
		if !a.inherit {
			break
		}
	}
	return allow, deny
}

// identitiesOf is a subject's legacy descriptor with those of every group
// it belongs to, transitively, lower-cased.
func (o *Org) identitiesOf(s *Subject) map[string]bool {
	out := map[string]bool{strings.ToLower(s.Legacy): true}
	for _, g := range o.expand(s, false) {
		out[strings.ToLower(g.Legacy)] = true
	}
	return out
}

// Allowed evaluates, as the service does for a caller, whether subject (a
// descriptor) holds every bit of perms on a token of a namespace.
func (s *Server) Allowed(subject, namespace, token string, perms int) (bool, error) {
	o := s.org
	o.mu.RLock()
	defer o.mu.RUnlock()
	sub := o.byDescriptor[subject]
	ns := namespaceByID(namespace)
	if sub == nil || ns == nil {
		return false, errNotFound
	}
	a, d := o.aclView(ns).evaluate(token, o.identitiesOf(sub))
	return perms&a == perms && perms&d == 0, nil
}

// caller is who a request acts as: the credential's subject, or the
// organization's administrator for the default credentials.
func (c *call) caller() *Subject {
	if c.cred != nil && c.cred.Subject != "" {
		if s := c.o.byDescriptor[c.cred.Subject]; s != nil {
			return s
		}
	}
	return c.o.admin
}

// permissionChecker answers permission checks for the caller of one
// request. Callers hold the read lock.
type permissionChecker struct {
	o       *Org
	ids     map[string]bool
	isAdmin bool
	views   map[*securityNamespace]*aclView
}

func (c *call) permissionChecker() *permissionChecker {
	o := c.o
	pc := &permissionChecker{o: o, ids: map[string]bool{}, views: map[*securityNamespace]*aclView{}}
	if who := c.caller(); who != nil && !who.Deleted {
		pc.ids = o.identitiesOf(who)
		pc.isAdmin = o.pca != nil && pc.ids[strings.ToLower(o.pca.Legacy)]
	}
	return pc
}

func (pc *permissionChecker) check(ns *securityNamespace, token string, perms int, alwaysAdmin bool) bool {
	if alwaysAdmin && pc.isAdmin {
		return true
	}
	v := pc.views[ns]
	if v == nil {
		v = pc.o.aclView(ns)
		pc.views[ns] = v
	}
	a, d := v.evaluate(token, pc.ids)
	return perms&a == perms && perms&d == 0
}

// hasPermissions answers one boolean per token for the caller.
func (s *Server) hasPermissions(c *call) {
	ns := c.namespace()
	if ns == nil {
		return
	}
	perms, err := strconv.Atoi(c.param("permissions"))
	if err != nil || perms < 0 {
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "permissions must be a non-negative number, got "+c.param("permissions"))
		return
	}
	delim := c.query("delimiter")
	if delim == "" {
		delim = ","
	}
	tokens := []string{c.query("token")}
	if v := c.query("tokens"); v != "" {
		tokens = strings.Split(v, delim)
	}
	c.o.mu.RLock()
	defer c.o.mu.RUnlock()
	pc := c.permissionChecker()
	alwaysAdmin := c.boolQuery("alwaysAllowAdministrators")
	items := make([][]byte, len(tokens))
	for i, t := range tokens {
		items[i] = []byte(strconv.FormatBool(pc.check(ns, t, perms, alwaysAdmin)))
	}
	writeList(c.w, items)
}

// hasPermissionsBatch answers PermissionEvaluationBatch: the evaluations
// with their value filled in.
func (s *Server) hasPermissionsBatch(c *call) {
	var body struct {
		AlwaysAllowAdministrators bool `json:"alwaysAllowAdministrators"`
		Evaluations               []struct {
			SecurityNamespaceID string `json:"securityNamespaceId"`
			Token               string `json:"token"`
			Permissions         int    `json:"permissions"`
		} `json:"evaluations"`
	}
	if !c.decode(&body) {
		return
	}
	c.o.mu.RLock()
	defer c.o.mu.RUnlock()
	pc := c.permissionChecker()
	out := make([]map[string]any, 0, len(body.Evaluations))
	for _, e := range body.Evaluations {
		ns := namespaceByID(e.SecurityNamespaceID)
		if ns == nil {
			writeError(c.w, http.StatusNotFound, "InvalidSecurityNamespaceException", "The security namespace "+e.SecurityNamespaceID+" does not exist.")
			return
		}
		out = append(out, map[string]any{"securityNamespaceId": ns.id, "token": e.Token, "permissions": e.Permissions,
			"value": pc.check(ns, e.Token, e.Permissions, body.AlwaysAllowAdministrators)})
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"alwaysAllowAdministrators": body.AlwaysAllowAdministrators, "evaluations": out})
}

// removePermission clears bits of one identity's entry (DELETE
// _apis/permissions/{ns}/{permissions}?descriptor=&token=) and answers the
// entry.
func (s *Server) removePermission(c *call) {
	ns := c.namespace()
	if ns == nil {
		return
	}
	perms, err := strconv.Atoi(c.param("permissions"))
	if err != nil || perms < 0 {
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "permissions must be a non-negative number, got "+c.param("permissions"))
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	e, err := o.ResetPermission(c.caller(), ns, c.query("token"), c.query("descriptor"), perms)
	if err != nil {
		c.fail(err)
		return
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"descriptor": e.descriptor, "allow": e.allow, "deny": e.deny})
}

// setAccessControlLists replaces whole ACLs; the service answers 204.
func (s *Server) setAccessControlLists(c *call) {
	ns := c.namespace()
	if ns == nil {
		return
	}
	var body struct {
		Value []aclInput `json:"value"`
	}
	if !c.decode(&body) {
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.SetAccessControlLists(c.caller(), ns, body.Value); err != nil {
		c.fail(err)
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// removeAccessControlLists answers whether any ACL was removed.
func (s *Server) removeAccessControlLists(c *call) {
	ns := c.namespace()
	if ns == nil {
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	removed, err := o.RemoveAccessControlLists(c.caller(), ns, splitList(c.query("tokens")), c.boolQuery("recurse"))
	if err != nil {
		c.fail(err)
		return
	}
	writeJSON(c.w, http.StatusOK, removed)
}

// ActAs issues a read-write PAT whose caller is subject (a descriptor), so
// that permission checks answer for that subject, as the service answers
// for the owner of a PAT. It returns the token.
func (s *Server) ActAs(subject string) string {
	c := &Credential{Name: "as " + subject, Token: randomToken(32), Scopes: slices.Clone(writeScopes), Subject: subject}
	s.credMu.Lock()
	defer s.credMu.Unlock()
	s.creds[c.Token] = c
	return c.Token
}

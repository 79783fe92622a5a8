package adosim

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// Identities (IMS), on vssps: the legacy identity service the Security APIs
// speak. It resolves identities by legacy descriptor, storage key, subject
// descriptor or search, and can add their direct or expanded memberships,
// naming members by legacy descriptor.
//
// Why the product must not trust this path for Entra groups: for a
// Microsoft Entra group (aadgp) the service answers the direct members with
// only the members Azure DevOps has seen sign in, and at most the first 99
// of them (vsts-rest-api-specs issue #459; ADO-API.md §4). The simulator
// reproduces both, so a collector that reads Entra group members here loses
// people silently, as it would against the service:
//
//   - users and service principals count once they have signed in (a
//     non-zero Ent.LastAccessed); a nested group always counts, since a
//     group never signs in and is known once it is materialized;
//   - of those, the first 99 in membership order are listed.
//
// The same truncated view applies to memberOf (a user cut from an Entra
// group's list does not list the group either) and to expansion through
// Entra groups. Azure DevOps groups (vssgp) answer completely.
//
// Answers list identities in request order with null for an unknown or
// removed one: the IMS contract is one result per input, null when it does
// not resolve ("Identities, corresponding 1 to 1 with the input descriptor
// array", IIdentityManagementService.ReadIdentities, and "when there is no
// match, null", ReadIdentity).

const (
	// imsEntraMemberCap is how many members of an Entra group IMS lists
	// (vsts-rest-api-specs #459).
	imsEntraMemberCap = 99
	// imsMaxBatch is the largest number of identities one request may ask
	// for. Not documented: "TF400049 … maximum allowed is 500" is reported
	// for a related identity path, so the simulator applies it here.
	imsMaxBatch = 500
)

func (s *Server) identityRoutes() []*route {
	const r = "vso.identity"
	h := hostVSSPS
	return []*route{
		newRoute(h, http.MethodGet, "_apis/identities", "ims.identities.read", r, s.readIdentities),
		newRoute(h, http.MethodGet, "_apis/identities/{identityId}", "ims.identities.get", r, s.readIdentity),
		newRoute(h, http.MethodPost, "_apis/identitybatch", "ims.identitybatch", r, s.readIdentityBatch),
	}
}

// membership is a parsed queryMembership.
type membership uint8

const (
	membershipNone membership = iota
	membershipDirect
	membershipExpanded
	membershipExpandedUp
	membershipExpandedDown
)

func parseMembership(v string) (membership, error) {
	switch strings.ToLower(v) {
	case "", "none":
		return membershipNone, nil
	case "direct":
		return membershipDirect, nil
	case "expanded":
		return membershipExpanded, nil
	case "expandedup":
		return membershipExpandedUp, nil
	case "expandeddown":
		return membershipExpandedDown, nil
	}
	return 0, fmt.Errorf("the value %q is not valid for queryMembership: use None, Direct, Expanded, ExpandedUp or ExpandedDown", v)
}

// identityKeys is what one request asks to resolve: exactly one kind of key.
type identityKeys struct {
	kind string // descriptors, identityIds or subjectDescriptors
	keys []string
}

// identityKeysOf picks the one non-empty key list, or explains the misuse.
func identityKeysOf(descriptors, identityIDs, subjectDescriptors []string) (identityKeys, error) {
	var found []identityKeys
	for _, k := range []identityKeys{{"descriptors", descriptors}, {"identityIds", identityIDs}, {"subjectDescriptors", subjectDescriptors}} {
		if len(k.keys) > 0 {
			found = append(found, k)
		}
	}
	switch {
	case len(found) == 0:
		return identityKeys{}, fmt.Errorf("specify descriptors, identityIds, subjectDescriptors, or searchFilter with filterValue")
	case len(found) > 1:
		return identityKeys{}, fmt.Errorf("specify only one of descriptors, identityIds and subjectDescriptors, not %s and %s", found[0].kind, found[1].kind)
	case len(found[0].keys) > imsMaxBatch:
		return identityKeys{}, fmt.Errorf("TF400049: The request asks for %d identities, but the maximum allowed is %d.", len(found[0].keys), imsMaxBatch)
	}
	return found[0], nil
}

// splitList splits a comma-separated query value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// resolve looks each key up; unknown and removed identities are nil. A
// malformed storage key is the caller's error, as on the service.
func (o *Org) resolveIdentities(k identityKeys) ([]*Subject, error) {
	out := make([]*Subject, len(k.keys))
	for i, key := range k.keys {
		var sub *Subject
		switch k.kind {
		case "descriptors":
			sub = o.byLegacy[key]
		case "identityIds":
			id, err := uuid.Parse(key)
			if err != nil {
				return nil, fmt.Errorf("identityIds: %q is not a GUID", key)
			}
			sub = o.byID[id.String()]
		case "subjectDescriptors":
			sub = o.byDescriptor[key]
		}
		if sub != nil && !sub.Deleted {
			out[i] = sub
		}
	}
	return out, nil
}

// searchIdentities answers searchFilter/filterValue: exact, case-insensitive
// matches in creation order.
func (o *Org) searchIdentities(filter, value string) ([]*Subject, error) {
	var match func(*Subject) bool
	eq := func(a string) bool { return a != "" && strings.EqualFold(a, value) }
	switch strings.ToLower(filter) {
	case "general":
		match = func(s *Subject) bool {
			return eq(s.DisplayName) || eq(s.PrincipalName) || eq(s.Mail) || eq(imsAccount(s))
		}
	case "accountname":
		match = func(s *Subject) bool { return eq(s.PrincipalName) || eq(imsAccount(s)) }
	case "displayname":
		match = func(s *Subject) bool { return eq(s.DisplayName) }
	case "mailaddress":
		match = func(s *Subject) bool { return eq(s.Mail) }
	case "localgroupname":
		match = func(s *Subject) bool { return s.Type == "vssgp" && (eq(s.DisplayName) || eq(s.PrincipalName)) }
	default:
		return nil, fmt.Errorf("the value %q is not valid for searchFilter: use General, AccountName, DisplayName, MailAddress or LocalGroupName", filter)
	}
	if value == "" {
		return nil, fmt.Errorf("searchFilter %s needs a filterValue", filter)
	}
	var out []*Subject
	for _, s := range o.subjects {
		if !s.Deleted && match(s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (s *Server) readIdentities(c *call) {
	m, err := parseMembership(c.query("queryMembership"))
	if err != nil {
		c.fail(err)
		return
	}
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	var subs []*Subject
	if filter := c.query("searchFilter"); filter != "" {
		subs, err = o.searchIdentities(filter, c.query("filterValue"))
	} else {
		var k identityKeys
		k, err = identityKeysOf(splitList(c.query("descriptors")), splitList(c.query("identityIds")), splitList(c.query("subjectDescriptors")))
		if err == nil {
			subs, err = o.resolveIdentities(k)
		}
	}
	if err != nil {
		c.fail(err)
		return
	}
	s.writeIdentities(c, subs, m)
}

// readIdentity answers one identity by storage key. Unlike the list calls,
// an unknown id is a 404 (unverified: the service's answer is not
// documented).
func (s *Server) readIdentity(c *call) {
	m, err := parseMembership(c.query("queryMembership"))
	if err != nil {
		c.fail(err)
		return
	}
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	subs, err := o.resolveIdentities(identityKeys{"identityIds", []string{c.param("identityId")}})
	if err != nil {
		c.fail(err)
		return
	}
	if subs[0] == nil {
		writeError(c.w, http.StatusNotFound, "IdentityNotFoundException", "TF14045: The identity with identifier "+c.param("identityId")+" could not be found.")
		return
	}
	writeJSON(c.w, http.StatusOK, c.o.identityJSON(subs[0], m))
}

// readIdentityBatch is ReadIdentities with the keys in the body
// (identity.IdentityBatchInfo), which avoids URL length limits.
func (s *Server) readIdentityBatch(c *call) {
	var body struct {
		Descriptors        []string `json:"descriptors"`
		IdentityIDs        []string `json:"identityIds"`
		SubjectDescriptors []string `json:"subjectDescriptors"`
		QueryMembership    string   `json:"queryMembership"`
	}
	if !c.decode(&body) {
		return
	}
	m, err := parseMembership(body.QueryMembership)
	if err != nil {
		c.fail(err)
		return
	}
	k, err := identityKeysOf(body.Descriptors, body.IdentityIDs, body.SubjectDescriptors)
	if err != nil {
		c.fail(err)
		return
	}
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	subs, err := o.resolveIdentities(k)
	if err != nil {
		c.fail(err)
		return
	}
	s.writeIdentities(c, subs, m)
}

// writeIdentities writes the collection envelope, null for nil entries.
// Callers hold the read lock.
func (s *Server) writeIdentities(c *call, subs []*Subject, m membership) {
	items := make([][]byte, len(subs))
	for i, sub := range subs {
		if sub == nil {
			items[i] = []byte("null")
			continue
		}
		items[i] = mustJSON(c.o.identityJSON(sub, m))
	}
	writeList(c.w, items)
}

// imsMembers are a group's direct members as IMS reports them: complete for
// Azure DevOps groups, signed-in and capped for Entra groups (see the top
// of this file).
func (o *Org) imsMembers(g *Subject) []*Subject {
	ms := o.directMembers(g)
	if g.Type != "aadgp" {
		return ms
	}
	out := ms[:0] // directMembers returns a fresh slice
	for _, m := range ms {
		if !imsKnown(m) {
			continue
		}
		out = append(out, m)
		if len(out) == imsEntraMemberCap {
			break
		}
	}
	return out
}

// imsKnown reports whether IMS lists s among an Entra group's members.
func imsKnown(s *Subject) bool {
	return s.Kind == KindGroup || (s.Ent != nil && !s.Ent.LastAccessed.IsZero())
}

// imsContainers are the groups s is directly in, as IMS reports them.
func (o *Org) imsContainers(s *Subject) []*Subject {
	cs := o.directContainers(s)
	out := cs[:0]
	for _, g := range cs {
		if g.Type != "aadgp" || o.imsListed(g, s) {
			out = append(out, g)
		}
	}
	return out
}

// imsListed reports whether IMS lists m among the members of Entra group g.
func (o *Org) imsListed(g, m *Subject) bool {
	if !imsKnown(m) {
		return false
	}
	n := 0
	for _, seq := range o.members[g.seq] {
		x := o.subjects[seq]
		if x.Deleted || !imsKnown(x) {
			continue
		}
		if x == m {
			return true
		}
		if n++; n == imsEntraMemberCap {
			return false
		}
	}
	return false
}

// imsExpand walks IMS's view of memberships transitively, tolerating cycles.
func (o *Org) imsExpand(start *Subject, down bool) []*Subject {
	next := o.imsContainers
	if down {
		next = o.imsMembers
	}
	seen := map[*Subject]bool{start: true}
	queue := []*Subject{start}
	var out []*Subject
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, n := range next(cur) {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
				queue = append(queue, n)
			}
		}
	}
	return out
}

// imsIdentity is the wire shape of identity.Identity, fields in the order
// of the service's answers (ims/7.1/httpExamples/Identities).
type imsIdentity struct {
	ID                  string             `json:"id"`
	Descriptor          string             `json:"descriptor"`
	SubjectDescriptor   string             `json:"subjectDescriptor"`
	ProviderDisplayName string             `json:"providerDisplayName"`
	IsActive            bool               `json:"isActive"`
	IsContainer         bool               `json:"isContainer,omitempty"`
	Members             []string           `json:"members"`
	MemberOf            []string           `json:"memberOf"`
	MemberIDs           []string           `json:"memberIds"`
	Properties          map[string]imsProp `json:"properties"`
	ResourceVersion     int                `json:"resourceVersion"`
	MetaTypeID          int                `json:"metaTypeId"`
}

// imsProp is one entry of the property bag.
type imsProp struct {
	Type  string `json:"$type"`
	Value string `json:"$value"`
}

func imsString(v string) imsProp { return imsProp{"System.String", v} }
func imsGUID(v string) imsProp   { return imsProp{"System.Guid", v} }

// identityJSON renders a subject as IMS does. Callers hold the read lock.
func (o *Org) identityJSON(sub *Subject, m membership) imsIdentity {
	id := imsIdentity{
		ID:                  sub.ID,
		Descriptor:          sub.Legacy,
		SubjectDescriptor:   sub.Descriptor,
		ProviderDisplayName: sub.DisplayName,
		IsActive:            true, // removed identities answer null instead
		IsContainer:         sub.IsGroup(),
		Members:             []string{},
		MemberOf:            []string{},
		MemberIDs:           []string{},
		Properties:          o.imsProperties(sub),
		ResourceVersion:     2,
		MetaTypeID:          imsMetaType(sub),
	}
	if sub.IsGroup() {
		id.ProviderDisplayName = sub.PrincipalName // "[scope]\name", as in the examples
	}
	var members, containers []*Subject
	switch m {
	case membershipDirect:
		containers = o.imsContainers(sub)
		if sub.IsGroup() {
			members = o.imsMembers(sub)
		}
	case membershipExpanded:
		members, containers = o.imsExpand(sub, true), o.imsExpand(sub, false)
	case membershipExpandedUp:
		containers = o.imsExpand(sub, false)
	case membershipExpandedDown:
		members = o.imsExpand(sub, true)
	}
	for _, x := range members {
		id.Members = append(id.Members, x.Legacy)
		id.MemberIDs = append(id.MemberIDs, x.ID)
	}
	for _, x := range containers {
		id.MemberOf = append(id.MemberOf, x.Legacy)
	}
	return id
}

// imsMetaType is IdentityMetaType: Member 0, Guest 1, Application 4,
// ManagedIdentity 5, Unknown 255 (groups, as in the examples). The values
// for applications and managed identities are unverified.
func imsMetaType(s *Subject) int {
	switch {
	case s.IsGroup():
		return 255
	case s.MetaType == "guest":
		return 1
	case s.MetaType == "application":
		return 4
	case s.MetaType == "managedIdentity":
		return 5
	}
	return 0
}

// imsAccount is the Account property: the sign-in name of a user, the
// name of a group.
func imsAccount(s *Subject) string {
	if s.IsGroup() {
		return s.DisplayName
	}
	return s.PrincipalName
}

// imsProperties is the property bag, with the keys the service's examples
// show for users and groups.
func (o *Org) imsProperties(s *Subject) map[string]imsProp {
	p := map[string]imsProp{
		"Description": imsString(s.Description),
		"Domain":      imsString(s.Domain),
		"Account":     imsString(imsAccount(s)),
		"SpecialType": imsString("Generic"),
	}
	if s.Mail != "" {
		p["Mail"] = imsString(s.Mail)
	}
	if s.Origin == "aad" {
		p["http://schemas.microsoft.com/identity/claims/objectidentifier"] = imsString(s.OriginID)
	}
	if !s.IsGroup() {
		p["SchemaClassName"] = imsString("User")
		if s.DirectoryAlias != "" {
			p["DirectoryAlias"] = imsString(s.DirectoryAlias)
			p["Alias"] = imsString(s.DirectoryAlias)
		}
		return p
	}
	p["SchemaClassName"] = imsString("Group")
	p["SecurityGroup"] = imsString("SecurityGroup")
	switch s.DisplayName {
	case "Project Collection Valid Users", "Project Valid Users":
		p["SpecialType"] = imsString("EveryoneApplicationGroup")
	case "Project Collection Administrators", "Project Administrators":
		p["SpecialType"] = imsString("AdministrativeApplicationGroup")
	case "Project Collection Service Accounts":
		p["SpecialType"] = imsString("ServiceApplicationGroup")
	}
	if s.Type == "aadgp" {
		return p // Entra groups belong to no Azure DevOps scope
	}
	scopeID, scopeName, scopeType := o.ID, o.Name, "ServiceHost"
	if pr := o.projectByID[s.ProjectID]; pr != nil {
		scopeID, scopeName, scopeType = pr.ID, pr.Name, "TeamProject"
	} else {
		p["GlobalScope"] = imsString("GlobalScope")
	}
	p["ScopeId"] = imsGUID(scopeID)
	p["LocalScopeId"] = imsGUID(scopeID)
	p["SecuringHostId"] = imsGUID(o.ID)
	p["ScopeName"] = imsString(scopeName)
	p["ScopeType"] = imsString(scopeType)
	return p
}

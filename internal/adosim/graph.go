package adosim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Graph: users, groups, service principals, memberships, descriptors and
// subject lookup, on vssps. Lists page 500 subjects at a time with the
// continuation token in the X-MS-ContinuationToken response header.

const graphPageSize = 500

func (s *Server) graphRoutes() []*route {
	const r, w = "vso.graph", "vso.graph_manage"
	h := hostVSSPS
	return []*route{
		newRoute(h, http.MethodGet, "_apis/graph/users", "graph.users.list", r, s.listUsers),
		newRoute(h, http.MethodGet, "_apis/graph/users/{d}", "graph.users.get", r, s.getSubjectOf(KindUser)),
		newRoute(h, http.MethodPost, "_apis/graph/users", "graph.users.create", w, s.createUser),
		newRoute(h, http.MethodDelete, "_apis/graph/users/{d}", "graph.users.delete", w, s.deleteUser),
		newRoute(h, http.MethodGet, "_apis/graph/groups", "graph.groups.list", r, s.listGroups),
		newRoute(h, http.MethodGet, "_apis/graph/groups/{d}", "graph.groups.get", r, s.getSubjectOf(KindGroup)),
		newRoute(h, http.MethodPost, "_apis/graph/groups", "graph.groups.create", w, s.createGroup),
		newRoute(h, http.MethodPatch, "_apis/graph/groups/{d}", "graph.groups.update", w, s.updateGroup),
		newRoute(h, http.MethodDelete, "_apis/graph/groups/{d}", "graph.groups.delete", w, s.deleteGroup),
		newRoute(h, http.MethodGet, "_apis/graph/serviceprincipals", "graph.serviceprincipals.list", r, s.listServicePrincipals),
		newRoute(h, http.MethodGet, "_apis/graph/serviceprincipals/{d}", "graph.serviceprincipals.get", r, s.getSubjectOf(KindServicePrincipal)),
		newRoute(h, http.MethodGet, "_apis/graph/memberships/{d}", "graph.memberships.list", r, s.listMemberships),
		newRoute(h, http.MethodGet, "_apis/graph/memberships/{d}/{c}", "graph.memberships.get", r, s.getMembership),
		newRoute(h, http.MethodHead, "_apis/graph/memberships/{d}/{c}", "graph.memberships.check", r, s.getMembership),
		newRoute(h, http.MethodPut, "_apis/graph/memberships/{d}/{c}", "graph.memberships.add", w, s.addMembership),
		newRoute(h, http.MethodDelete, "_apis/graph/memberships/{d}/{c}", "graph.memberships.remove", w, s.removeMembership),
		newRoute(h, http.MethodGet, "_apis/graph/membershipstates/{d}", "graph.membershipstates.get", r, s.membershipState),
		newRoute(h, http.MethodGet, "_apis/graph/descriptors/{key}", "graph.descriptors.get", r, s.getDescriptor),
		newRoute(h, http.MethodGet, "_apis/graph/storagekeys/{d}", "graph.storagekeys.get", r, s.getStorageKey),
		newRoute(h, http.MethodPost, "_apis/graph/subjectlookup", "graph.subjectlookup", r, s.lookupSubjects),
		newRoute(h, http.MethodPost, "_apis/graph/subjectquery", "graph.subjectquery", r, s.querySubjects),
	}
}

type link struct {
	Href string `json:"href"`
}

// graphSubject is the wire shape of GraphUser, GraphGroup and
// GraphServicePrincipal (the service sends the same fields in this order).
type graphSubject struct {
	SubjectKind       string          `json:"subjectKind"`
	Description       *string         `json:"description,omitempty"`
	IsCrossProject    bool            `json:"isCrossProject,omitempty"`
	MetaType          string          `json:"metaType,omitempty"`
	DirectoryAlias    string          `json:"directoryAlias,omitempty"`
	Domain            string          `json:"domain"`
	PrincipalName     string          `json:"principalName"`
	MailAddress       string          `json:"mailAddress"`
	ApplicationID     string          `json:"applicationId,omitempty"`
	Origin            string          `json:"origin"`
	OriginID          string          `json:"originId"`
	DisplayName       string          `json:"displayName"`
	IsDeletedInOrigin bool            `json:"isDeletedInOrigin,omitempty"`
	Links             map[string]link `json:"_links"`
	URL               string          `json:"url"`
	Descriptor        string          `json:"descriptor"`
}

// graphPath is the Graph resource segment of a subject kind.
func graphPath(k SubjectKind) string {
	switch k {
	case KindGroup:
		return "Groups"
	case KindServicePrincipal:
		return "ServicePrincipals"
	}
	return "Users"
}

// subjectJSON renders a subject the way Graph does. The bytes are cached on
// the subject until it changes: list pages are then mostly copies.
func (o *Org) subjectJSON(sub *Subject) []byte {
	if b := sub.json.Load(); b != nil {
		return *b
	}
	base := o.hostURL(hostVSSPS)
	self := base + "/_apis/Graph/" + graphPath(sub.Kind) + "/" + sub.Descriptor
	g := graphSubject{
		SubjectKind:       sub.Kind.String(),
		MetaType:          sub.MetaType,
		DirectoryAlias:    sub.DirectoryAlias,
		Domain:            sub.Domain,
		PrincipalName:     sub.PrincipalName,
		MailAddress:       sub.Mail,
		ApplicationID:     sub.ApplicationID,
		Origin:            sub.Origin,
		OriginID:          sub.OriginID,
		DisplayName:       sub.DisplayName,
		IsDeletedInOrigin: sub.DeletedOrigin,
		URL:               self,
		Descriptor:        sub.Descriptor,
		Links: map[string]link{
			"self":            {self},
			"memberships":     {base + "/_apis/Graph/Memberships/" + sub.Descriptor},
			"membershipState": {base + "/_apis/Graph/MembershipStates/" + sub.Descriptor},
			"storageKey":      {base + "/_apis/Graph/StorageKeys/" + sub.Descriptor},
		},
	}
	if sub.Kind == KindGroup {
		desc := sub.Description
		g.Description = &desc
		g.IsCrossProject = sub.Type == "aadgp" // as Microsoft's examples of Entra groups show it
	} else {
		g.Links["avatar"] = link{o.hostURL(hostOrg) + "/_apis/GraphProfile/MemberAvatars/" + sub.Descriptor}
	}
	b, _ := json.Marshal(g)
	sub.json.Store(&b)
	return b
}

// pageSubjects writes one page of the subjects that keep returns true for,
// resuming at the continuation token's position.
func (s *Server) pageSubjects(c *call, list string, keep func(*Subject) bool) {
	s.pageSubjectsIn(c, list, nil, keep)
}

// pageSubjectsIn pages over candidates (seqs in creation order, read under
// the lock), or over every subject when candidates is nil.
func (s *Server) pageSubjectsIn(c *call, list string, candidates func() []int32, keep func(*Subject) bool) {
	pos, ok := c.position(list, c.query("continuationToken"))
	if !ok {
		return
	}
	o := c.o
	o.mu.RLock()
	items := make([][]byte, 0, graphPageSize)
	next := -1
	visit := func(i int) bool {
		sub := o.subjects[i]
		if sub.Deleted || !keep(sub) {
			return true
		}
		if len(items) == graphPageSize {
			next = i
			return false
		}
		items = append(items, c.o.subjectJSON(sub))
		return true
	}
	if candidates == nil {
		for i := pos; i < len(o.subjects) && visit(i); i++ {
		}
	} else {
		seqs := candidates()
		start, _ := slices.BinarySearch(seqs, int32(pos))
		for _, seq := range seqs[start:] {
			if !visit(int(seq)) {
				break
			}
		}
	}
	o.mu.RUnlock()
	if next >= 0 {
		c.w.Header().Set("X-MS-ContinuationToken", s.token(list, next))
	}
	writeList(c.w, items)
}

// subjectTypes parses the subjectTypes filter ("aad,msa,svc").
func subjectTypes(v string) map[string]bool {
	if v == "" {
		return nil
	}
	set := map[string]bool{}
	for _, t := range strings.Split(v, ",") {
		set[strings.ToLower(strings.TrimSpace(t))] = true
	}
	return set
}

// scopeFilter resolves a scopeDescriptor to a predicate on groups, or
// writes a 404 and returns false.
func (c *call) scopeFilter() (func(*Subject) bool, bool) {
	sd := c.query("scopeDescriptor")
	if sd == "" {
		return func(*Subject) bool { return true }, true
	}
	typ, id, ok := descriptorPayload(sd)
	if !ok || typ != "scp" {
		writeError(c.w, http.StatusBadRequest, "InvalidSubjectTypeException", "The scope descriptor "+sd+" is not valid.")
		return nil, false
	}
	if id == c.o.ID {
		return func(s *Subject) bool { return s.ProjectID == "" }, true
	}
	c.o.mu.RLock()
	p := c.o.liveProject(id)
	c.o.mu.RUnlock()
	if p == nil {
		writeError(c.w, http.StatusNotFound, "ScopeNotFoundException", "VS860019: The scope "+sd+" could not be found.")
		return nil, false
	}
	return func(s *Subject) bool { return s.ProjectID == p.ID }, true
}

func (s *Server) listUsers(c *call) {
	types := subjectTypes(c.query("subjectTypes"))
	inScope := func(*Subject) bool { return true }
	if sd := c.query("scopeDescriptor"); sd != "" {
		groupIn, ok := c.scopeFilter()
		if !ok {
			return
		}
		// Users in a scope are the direct members of the scope's groups.
		members := map[int32]bool{}
		c.o.mu.RLock()
		for _, g := range c.o.subjects {
			if g.Kind == KindGroup && !g.Deleted && groupIn(g) {
				for _, m := range c.o.members[g.seq] {
					members[m] = true
				}
			}
		}
		c.o.mu.RUnlock()
		inScope = func(u *Subject) bool { return members[u.seq] }
	}
	s.pageSubjects(c, "users", func(sub *Subject) bool {
		return sub.Kind == KindUser && (types == nil || types[sub.Type]) && inScope(sub)
	})
}

func (s *Server) listGroups(c *call) {
	types := subjectTypes(c.query("subjectTypes"))
	inScope, ok := c.scopeFilter()
	if !ok {
		return
	}
	keep := func(sub *Subject) bool {
		return sub.Kind == KindGroup && (types == nil || types[sub.Type]) && inScope(sub)
	}
	// A project's groups are indexed: listing them need not walk every subject.
	if _, id, ok := descriptorPayload(c.query("scopeDescriptor")); ok && id != c.o.ID {
		s.pageSubjectsIn(c, "groups", func() []int32 { return c.o.byProject[id] }, keep)
		return
	}
	s.pageSubjects(c, "groups", keep)
}

func (s *Server) listServicePrincipals(c *call) {
	s.pageSubjects(c, "serviceprincipals", func(sub *Subject) bool { return sub.Kind == KindServicePrincipal })
}

// lookup finds a live subject by descriptor, or writes the service's 404.
func (c *call) lookup(descriptor string) *Subject {
	if sub := c.o.subject(descriptor); sub != nil {
		return sub
	}
	if _, _, ok := descriptorPayload(descriptor); !ok {
		writeError(c.w, http.StatusBadRequest, "InvalidSubjectTypeException", "VS860016: The descriptor "+descriptor+" is not a valid subject descriptor.")
		return nil
	}
	writeError(c.w, http.StatusNotFound, "GraphSubjectNotFoundException", "VS860003: The subject with descriptor "+descriptor+" could not be found.")
	return nil
}

func (s *Server) getSubjectOf(kind SubjectKind) func(*call) {
	return func(c *call) {
		c.o.mu.RLock()
		defer c.o.mu.RUnlock()
		sub := c.lookup(c.param("d"))
		if sub == nil {
			return
		}
		if sub.Kind != kind {
			writeError(c.w, http.StatusNotFound, "GraphSubjectNotFoundException", "VS860003: The subject with descriptor "+sub.Descriptor+" is not a "+kind.String()+".")
			return
		}
		writeRaw(c.w, http.StatusOK, c.o.subjectJSON(sub))
	}
}

// createUser materializes a user in the organization by origin id,
// principal name or mail address, optionally into groups.
func (s *Server) createUser(c *call) {
	var body struct {
		OriginID      string `json:"originId"`
		PrincipalName string `json:"principalName"`
		MailAddress   string `json:"mailAddress"`
	}
	if !c.decode(&body) {
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, sub := range o.subjects {
		if !sub.Deleted && sub.Kind == KindUser && ((body.OriginID != "" && sub.OriginID == body.OriginID) ||
			(body.PrincipalName != "" && strings.EqualFold(sub.PrincipalName, body.PrincipalName)) ||
			(body.MailAddress != "" && strings.EqualFold(sub.Mail, body.MailAddress))) {
			writeRaw(c.w, http.StatusCreated, c.o.subjectJSON(sub)) // already there: the service answers with it
			return
		}
	}
	login := body.PrincipalName
	if login == "" {
		login = body.MailAddress
	}
	if login == "" {
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "VS860015: A user needs an originId, principalName or mailAddress.")
		return
	}
	name, _, _ := strings.Cut(login, "@")
	u := o.AddUser(o.admin, userKind{Type: "aad"}, name, login, Entitlement{AccountLicenseType: "stakeholder", LicensingSource: "account", MsdnLicenseType: "none"})
	if body.OriginID != "" {
		delete(o.byOriginID, u.OriginID)
		u.OriginID = body.OriginID
		o.byOriginID[u.OriginID] = u
	}
	for _, gd := range strings.Split(c.query("groupDescriptors"), ",") {
		if g := o.subject(strings.TrimSpace(gd)); g != nil && g.IsGroup() {
			_ = o.AddMember(o.admin, g, u)
		}
	}
	writeRaw(c.w, http.StatusCreated, c.o.subjectJSON(u))
}

func (s *Server) deleteUser(c *call) {
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	u := c.lookup(c.param("d"))
	if u == nil {
		return
	}
	if err := o.RemoveUser(o.admin, u); err != nil {
		c.fail(err)
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// createGroup creates an Azure DevOps group in the scope given by
// scopeDescriptor (a project) or at organization level.
func (s *Server) createGroup(c *call) {
	var body struct {
		DisplayName string `json:"displayName"`
		Description string `json:"description"`
		OriginID    string `json:"originId"`
	}
	if !c.decode(&body) {
		return
	}
	o := c.o
	var p *Project
	if sd := c.query("scopeDescriptor"); sd != "" {
		_, id, _ := descriptorPayload(sd)
		o.mu.RLock()
		p = o.liveProject(id)
		o.mu.RUnlock()
		if p == nil && id != o.ID {
			writeError(c.w, http.StatusNotFound, "ScopeNotFoundException", "VS860019: The scope "+sd+" could not be found.")
			return
		}
	}
	if body.OriginID != "" {
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "Materializing Microsoft Entra groups by origin id is not supported by the simulator.")
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	g, err := o.CreateGroup(o.admin, p, body.DisplayName, body.Description)
	if err != nil {
		c.fail(err)
		return
	}
	for _, gd := range strings.Split(c.query("groupDescriptors"), ",") {
		if parent := o.subject(strings.TrimSpace(gd)); parent != nil && parent.IsGroup() {
			_ = o.AddMember(o.admin, parent, g)
		}
	}
	writeRaw(c.w, http.StatusCreated, c.o.subjectJSON(g))
}

// updateGroup applies a JSON patch to displayName and description.
func (s *Server) updateGroup(c *call) {
	var ops []struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value string `json:"value"`
	}
	if !c.decode(&ops) {
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	g := c.lookup(c.param("d"))
	if g == nil {
		return
	}
	var name, desc *string
	for _, op := range ops {
		v := op.Value
		switch strings.ToLower(strings.TrimPrefix(op.Path, "/")) {
		case "displayname":
			name = &v
		case "description":
			desc = &v
		default:
			writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "VS860020: The path "+op.Path+" cannot be updated.")
			return
		}
	}
	if err := o.UpdateGroup(o.admin, g, name, desc); err != nil {
		c.fail(err)
		return
	}
	writeRaw(c.w, http.StatusOK, c.o.subjectJSON(g))
}

func (s *Server) deleteGroup(c *call) {
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	g := c.lookup(c.param("d"))
	if g == nil {
		return
	}
	if err := o.DeleteGroup(o.admin, g); err != nil {
		c.fail(err)
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// membershipJSON renders a GraphMembership.
func (o *Org) membershipJSON(container, member *Subject) []byte {
	return o.appendMembership(make([]byte, 0, 512), container, member)
}

// appendMembership appends a GraphMembership to b. Descriptors are base64url
// and URLs plain ASCII: nothing needs escaping.
func (o *Org) appendMembership(b []byte, container, member *Subject) []byte {
	base := o.hostURL(hostVSSPS)
	b = append(b, `{"containerDescriptor":"`...)
	b = append(b, container.Descriptor...)
	b = append(b, `","memberDescriptor":"`...)
	b = append(b, member.Descriptor...)
	b = append(b, `","_links":{"self":{"href":"`...)
	b = append(b, base...)
	b = append(b, "/_apis/Graph/Memberships/"...)
	b = append(b, member.Descriptor...)
	b = append(b, '/')
	b = append(b, container.Descriptor...)
	b = append(b, `"},"member":{"href":"`...)
	b = append(b, base...)
	b = append(b, "/_apis/Graph/"...)
	b = append(b, graphPath(member.Kind)...)
	b = append(b, '/')
	b = append(b, member.Descriptor...)
	b = append(b, `"},"container":{"href":"`...)
	b = append(b, base...)
	b = append(b, "/_apis/Graph/Groups/"...)
	b = append(b, container.Descriptor...)
	b = append(b, `"}}}`...)
	return b
}

// listMemberships answers direct memberships of a subject: the groups it is
// in (direction up, the default) or, for a group, its members (down). The
// service supports depth 1 only.
func (s *Server) listMemberships(c *call) {
	if d := c.query("depth"); d != "" && d != "1" {
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "VS860017: Only a depth of 1 is supported.")
		return
	}
	dir := strings.ToLower(c.query("direction"))
	if dir != "" && dir != "up" && dir != "down" {
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "VS860018: direction must be up or down.")
		return
	}
	o := c.o
	o.mu.RLock()
	sub := c.lookup(c.param("d"))
	if sub == nil {
		o.mu.RUnlock()
		return
	}
	var body *[]byte
	if dir == "down" {
		members := o.directMembers(sub)
		body = buildList(len(members), 640, func(b []byte, i int) []byte { return c.o.appendMembership(b, sub, members[i]) })
	} else {
		containers := o.directContainers(sub)
		body = buildList(len(containers), 640, func(b []byte, i int) []byte { return c.o.appendMembership(b, containers[i], sub) })
	}
	o.mu.RUnlock()
	writeBuilt(c.w, body)
}

// memberPair resolves {d} (member) and {c} (container).
func (c *call) memberPair() (member, container *Subject) {
	member = c.lookup(c.param("d"))
	if member == nil {
		return nil, nil
	}
	container = c.lookup(c.param("c"))
	return member, container
}

func (s *Server) getMembership(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	m, g := c.memberPair()
	if g == nil {
		return
	}
	if !o.isMember(g, m) {
		writeError(c.w, http.StatusNotFound, "GraphMembershipNotFoundException", "VS860004: The membership could not be found.")
		return
	}
	if c.r.Method == http.MethodHead {
		c.w.WriteHeader(http.StatusOK)
		return
	}
	writeRaw(c.w, http.StatusOK, c.o.membershipJSON(g, m))
}

func (s *Server) addMembership(c *call) {
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	m, g := c.memberPair()
	if g == nil {
		return
	}
	if err := o.AddMember(o.admin, g, m); err != nil {
		c.fail(err)
		return
	}
	writeRaw(c.w, http.StatusCreated, c.o.membershipJSON(g, m))
}

func (s *Server) removeMembership(c *call) {
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	m, g := c.memberPair()
	if g == nil {
		return
	}
	if err := o.RemoveMember(o.admin, g, m); err != nil {
		c.fail(err)
		return
	}
	c.w.WriteHeader(http.StatusOK)
}

func (s *Server) membershipState(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	sub := c.lookup(c.param("d"))
	if sub == nil {
		return
	}
	base := o.hostURL(hostVSSPS) + "/_apis/Graph/"
	writeJSON(c.w, http.StatusOK, map[string]any{"active": true, "_links": map[string]link{
		"self": {base + "MembershipStates/" + sub.Descriptor}, "member": {base + graphPath(sub.Kind) + "/" + sub.Descriptor}}})
}

func (s *Server) getDescriptor(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	sub := o.byID[strings.ToLower(c.param("key"))]
	if sub == nil || sub.Deleted {
		writeError(c.w, http.StatusNotFound, "StorageKeyNotFoundException", "VS860005: The storage key "+c.param("key")+" could not be found.")
		return
	}
	base := o.hostURL(hostVSSPS) + "/_apis/Graph/"
	writeJSON(c.w, http.StatusOK, map[string]any{"value": sub.Descriptor, "_links": map[string]link{
		"self": {base + "Descriptors/" + sub.ID}, "storageKey": {base + "StorageKeys/" + sub.Descriptor},
		"subject": {base + graphPath(sub.Kind) + "/" + sub.Descriptor}}})
}

func (s *Server) getStorageKey(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	sub := c.lookup(c.param("d"))
	if sub == nil {
		return
	}
	base := o.hostURL(hostVSSPS) + "/_apis/Graph/"
	writeJSON(c.w, http.StatusOK, map[string]any{"value": sub.ID, "_links": map[string]link{
		"self": {base + "StorageKeys/" + sub.Descriptor}, "descriptor": {base + "Descriptors/" + sub.ID}}})
}

// lookupSubjects resolves many descriptors in one call. Unknown or removed
// subjects are left out of the answer, which is keyed by descriptor.
func (s *Server) lookupSubjects(c *call) {
	var body struct {
		LookupKeys []struct {
			Descriptor string `json:"descriptor"`
		} `json:"lookupKeys"`
	}
	if !c.decode(&body) {
		return
	}
	if len(body.LookupKeys) > 1000 {
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "VS860021: At most 1000 subjects can be looked up at once.")
		return
	}
	o := c.o
	o.mu.RLock()
	out := make(map[string]json.RawMessage, len(body.LookupKeys))
	for _, k := range body.LookupKeys {
		if sub := o.subject(k.Descriptor); sub != nil {
			out[sub.Descriptor] = c.o.subjectJSON(sub)
		}
	}
	o.mu.RUnlock()
	writeJSON(c.w, http.StatusOK, map[string]any{"count": len(out), "value": out})
}

// querySubjects searches subjects by display name, principal name or mail.
func (s *Server) querySubjects(c *call) {
	var body struct {
		Query       string   `json:"query"`
		SubjectKind []string `json:"subjectKind"`
	}
	if !c.decode(&body) {
		return
	}
	q := strings.ToLower(body.Query)
	kinds := map[string]bool{}
	for _, k := range body.SubjectKind {
		kinds[strings.ToLower(k)] = true
	}
	o := c.o
	o.mu.RLock()
	var items [][]byte
	for _, sub := range o.subjects {
		if sub.Deleted || (len(kinds) > 0 && !kinds[strings.ToLower(sub.Kind.String())]) {
			continue
		}
		if strings.Contains(strings.ToLower(sub.DisplayName), q) || strings.Contains(strings.ToLower(sub.PrincipalName), q) || strings.Contains(strings.ToLower(sub.Mail), q) {
			items = append(items, c.o.subjectJSON(sub))
			if len(items) == 100 {
				break
			}
		}
	}
	o.mu.RUnlock()
	writeList(c.w, items)
}

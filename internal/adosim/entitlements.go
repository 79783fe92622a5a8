package adosim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Member entitlements (vsaex): user entitlements paged 100 at a time with
// the continuation token in the response body (not a header), group rules,
// and service principal entitlements.

const entitlementPageSize = 100

func (s *Server) entitlementRoutes() []*route {
	const r, w = "vso.memberentitlementmanagement", "vso.memberentitlementmanagement_write"
	h := hostVSAEX
	return []*route{
		newRoute(h, http.MethodGet, "_apis/userentitlements", "entitlements.users.search", r, s.searchUserEntitlements),
		newRoute(h, http.MethodPost, "_apis/userentitlements", "entitlements.users.add", w, s.addUserEntitlement),
		newRoute(h, http.MethodGet, "_apis/userentitlements/{id}", "entitlements.users.get", r, s.getUserEntitlement),
		newRoute(h, http.MethodPatch, "_apis/userentitlements/{id}", "entitlements.users.update", w, s.updateUserEntitlement),
		newRoute(h, http.MethodDelete, "_apis/userentitlements/{id}", "entitlements.users.delete", w, s.deleteUserEntitlement),
		newRoute(h, http.MethodGet, "_apis/groupentitlements", "entitlements.groups.list", r, s.listGroupEntitlements),
		newRoute(h, http.MethodGet, "_apis/groupentitlements/{id}", "entitlements.groups.get", r, s.getGroupEntitlement),
		newRoute(h, http.MethodGet, "_apis/groupentitlements/{id}/members", "entitlements.groups.members", r, s.groupEntitlementMembers),
		newRoute(h, http.MethodGet, "_apis/serviceprincipalentitlements/{id}", "entitlements.serviceprincipals.get", r, s.getServicePrincipalEntitlement),
	}
}

// adoTime formats a date the way the service does; the zero time is the
// service's "never", 0001-01-01T00:00:00Z.
func adoTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format("2006-01-02T15:04:05.0000000Z")
}

type accessLevelJSON struct {
	LicensingSource    string `json:"licensingSource"`
	AccountLicenseType string `json:"accountLicenseType"`
	MsdnLicenseType    string `json:"msdnLicenseType"`
	LicenseDisplayName string `json:"licenseDisplayName"`
	Status             string `json:"status"`
	StatusMessage      string `json:"statusMessage"`
	AssignmentSource   string `json:"assignmentSource"`
}

func accessLevel(e *Entitlement) accessLevelJSON {
	source := e.AssignmentSource
	if source == "" {
		source = "unknown" // a group rule's licenseRule: the spec allows none, unknown or groupRule; Microsoft's example sends unknown
	}
	return accessLevelJSON{
		LicensingSource: e.LicensingSource, AccountLicenseType: e.AccountLicenseType, MsdnLicenseType: e.MsdnLicenseType,
		LicenseDisplayName: e.LicenseDisplayName(), Status: e.Status, AssignmentSource: source,
	}
}

// userEntitlementJSON is the wire shape of a UserEntitlement or a
// ServicePrincipalEntitlement; a struct, as searches encode thousands.
type userEntitlementJSON struct {
	ID                  string          `json:"id"`
	User                json.RawMessage `json:"user,omitempty"`
	ServicePrincipal    json.RawMessage `json:"servicePrincipal,omitempty"`
	AccessLevel         accessLevelJSON `json:"accessLevel"`
	LastAccessedDate    string          `json:"lastAccessedDate"`
	DateCreated         string          `json:"dateCreated"`
	ProjectEntitlements []any           `json:"projectEntitlements"`
	Extensions          []any           `json:"extensions"`
	GroupAssignments    []any           `json:"groupAssignments"`
}

// entitlementJSON renders a UserEntitlement (or, with key
// "servicePrincipal", a ServicePrincipalEntitlement).
func (o *Org) entitlementJSON(sub *Subject, key string) userEntitlementJSON {
	e := sub.Ent
	assignments := []any{}
	if e.GroupRuleID != "" {
		if g := o.byID[e.GroupRuleID]; g != nil {
			for _, r := range o.groupRules {
				if r.ID == e.GroupRuleID && !r.Deleted {
					assignments = append(assignments, map[string]any{"id": r.ID, "group": json.RawMessage(o.subjectJSON(g)), "licenseRule": accessLevel(&r.License)})
				}
			}
		}
	}
	out := userEntitlementJSON{
		ID: sub.ID, AccessLevel: accessLevel(e), LastAccessedDate: adoTime(e.LastAccessed), DateCreated: adoTime(e.DateCreated),
		ProjectEntitlements: []any{}, Extensions: []any{}, GroupAssignments: assignments,
	}
	if key == "servicePrincipal" {
		out.ServicePrincipal = o.subjectJSON(sub)
	} else {
		out.User = o.subjectJSON(sub)
	}
	return out
}

// licenseID is the $filter name of an access level: Account-Express, Msdn-Enterprise, …
func licenseID(e *Entitlement) string {
	if e.LicensingSource == "msdn" {
		return "Msdn-" + capitalize(e.MsdnLicenseType)
	}
	return "Account-" + capitalize(e.AccountLicenseType)
}

// searchUserEntitlements pages through the users that have an entitlement,
// with $filter and $orderBy as the service documents them.
func (s *Server) searchUserEntitlements(c *call) {
	filter, err := parseEntitlementFilter(c.query("$filter"))
	if err != nil {
		writeError(c.w, http.StatusBadRequest, "InvalidFilterException", "The $filter is not valid: "+err.Error())
		return
	}
	order := strings.Fields(strings.ToLower(c.query("$orderBy")))
	list := "userentitlements:" + strings.Join(order, " ") + ":" + c.query("$filter")
	pos, ok := c.position(list, c.query("continuationToken"))
	if !ok {
		return
	}
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	var users []*Subject
	for _, sub := range o.subjects {
		if !sub.Deleted && sub.Kind == KindUser && sub.Ent != nil && filter(sub) {
			users = append(users, sub)
		}
	}
	if len(order) > 0 {
		// Compare dates as times and names lowered once: formatting or
		// lowering in every comparison made each page of an ordered search
		// cost seconds on 5,000 users.
		var compare func(a, b *Subject) int
		switch order[0] {
		case "datecreated":
			compare = func(a, b *Subject) int { return a.Ent.DateCreated.Compare(b.Ent.DateCreated) }
		case "lastaccessed", "lastaccesseddate":
			compare = func(a, b *Subject) int { return a.Ent.LastAccessed.Compare(b.Ent.LastAccessed) }
		case "name":
			desc := len(order) > 1 && order[1] == "desc"
			users = o.byName.sorted(list, users, desc)
			order = order[:1] // sorted already
		default:
			writeError(c.w, http.StatusBadRequest, "InvalidOrderByException", "The $orderBy property "+order[0]+" is not supported; use dateCreated, lastAccessed or name.")
			return
		}
		if compare != nil {
			if len(order) > 1 && order[1] == "desc" {
				asc := compare
				compare = func(a, b *Subject) int { return asc(b, a) }
			}
			slices.SortStableFunc(users, compare)
		}
	}
	end := min(pos+entitlementPageSize, len(users))
	members := make([]userEntitlementJSON, 0, entitlementPageSize)
	for _, u := range users[min(pos, len(users)):end] {
		members = append(members, c.o.entitlementJSON(u, "user"))
	}
	var tok any
	if end < len(users) {
		tok = s.token(list, end)
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"members": members, "continuationToken": tok, "totalCount": len(users), "items": members})
}

// entitledUser finds a live user with an entitlement by storage key.
func (c *call) entitledUser(kind SubjectKind) *Subject {
	sub := c.o.byID[strings.ToLower(c.param("id"))]
	if sub == nil || sub.Deleted || sub.Ent == nil || sub.Kind != kind {
		writeError(c.w, http.StatusNotFound, "UserEntitlementNotFoundException", "VS403283: Could not find user with id "+c.param("id")+".")
		return nil
	}
	return sub
}

func (s *Server) getUserEntitlement(c *call) {
	c.o.mu.RLock()
	defer c.o.mu.RUnlock()
	if u := c.entitledUser(KindUser); u != nil {
		writeJSON(c.w, http.StatusOK, c.o.entitlementJSON(u, "user"))
	}
}

func (s *Server) getServicePrincipalEntitlement(c *call) {
	c.o.mu.RLock()
	defer c.o.mu.RUnlock()
	if sp := c.entitledUser(KindServicePrincipal); sp != nil {
		writeJSON(c.w, http.StatusOK, c.o.entitlementJSON(sp, "servicePrincipal"))
	}
}

// licenseFromJSON reads an accessLevel object of a request.
func licenseFromJSON(a accessLevelJSON) (Entitlement, error) {
	e := Entitlement{AccountLicenseType: a.AccountLicenseType, LicensingSource: a.LicensingSource, MsdnLicenseType: a.MsdnLicenseType, Status: strings.ToLower(a.Status)}
	if e.LicensingSource == "" {
		e.LicensingSource = "account"
	}
	if e.MsdnLicenseType == "" {
		e.MsdnLicenseType = "none"
	}
	switch e.AccountLicenseType {
	case "express", "stakeholder", "advanced", "professional", "earlyAdopter", "none":
	case "":
		if e.LicensingSource != "msdn" {
			return e, fmt.Errorf("accessLevel.accountLicenseType is required")
		}
		e.AccountLicenseType = "none"
	default:
		return e, fmt.Errorf("accessLevel.accountLicenseType %q is not a known license", e.AccountLicenseType)
	}
	return e, nil
}

func (s *Server) addUserEntitlement(c *call) {
	var body struct {
		AccessLevel accessLevelJSON `json:"accessLevel"`
		User        struct {
			PrincipalName string `json:"principalName"`
			SubjectKind   string `json:"subjectKind"`
		} `json:"user"`
		ProjectEntitlements []struct {
			Group struct {
				GroupType string `json:"groupType"`
			} `json:"group"`
			ProjectRef struct {
				ID string `json:"id"`
			} `json:"projectRef"`
		} `json:"projectEntitlements"`
	}
	if !c.decode(&body) {
		return
	}
	lic, err := licenseFromJSON(body.AccessLevel)
	if err != nil || body.User.PrincipalName == "" {
		if err == nil {
			err = fmt.Errorf("user.principalName is required")
		}
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", err.Error())
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	// Project entitlements name a project's built-in group by its type;
	// every one must resolve before anything changes.
	var groups []*Subject
	for _, pe := range body.ProjectEntitlements {
		p := o.liveProject(strings.ToLower(pe.ProjectRef.ID))
		if p == nil {
			writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "VS403286: The project "+pe.ProjectRef.ID+" does not exist.")
			return
		}
		name, ok := projectGroupTypes[pe.Group.GroupType]
		var g *Subject
		if ok {
			g = o.projectGroup(p, name)
		}
		if g == nil {
			writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "The group type "+pe.Group.GroupType+" is not valid: use projectReader, projectContributor or projectAdministrator.")
			return
		}
		groups = append(groups, g)
	}
	for _, sub := range o.subjects {
		if !sub.Deleted && sub.Ent != nil && strings.EqualFold(sub.PrincipalName, body.User.PrincipalName) {
			writeJSON(c.w, http.StatusOK, map[string]any{"isSuccess": false, "userEntitlement": nil, "operationResult": map[string]any{
				"isSuccess": false, "userId": sub.ID, "errors": []any{map[string]any{"key": 5032, "value": "The user " + sub.PrincipalName + " is already in the organization."}},
			}})
			return
		}
	}
	login, domain, _ := strings.Cut(body.User.PrincipalName, "@")
	u := o.AddUser(o.admin, userKind{Type: "aad", Guest: domain != "" && !strings.HasSuffix(domain, "fabrikam.example")}, login, body.User.PrincipalName, lic)
	for _, g := range groups {
		_ = o.AddMember(o.admin, g, u)
	}
	ent := c.o.entitlementJSON(u, "user")
	writeJSON(c.w, http.StatusCreated, map[string]any{"isSuccess": true, "userEntitlement": ent, "operationResult": map[string]any{"isSuccess": true, "userId": u.ID, "errors": []any{}, "result": ent}})
}

// projectGroupTypes are the project entitlement group types and the
// built-in project group each stands for.
var projectGroupTypes = map[string]string{
	"projectReader":        "Readers",
	"projectContributor":   "Contributors",
	"projectAdministrator": "Project Administrators",
}

// updateUserEntitlement applies a JSON patch replacing /accessLevel.
func (s *Server) updateUserEntitlement(c *call) {
	var ops []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	if !c.decode(&ops) {
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	u := c.entitledUser(KindUser)
	if u == nil {
		return
	}
	for _, op := range ops {
		if !strings.EqualFold(op.Path, "/accessLevel") || !strings.EqualFold(op.Op, "replace") {
			writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "Only {\"op\":\"replace\",\"path\":\"/accessLevel\"} is supported, got "+op.Op+" "+op.Path+".")
			return
		}
		var a accessLevelJSON
		if err := json.Unmarshal(op.Value, &a); err != nil {
			writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "accessLevel: "+err.Error())
			return
		}
		lic, err := licenseFromJSON(a)
		if err != nil {
			writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", err.Error())
			return
		}
		_ = o.SetLicense(o.admin, u, lic)
	}
	ent := c.o.entitlementJSON(u, "user")
	writeJSON(c.w, http.StatusOK, map[string]any{"isSuccess": true, "userEntitlement": ent, "operationResults": []any{map[string]any{"isSuccess": true, "userId": u.ID, "errors": []any{}, "result": ent}}})
}

func (s *Server) deleteUserEntitlement(c *call) {
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	u := c.entitledUser(KindUser)
	if u == nil {
		return
	}
	_ = o.RemoveUser(o.admin, u)
	c.w.WriteHeader(http.StatusNoContent)
}

func (o *Org) groupRuleJSON(r *GroupRule) map[string]any {
	members := 0
	for _, m := range o.members[r.Group.seq] {
		if !o.subjects[m].Deleted {
			members++
		}
	}
	return map[string]any{
		"id": r.ID, "group": json.RawMessage(o.subjectJSON(r.Group)), "licenseRule": accessLevel(&r.License),
		"projectEntitlements": []any{}, "extensionRules": []any{}, "status": "applied", "lastExecuted": adoTime(r.LastExecuted),
		"memberCount": members,
	}
}

func (s *Server) listGroupEntitlements(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	items := []any{}
	for _, r := range o.groupRules {
		if !r.Deleted {
			items = append(items, c.o.groupRuleJSON(r))
		}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"count": len(items), "value": items})
}

func (c *call) groupRule() *GroupRule {
	for _, r := range c.o.groupRules {
		if !r.Deleted && strings.EqualFold(r.ID, c.param("id")) {
			return r
		}
	}
	writeError(c.w, http.StatusNotFound, "GroupEntitlementNotFoundException", "VS403286: Could not find group entitlement "+c.param("id")+".")
	return nil
}

func (s *Server) getGroupEntitlement(c *call) {
	c.o.mu.RLock()
	defer c.o.mu.RUnlock()
	if r := c.groupRule(); r != nil {
		writeJSON(c.w, http.StatusOK, c.o.groupRuleJSON(r))
	}
}

// groupEntitlementMembers pages the members of a group rule's group
// (maxResults, pagingToken); the token is in the body.
func (s *Server) groupEntitlementMembers(c *call) {
	max := 100
	if v := c.query("maxResults"); v != "" {
		if _, err := fmt.Sscan(v, &max); err != nil || max < 1 {
			writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "maxResults must be a positive number.")
			return
		}
	}
	max = min(max, 500)
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	r := c.groupRule()
	if r == nil {
		return
	}
	pos, ok := c.position("rulemembers:"+r.ID, c.query("pagingToken"))
	if !ok {
		return
	}
	var users []*Subject
	for _, m := range o.directMembers(r.Group) {
		if m.Ent != nil {
			users = append(users, m)
		}
	}
	end := min(pos+max, len(users))
	members := []userEntitlementJSON{}
	for _, u := range users[min(pos, len(users)):end] {
		members = append(members, c.o.entitlementJSON(u, "user"))
	}
	var tok any
	if end < len(users) {
		tok = s.token("rulemembers:"+r.ID, end)
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"members": members, "continuationToken": tok})
}

// nameOrders keeps the user searches ordered by name, one per filter and
// direction: sorting 50,000 names for every page of a chain cost the
// simulator seconds of CPU per read (the service has an index). An order
// holds while the search finds the same users under the same names.
type nameOrders struct {
	mu    sync.Mutex
	lists map[string]*nameOrder
}

// maxNameOrders bounds the orders kept, one per filter and direction.
const maxNameOrders = 16

type nameOrder struct {
	users  []*Subject // the search's users, in model order
	names  []string   // their display names then
	sorted []*Subject
}

// sorted returns users (in model order) sorted by display name, ignoring
// case; ties keep model order in both directions, as a stable sort does.
func (n *nameOrders) sorted(list string, users []*Subject, desc bool) []*Subject {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.lists[list]; c != nil && c.holds(users) {
		return c.sorted
	}
	c := &nameOrder{users: users, names: make([]string, len(users)), sorted: slices.Clone(users)}
	lower := make(map[*Subject]string, len(users))
	for i, u := range users {
		c.names[i] = u.DisplayName
		lower[u] = strings.ToLower(u.DisplayName)
	}
	slices.SortStableFunc(c.sorted, func(a, b *Subject) int {
		if desc {
			a, b = b, a
		}
		return strings.Compare(lower[a], lower[b])
	})
	if n.lists == nil || len(n.lists) >= maxNameOrders {
		n.lists = map[string]*nameOrder{} // each filter keeps one; a client trying many starts over
	}
	n.lists[list] = c
	return c.sorted
}

func (c *nameOrder) holds(users []*Subject) bool {
	if len(users) != len(c.users) {
		return false
	}
	for i, u := range users {
		if u != c.users[i] || u.DisplayName != c.names[i] {
			return false
		}
	}
	return true
}

// PlantNamesakes gives n users with an entitlement the display name name,
// as organizations with many accounts called "Service Account" have: an
// ordered search must then order ties. It answers how many it renamed.
func (s *Server) PlantNamesakes(name string, n int) int {
	o := s.org
	o.mu.Lock()
	defer o.mu.Unlock()
	done := 0
	for _, sub := range o.subjects {
		if done == n {
			break
		}
		if !sub.Deleted && sub.Kind == KindUser && sub.Ent != nil {
			sub.DisplayName = name
			sub.changed()
			done++
		}
	}
	return done
}

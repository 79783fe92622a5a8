package adosim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Security: security namespaces, access control lists and entries, and
// permission checks, on the organization URL. Every route needs
// vso.security_manage: the service has no read-only security scope.
//
// The ACLs the service creates for every project and repository are derived
// from the model when asked for (security_defaults.go), never stored, so
// that a large organization costs nothing until its ACLs are read. Only
// changes made through the API are stored, in Org.aces and Org.inherit, as
// overrides of the derived entries (security_writes.go).
//
// Tokens form a hierarchy by the namespace's separator ("repoV2/{project}/
// {repo}" inherits from "repoV2/{project}", which inherits from "repoV2"),
// unless an ACL turns inheritance off. Permissions follow the docs
// (about-permissions, "Permission inheritance"): along the token hierarchy
// the most specific explicit setting wins, so an explicit allow on a
// repository overrides a deny inherited from its project; at one level,
// deny wins over allow, across all the groups a caller belongs to
// (security_eval.go).
//
// An identity removed from the organization keeps its entries, as on the
// service: ACLs then name an identity nobody can resolve.

// aclKey names one access control list: a namespace id and a token,
// lower-cased because security tokens are case-insensitive.
type aclKey struct{ namespace, token string }

// ace is an access control entry set through the API: the entry's state
// after the change, or a tombstone that hides a derived default entry.
type ace struct {
	token       string // as the caller wrote it
	descriptor  string // legacy identity descriptor
	allow, deny int
	removed     bool
}

// secAction is one permission bit of a namespace.
type secAction struct {
	bit           int
	name, display string
}

// securityNamespace describes a namespace as GET securitynamespaces does
// (see security_catalog.go).
type securityNamespace struct {
	id, name, separator string
	read, write         int
	dataspace           string
	flat                bool   // no token hierarchy (structureValue 0)
	extension           string // "" answers null
	remotable           bool
	translator          bool
	actions             []secAction
	// defaults adds the entries the service creates on its own; nil for
	// namespaces that hold none until the API writes some.
	defaults func(v *aclView)
}

// bits returns the mask of the named actions; an unknown name is a bug in
// the default tables and panics.
func (ns *securityNamespace) bits(names ...string) int {
	m := 0
	for _, n := range names {
		i := slices.IndexFunc(ns.actions, func(a secAction) bool { return a.name == n })
		if i < 0 {
			panic("security namespace " + ns.name + " has no action " + n)
		}
		m |= ns.actions[i].bit
	}
	return m
}

// all is the mask of every action of the namespace.
func (ns *securityNamespace) all() int {
	m := 0
	for _, a := range ns.actions {
		m |= a.bit
	}
	return m
}

// names lists the display names of the actions in mask.
func (ns *securityNamespace) names(mask int) string {
	var out []string
	for _, a := range ns.actions {
		if mask&a.bit != 0 {
			out = append(out, a.display)
		}
	}
	return strings.Join(out, ", ")
}

// Well-known namespace ids.
const (
	nsProject     = "52d39943-cb85-4d7f-8fa8-c6baac873819"
	nsGit         = "2e9eb7ed-3c0a-47d4-87c1-0ffdd275fd87"
	nsBuild       = "33344d9c-fc72-4d6f-aba5-fa317101a7e9"
	nsRelease     = "c788c23e-1b46-4162-8f5e-d7585343b5de"
	nsIdentity    = "5a27515b-ccd7-42c9-84f1-54c998f03866"
	nsCSS         = "83e28ad4-2d72-4ceb-97b0-c7726d5502c3"
	nsIteration   = "bf7bfa03-b2b7-47db-8113-fa2e002cc5b1"
	nsEndpoints   = "49b48001-ca20-4adc-8111-5b60c903a50c"
	nsCollection  = "3e65f728-f8bc-4ecd-8764-7e378b19bfa7"
	projectPrefix = "$PROJECT:vstfs:///Classification/TeamProject/"
)

// namespaceByID finds a namespace by id, case-insensitively.
func namespaceByID(id string) *securityNamespace {
	for _, ns := range securityNamespaces {
		if strings.EqualFold(ns.id, id) {
			return ns
		}
	}
	return nil
}

func (s *Server) securityRoutes() []*route {
	const w = "vso.security_manage"
	h := hostOrg
	return []*route{
		newRoute(h, http.MethodGet, "_apis/securitynamespaces", "security.namespaces", w, s.querySecurityNamespaces),
		newRoute(h, http.MethodGet, "_apis/securitynamespaces/{ns}", "security.namespaces", w, s.querySecurityNamespaces),
		newRoute(h, http.MethodGet, "_apis/accesscontrollists/{ns}", "security.acls.query", w, s.queryAccessControlLists),
		newRoute(h, http.MethodPost, "_apis/accesscontrollists/{ns}", "security.acls.set", w, s.setAccessControlLists),
		newRoute(h, http.MethodDelete, "_apis/accesscontrollists/{ns}", "security.acls.remove", w, s.removeAccessControlLists),
		newRoute(h, http.MethodPost, "_apis/accesscontrolentries/{ns}", "security.aces.set", w, s.setAccessControlEntries),
		newRoute(h, http.MethodDelete, "_apis/accesscontrolentries/{ns}", "security.aces.remove", w, s.removeAccessControlEntries),
		newRoute(h, http.MethodGet, "_apis/permissions/{ns}/{permissions}", "security.permissions.has", w, s.hasPermissions),
		newRoute(h, http.MethodDelete, "_apis/permissions/{ns}/{permissions}", "security.permissions.remove", w, s.removePermission),
		newRoute(h, http.MethodPost, "_apis/security/permissionevaluationbatch", "security.permissions.batch", w, s.hasPermissionsBatch),
	}
}

// namespaceJSON is the wire shape of SecurityNamespaceDescription, fields
// in the order of the service's example.
type namespaceJSON struct {
	NamespaceID        string       `json:"namespaceId"`
	Name               string       `json:"name"`
	DisplayName        string       `json:"displayName"`
	SeparatorValue     string       `json:"separatorValue"`
	ElementLength      int          `json:"elementLength"`
	WritePermission    int          `json:"writePermission"`
	ReadPermission     int          `json:"readPermission"`
	DataspaceCategory  string       `json:"dataspaceCategory"`
	Actions            []actionJSON `json:"actions"`
	StructureValue     int          `json:"structureValue"`
	ExtensionType      *string      `json:"extensionType"`
	IsRemotable        bool         `json:"isRemotable"`
	UseTokenTranslator bool         `json:"useTokenTranslator"`
}

type actionJSON struct {
	Bit         int    `json:"bit"`
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	NamespaceID string `json:"namespaceId"`
}

func (ns *securityNamespace) json() namespaceJSON {
	out := namespaceJSON{
		NamespaceID: ns.id, Name: ns.name, DisplayName: ns.name,
		SeparatorValue: ns.separator, ElementLength: -1,
		WritePermission: ns.write, ReadPermission: ns.read, DataspaceCategory: ns.dataspace,
		StructureValue: 1, IsRemotable: ns.remotable, UseTokenTranslator: ns.translator,
	}
	if ns.flat {
		out.StructureValue = 0
	}
	if ns.extension != "" {
		out.ExtensionType = &ns.extension
	}
	for _, a := range ns.actions {
		out.Actions = append(out.Actions, actionJSON{a.bit, a.name, a.display, ns.id})
	}
	return out
}

// querySecurityNamespaces lists every namespace, or one. An unknown id
// answers an empty list; the empty GUID means all, as in the .NET client.
func (s *Server) querySecurityNamespaces(c *call) {
	id := c.param("ns")
	var items [][]byte
	for _, ns := range securityNamespaces {
		if id == "" || id == uuid.Nil.String() || strings.EqualFold(id, ns.id) {
			items = append(items, mustJSON(ns.json()))
		}
	}
	writeList(c.w, items)
}

// namespace resolves {ns} or writes the 404.
func (c *call) namespace() *securityNamespace {
	if ns := namespaceByID(c.param("ns")); ns != nil {
		return ns
	}
	writeError(c.w, http.StatusNotFound, "InvalidSecurityNamespaceException", "The security namespace "+c.param("ns")+" does not exist.")
	return nil
}

// boolQuery reads a boolean query parameter ("True", "false", …).
func (c *call) boolQuery(name string) bool {
	b, _ := strconv.ParseBool(c.query(name))
	return b
}

// queryAccessControlLists answers the ACLs of a token (and with recurse its
// descendants), or of the whole namespace when no token is given.
func (s *Server) queryAccessControlLists(c *call) {
	ns := c.namespace()
	if ns == nil {
		return
	}
	token := c.query("token")
	descriptors := splitList(c.query("descriptors"))
	extended := c.boolQuery("includeExtendedInfo")
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	v := o.aclView(ns)
	var items [][]byte
	add := func(t string, requested bool) {
		if a, ok := v.render(t, requested, descriptors, extended); ok {
			items = append(items, mustJSON(a))
		}
	}
	if token == "" {
		for _, k := range v.order {
			add(v.acls[k].token, false)
		}
	} else {
		add(token, true)
		if c.boolQuery("recurse") {
			for _, t := range v.descendants(token) {
				add(t, false)
			}
		}
	}
	writeList(c.w, items)
}

// aceInput is one entry of a set request.
type aceInput struct {
	Descriptor string `json:"descriptor"`
	Allow      int    `json:"allow"`
	Deny       int    `json:"deny"`
}

func (s *Server) setAccessControlEntries(c *call) {
	ns := c.namespace()
	if ns == nil {
		return
	}
	var body struct {
		Token                string     `json:"token"`
		Merge                bool       `json:"merge"`
		AccessControlEntries []aceInput `json:"accessControlEntries"`
	}
	if !c.decode(&body) {
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	set, err := o.SetAccessControlEntries(c.caller(), ns, body.Token, body.Merge, body.AccessControlEntries)
	if err != nil {
		c.fail(err)
		return
	}
	items := make([][]byte, len(set))
	for i, e := range set {
		items[i] = mustJSON(map[string]any{"descriptor": e.descriptor, "allow": e.allow, "deny": e.deny, "extendedInfo": map[string]any{}})
	}
	writeList(c.w, items)
}

// removeAccessControlEntries answers true when an entry was removed, false
// when none of the descriptors had one (the service's boolean).
func (s *Server) removeAccessControlEntries(c *call) {
	ns := c.namespace()
	if ns == nil {
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	removed, err := o.RemoveAccessControlEntries(c.caller(), ns, c.query("token"), splitList(c.query("descriptors")))
	if err != nil {
		c.fail(err)
		return
	}
	writeJSON(c.w, http.StatusOK, removed)
}

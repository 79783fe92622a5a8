package adosim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Microsoft Graph (graph.microsoft.com), served under /_msgraph: just
// enough to read and change the members of the Microsoft Entra groups the
// organization has materialized (ADO-API.md §6). Groups and members are
// addressed by their Entra object ids (Subject.OriginID); members are Entra
// users, service principals and groups known to the organization.
//
// A change here changes the Entra group's membership as Azure DevOps sees
// it, but writes no Azure DevOps Audit Log entry: Entra membership changes
// are recorded in Entra's own audit log, never in Azure DevOps'. A product
// that syncs from the Audit Log therefore never hears of them; only a full
// read of the Entra group finds them.

const (
	graphDefaultTop = 100
	graphMaxTop     = 999
)

func (s *Server) msgraphRoutes() []*route {
	const rw, r = "GroupMember.ReadWrite.All", "GroupMember.Read.All"
	h := hostMSGraph
	return []*route{
		newRoute(h, http.MethodPost, "v1.0/groups/{id}/members/$ref", "msgraph.members.add", rw, s.addEntraMember),
		newRoute(h, http.MethodDelete, "v1.0/groups/{id}/members/{objectId}/$ref", "msgraph.members.remove", rw, s.removeEntraMember),
		newRoute(h, http.MethodGet, "v1.0/groups/{id}/members", "msgraph.members.list", r, s.listEntraMembers),
		newRoute(h, http.MethodGet, "v1.0/groups/delta", "msgraph.groups.delta", r, s.groupsDelta),
		newRoute(h, http.MethodGet, "v1.0/users/delta", "msgraph.users.delta", "User.Read.All", s.usersDelta),
	}
}

// graphRequestIDs sets the request-id headers Graph answers with; the
// client's client-request-id is echoed, as Graph does.
func graphRequestIDs(c *call) {
	id := uuid.NewString()
	c.w.Header().Set("request-id", id)
	if cid := c.r.Header.Get("client-request-id"); cid != "" {
		id = cid
	}
	c.w.Header().Set("client-request-id", id)
}

// writeGraphJSON writes a Graph answer with Graph's content type.
func writeGraphJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeGraphError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeGraphError writes Microsoft Graph's error body. innerError carries
// the time (from the Date header the server set, so simulated time) and the
// request ids of the response headers, generated when a handler did not
// set them.
func writeGraphError(w http.ResponseWriter, status int, code, message string) {
	h := w.Header()
	if h.Get("request-id") == "" {
		h.Set("request-id", uuid.NewString())
	}
	if h.Get("client-request-id") == "" {
		h.Set("client-request-id", h.Get("request-id"))
	}
	at, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		at = time.Now()
	}
	writeGraphJSON(w, status, map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"innerError": map[string]any{
			"date":              at.UTC().Format("2006-01-02T15:04:05"),
			"request-id":        h.Get("request-id"),
			"client-request-id": h.Get("client-request-id"),
		},
	}})
}

// graphNotFound is Graph's answer for a missing directory object.
func graphNotFound(w http.ResponseWriter, id string) {
	writeGraphError(w, http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

// graphObjectID validates an object id; Graph answers 400 for one that is
// not a GUID and 404 for an unknown GUID.
func graphObjectID(w http.ResponseWriter, id string) (string, bool) {
	u, err := uuid.Parse(id)
	if err != nil {
		writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid object identifier '%s'.", id))
		return "", false
	}
	return u.String(), true
}

// entraGroup finds a live Entra group by object id, or writes the error.
// Callers hold the lock.
func (c *call) entraGroup() *Subject {
	id, ok := graphObjectID(c.w, c.param("id"))
	if !ok {
		return nil
	}
	if g := c.o.byOriginID[id]; g != nil && !g.Deleted && g.Type == "aadgp" {
		return g
	}
	graphNotFound(c.w, c.param("id"))
	return nil
}

// entraObject finds a live Entra user, service principal or group known to
// the organization by object id. Callers hold the lock.
func (o *Org) entraObject(id string) *Subject {
	if s := o.byOriginID[id]; s != nil && !s.Deleted && s.Origin == "aad" {
		return s
	}
	return nil
}

// refObjectID reads the object id from an @odata.id reference such as
// https://graph.microsoft.com/v1.0/directoryObjects/{id}.
func refObjectID(ref string) (string, bool) {
	u, err := url.Parse(ref)
	if err != nil {
		return "", false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 {
		return "", false
	}
	switch strings.ToLower(parts[len(parts)-2]) {
	case "directoryobjects", "users", "groups", "serviceprincipals":
		return parts[len(parts)-1], true
	}
	return "", false
}

// addEntraMember adds a member to an Entra group: 204, or 400 when it is a
// member already.
func (s *Server) addEntraMember(c *call) {
	graphRequestIDs(c)
	var body struct {
		Ref string `json:"@odata.id"`
	}
	if err := json.NewDecoder(c.r.Body).Decode(&body); err != nil {
		writeGraphError(c.w, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
		return
	}
	ref, ok := refObjectID(body.Ref)
	if !ok {
		writeGraphError(c.w, http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid object identifier '%s'.", body.Ref))
		return
	}
	id, ok := graphObjectID(c.w, ref)
	if !ok {
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	g := c.entraGroup()
	if g == nil {
		return
	}
	m := o.entraObject(id)
	if m == nil {
		graphNotFound(c.w, ref)
		return
	}
	if m == g {
		writeGraphError(c.w, http.StatusBadRequest, "Request_BadRequest", "A group cannot be a member of itself.")
		return
	}
	if !o.AddEntraMember(g, m) {
		writeGraphError(c.w, http.StatusBadRequest, "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'.")
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// removeEntraMember removes a member: 204, or 404 when it is none.
func (s *Server) removeEntraMember(c *call) {
	graphRequestIDs(c)
	id, ok := graphObjectID(c.w, c.param("objectId"))
	if !ok {
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	g := c.entraGroup()
	if g == nil {
		return
	}
	m := o.entraObject(id)
	if m == nil || !o.RemoveEntraMember(g, m) {
		graphNotFound(c.w, c.param("objectId"))
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// AddEntraMember adds m to Entra group g as a change made in Entra ID: no
// Azure DevOps audit entry; a group rule of g grants m its access level. It reports false when m was a member already.
// Callers hold the write lock.
func (o *Org) AddEntraMember(g, m *Subject) bool {
	if !o.link(g, m) {
		return false
	}
	g.changed()
	o.entraDelta.record(g, m)
	o.followGroupRules(m)
	return true
}

// RemoveEntraMember removes m from Entra group g, without an Azure DevOps
// audit entry. It reports false when m was not a member.
func (o *Org) RemoveEntraMember(g, m *Subject) bool {
	if !o.unlink(g, m) {
		return false
	}
	g.changed()
	o.entraDelta.record(g, m)
	o.followGroupRules(m)
	return true
}

// graphMember is the wire shape of a directoryObject in a members list.
type graphMember struct {
	Type              string `json:"@odata.type"`
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	Mail              string `json:"mail,omitempty"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	AppID             string `json:"appId,omitempty"`
	SecurityEnabled   bool   `json:"securityEnabled,omitempty"`
}

func graphMemberOf(s *Subject) graphMember {
	m := graphMember{ID: s.OriginID, DisplayName: s.DisplayName}
	switch s.Kind {
	case KindGroup:
		m.Type, m.Mail, m.SecurityEnabled = "#microsoft.graph.group", s.Mail, true
	case KindServicePrincipal:
		m.Type, m.AppID = "#microsoft.graph.servicePrincipal", s.ApplicationID
	default:
		m.Type, m.Mail, m.UserPrincipalName = "#microsoft.graph.user", s.Mail, s.PrincipalName
	}
	return m
}

// listEntraMembers pages through the direct members of an Entra group:
// $top per page (default 100, at most 999) and @odata.nextLink with an
// opaque $skiptoken that resumes after the last member returned, so pages
// stay consistent while members are added or removed.
func (s *Server) listEntraMembers(c *call) {
	graphRequestIDs(c)
	top := graphDefaultTop
	if v := c.query("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > graphMaxTop {
			writeGraphError(c.w, http.StatusBadRequest, "Request_UnsupportedQuery", fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", v, graphMaxTop))
			return
		}
		top = n
	}
	after := int32(-1)
	if tok := c.query("$skiptoken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		n, err2 := strconv.ParseInt(strings.TrimPrefix(string(raw), "after:"), 10, 32)
		if err != nil || err2 != nil || !strings.HasPrefix(string(raw), "after:") {
			writeGraphError(c.w, http.StatusBadRequest, "Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.")
			return
		}
		after = int32(n)
	}
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	g := c.entraGroup()
	if g == nil {
		return
	}
	page := struct {
		Context  string        `json:"@odata.context"`
		NextLink string        `json:"@odata.nextLink,omitempty"`
		Value    []graphMember `json:"value"`
	}{Context: "https://graph.microsoft.com/v1.0/$metadata#directoryObjects", Value: []graphMember{}}
	last := after
	for _, seq := range o.members[g.seq] {
		m := o.subjects[seq]
		if seq <= after || m.Deleted {
			continue
		}
		if len(page.Value) == top {
			next := base64.RawURLEncoding.EncodeToString([]byte("after:" + strconv.Itoa(int(last))))
			page.NextLink = fmt.Sprintf("%s/groups/%s/members?$top=%d&$skiptoken=%s", s.MicrosoftGraphURL(), g.OriginID, top, next)
			break
		}
		page.Value = append(page.Value, graphMemberOf(m))
		last = seq
	}
	writeGraphJSON(c.w, http.StatusOK, page)
}

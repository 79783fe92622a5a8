package adosim

import (
	"net/http"
	"strings"
)

// Accounts and profiles live on app.vssps.visualstudio.com, outside any
// organization: the profile says who the credential is, the accounts list
// the organizations it belongs to.

func (s *Server) accountRoutes() []*route {
	h := hostApp
	return []*route{
		newRoute(h, http.MethodGet, "_apis/accounts", "accounts.list", "vso.profile", s.listAccounts),
		newRoute(h, http.MethodGet, "_apis/profile/profiles/{id}", "profile.get", "vso.profile", s.getProfile),
	}
}

// The default credentials all belong to the organization's administrator.
func (s *Server) getProfile(c *call) {
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	if id := c.param("id"); id != "me" && !strings.EqualFold(id, o.admin.ID) {
		writeError(c.w, http.StatusNotFound, "ProfileNotFoundException", "VS800004: The profile "+id+" could not be found.")
		return
	}
	writeJSON(c.w, http.StatusOK, map[string]any{
		"displayName": o.admin.DisplayName, "publicAlias": o.admin.ID, "emailAddress": o.admin.Mail,
		"coreRevision": 1, "timeStamp": adoTime(o.admin.Ent.DateCreated), "id": o.admin.ID, "revision": 1,
	})
}

// listAccounts lists the organizations the credential's person belongs to:
// every organization the server serves (the default credentials all belong
// to the first organization's administrator, who is a member of each).
func (s *Server) listAccounts(c *call) {
	member, owner := c.query("memberId"), c.query("ownerId")
	if member == "" && owner == "" {
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "VS800001: One of the following parameters is required: ownerId, memberId.")
		return
	}
	me := s.org
	me.mu.RLock()
	id, created := me.admin.ID, me.admin.Ent.DateCreated
	me.mu.RUnlock()
	var items [][]byte
	if strings.EqualFold(member, id) || strings.EqualFold(owner, id) {
		for _, o := range s.allOrgs() {
			items = append(items, mustJSON(map[string]any{
				"accountId": o.ID, "accountUri": o.hostURL(hostVSSPS) + "/", "accountName": o.Name,
				"properties": map[string]any{}, "accountOwner": id, "accountStatus": "enabled",
				"createdDate": adoTime(created), "organizationName": nil, "accountType": "organization",
			}))
		}
	}
	writeList(c.w, items)
}

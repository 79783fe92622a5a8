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

func (s *Server) listAccounts(c *call) {
	member, owner := c.query("memberId"), c.query("ownerId")
	if member == "" && owner == "" {
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "VS800001: One of the following parameters is required: ownerId, memberId.")
		return
	}
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	var items [][]byte
	if strings.EqualFold(member, o.admin.ID) || strings.EqualFold(owner, o.admin.ID) {
		items = append(items, mustJSON(map[string]any{
			"accountId": o.ID, "accountUri": s.hostURL(hostVSSPS) + "/", "accountName": o.Name,
			"properties": map[string]any{}, "accountOwner": o.admin.ID, "accountStatus": "enabled",
			"createdDate": adoTime(o.admin.Ent.DateCreated), "organizationName": nil, "accountType": "organization",
		}))
	}
	writeList(c.w, items)
}

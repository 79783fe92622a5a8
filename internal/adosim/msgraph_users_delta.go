package adosim

import (
	"net/http"
	"slices"
	"strings"
)

// Microsoft Graph's delta query over users (GET /users/delta, application
// permission User.Read.All), as https://learn.microsoft.com/en-us/graph/api/user-delta
// and https://learn.microsoft.com/en-us/graph/delta-query-users describe it,
// with the paging, tokens and errors of the groups delta (msgraph_delta.go):
//
//   - The initial round returns every Entra user the organization knows
//     that is not deleted in Entra ID, in pages linked by @odata.nextLink;
//     the last page carries @odata.deltaLink. $deltatoken=latest answers at
//     once with a deltaLink and no data.
//   - A deltaLink returns each user changed in Entra ID since it was issued,
//     once, with its current (selected) properties; a user deleted in Entra
//     ID comes as {"id": …, "@removed": {"reason": "changed"}} (deleted
//     users stay restorable for 30 days; "deleted" is for a permanent
//     deletion, which the simulator does not make).
//   - $select names the properties returned (default: displayName,
//     userPrincipalName, mail); accountEnabled only when selected. Other
//     user properties are not modelled and never returned.
//   - An unknown or expired token answers 410 Gone, syncStateNotFound.
//
// Only changes made in Entra ID are tracked (Org.DeleteEntraUser,
// Org.RenameEntraUser, /_sim/mutate's entra.user.* kinds): a user added to
// or removed from the Azure DevOps organization, or disabled there, is an
// Azure DevOps change with an Audit Log entry, not an Entra one.

// entraUser is an Entra user the organization knows.
func entraUser(s *Subject) bool { return s.Kind == KindUser && s.Origin == "aad" }

// deltaUser is a user in a delta answer.
type deltaUser struct {
	ID                string         `json:"id"`
	DisplayName       string         `json:"displayName,omitempty"`
	UserPrincipalName string         `json:"userPrincipalName,omitempty"`
	Mail              string         `json:"mail,omitempty"`
	AccountEnabled    *bool          `json:"accountEnabled,omitempty"`
	Removed           map[string]any `json:"@removed,omitempty"`
}

// recordEntraUser notes that u changed in Entra ID. Callers hold the
// write lock.
func (o *Org) recordEntraUser(u *Subject) {
	o.entraUsers.add(entraDeltaChange{group: u.seq, member: -1})
}

// RenameEntraUser renames u in Entra ID: Azure DevOps shows the new
// display name on the user's subject, with no audit entry. Callers hold
// the write lock.
func (o *Org) RenameEntraUser(u *Subject, displayName string) {
	u.DisplayName = displayName
	u.changed()
	o.recordEntraUser(u)
}

// ExpireEntraUsersDeltaTokens forgets every users delta token issued so
// far; groups delta tokens stay valid.
func (s *Server) ExpireEntraUsersDeltaTokens() {
	o := s.org
	o.mu.Lock()
	defer o.mu.Unlock()
	o.entraUsers.expire()
}

// usersDelta serves GET /users/delta.
func (s *Server) usersDelta(c *call) {
	graphRequestIDs(c)
	if c.query("$filter") != "" {
		writeGraphError(c.w, http.StatusBadRequest, "Request_UnsupportedQuery", "The simulator's users delta supports no $filter.")
		return
	}
	sel := c.query("$select")
	fields := strings.Split(strings.ToLower(sel), ",")
	want := func(f string) bool { return sel == "" || slices.Contains(fields, strings.ToLower(f)) }
	size := deltaPageSize(c)
	o := c.o
	o.mu.Lock() // the log's epoch may be set
	defer o.mu.Unlock()
	l := &o.entraUsers
	users, st, last, done := s.deltaSubjects(c, "users", l, []deltaUser{}, sel, size, func(u *Subject) bool {
		return entraUser(u) && !u.Deleted && !u.DeletedOrigin
	})
	if done {
		return
	}
	out := make([]deltaUser, 0, len(users))
	for _, u := range users {
		du := deltaUser{ID: u.OriginID}
		switch {
		case u.DeletedOrigin:
			du.Removed = map[string]any{"reason": "changed"}
		default:
			if want("displayName") {
				du.DisplayName = u.DisplayName
			}
			if want("userPrincipalName") {
				du.UserPrincipalName = u.PrincipalName
			}
			if want("mail") {
				du.Mail = u.Mail
			}
			if sel != "" && want("accountEnabled") {
				enabled := true
				du.AccountEnabled = &enabled
			}
		}
		out = append(out, du)
	}
	if len(users) > 0 {
		st.after = users[len(users)-1].seq
	}
	s.writeDeltaPage(c, "users", l, out, st, last, sel)
}

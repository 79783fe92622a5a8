package adosim

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Personal access tokens, as the Token Admin API lists them for a user
// (GET vssps/_apis/tokenadmin/personalaccesstokens/{subjectDescriptor})
// and revokes them (POST vssps/_apis/tokenadmin/revocations). The token's
// value lives in the model only: the service never answers it ("token":
// null in Microsoft's example).

// PAT is a personal access token of a user.
type PAT struct {
	AuthorizationID string
	Owner           *Subject
	DisplayName     string
	Scope           string // space-separated scopes; "app_token" is full access
	ValidFrom       time.Time
	ValidTo         time.Time
	Global          bool   // valid in every organization the user can reach (targetAccounts null)
	Value           string // the token; never served
	// SSH marks an SSH public key (tokens_ssh.go): listed and revoked with
	// isPublic=true, with the public key as publicData and no Value.
	SSH       bool
	PublicKey string
}

// patScopes are the scope sets generated, most narrow, some full access.
var patScopes = []string{
	"app_token",
	"vso.code",
	"vso.code_write",
	"vso.build_execute vso.code",
	"vso.packaging",
	"vso.work_write",
	"vso.agentpools_manage",
	"vso.release_execute vso.serviceendpoint_query",
	"vso.graph vso.memberentitlementmanagement",
}

var patNames = []string{"local git", "CI agent", "nuget feed", "terraform", "backlog script", "release bot", "migration tool"}

// genPATs gives some users tokens: a third of those who signed in, half of
// those who left the company (deleted in Entra) or were disabled, with
// realistic lifetimes (30 days to a year), some full access, some global.
func (g *generator) genPATs(r *rand.Rand) {
	o := g.o
	pl := o.pipes()
	for _, u := range g.users {
		if u.Ent == nil || u.Ent.LastAccessed.IsZero() {
			continue
		}
		share := 3
		if u.DeletedOrigin || u.Ent.Status == "disabled" {
			share = 2
		}
		if r.IntN(share) != 0 {
			continue
		}
		for range 1 + r.IntN(3) {
			life := []int{7, 30, 90, 180, 365}[r.IntN(5)]
			from := g.ref.Add(-time.Duration(r.IntN(life+60)) * 24 * time.Hour)
			scope := patScopes[1+r.IntN(len(patScopes)-1)]
			if r.IntN(7) == 0 {
				scope = patScopes[0]
			}
			pl.pats = append(pl.pats, &PAT{AuthorizationID: pl.guid(), Owner: u, DisplayName: patNames[r.IntN(len(patNames))],
				Scope: scope, ValidFrom: from, ValidTo: from.Add(time.Duration(life) * 24 * time.Hour), Global: r.IntN(10) == 0,
				Value: pl.secret("simpat")})
		}
	}
}

// CreatePAT issues a token to a user.
func (o *Org) CreatePAT(owner *Subject, name, scope string, life time.Duration, global bool) *PAT {
	pl := o.pipes()
	now := o.clock.Now()
	t := &PAT{AuthorizationID: pl.guid(), Owner: owner, DisplayName: name, Scope: scope, ValidFrom: now, ValidTo: now.Add(life), Global: global,
		Value: pl.secret("simpat")}
	pl.pats = append(pl.pats, t)
	o.record(now, owner, "Token.PatCreateEvent", fmt.Sprintf("Personal access token %q was created", name), nil, o.patData(t))
	return t
}

// RevokePAT revokes a token; the service stops listing it. An SSH key's
// authorization id is not a token's: it is not found here (RevokeSSHKey).
func (o *Org) RevokePAT(actor *Subject, authorizationID string) error {
	return o.revokeToken(actor, authorizationID, false)
}

func (o *Org) revokeToken(actor *Subject, authorizationID string, ssh bool) error {
	pl := o.pipes()
	for i, t := range pl.pats {
		if t.AuthorizationID == authorizationID && t.SSH == ssh {
			pl.pats = append(pl.pats[:i], pl.pats[i+1:]...)
			action, what := "Token.PatRevokeEvent", "Personal access token"
			if ssh {
				action, what = "Token.SshRevokeEvent", "SSH key"
			}
			o.record(o.clock.Now(), actor, action, fmt.Sprintf("%s %q of %s was revoked", what, t.DisplayName, t.Owner.DisplayName), nil, o.patData(t))
			return nil
		}
	}
	if ssh {
		return fmt.Errorf("%w: no SSH key %s", errNotFound, authorizationID)
	}
	return fmt.Errorf("%w: no personal access token %s", errNotFound, authorizationID)
}

func (o *Org) patData(t *PAT) map[string]any {
	return map[string]any{"DisplayName": t.DisplayName, "Scope": t.Scope, "ValidTo": t.ValidTo.Format(time.RFC3339),
		"UserId": t.Owner.ID, "UserPrincipalName": t.Owner.PrincipalName, "AuthorizationId": t.AuthorizationID}
}

// PATs lists the live tokens and SSH keys (SSH set) (for tests and the
// admin API).
func (s *Server) PATs() []PAT {
	o := s.org
	o.mu.RLock()
	defer o.mu.RUnlock()
	var out []PAT
	for _, t := range o.pipes().pats {
		out = append(out, *t)
	}
	return out
}

func (s *Server) tokenRoutes() []*route {
	const r, w = "vso.tokenadministration", "vso.tokenadministration"
	return []*route{
		newRoute(hostVSSPS, http.MethodGet, "_apis/tokenadmin/personalaccesstokens/{descriptor}", "tokenadmin.pats.list", r, s.listPATs),
		newRoute(hostVSSPS, http.MethodPost, "_apis/tokenadmin/revocations", "tokenadmin.revocations", w, s.revokePATs),
	}
}

// listPATs answers a user's tokens, or with isPublic=true their SSH keys,
// a page at a time (pageSize, default and at most 100; continuationToken).
// The value is always null.
func (s *Server) listPATs(c *call) {
	public, ok := isPublicParam(c)
	if !ok {
		return
	}
	o := c.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	u := o.subject(c.param("descriptor"))
	if u == nil || u.Kind != KindUser {
		writeError(c.w, http.StatusNotFound, "IdentityNotFoundException", "The identity "+c.param("descriptor")+" could not be found.")
		return
	}
	size := 100
	if v := c.query("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "pageSize must be a positive number.")
			return
		}
		size = min(n, 100)
	}
	var mine []*PAT
	for _, t := range o.pipes().pats {
		if t.Owner == u && t.SSH == public {
			mine = append(mine, t)
		}
	}
	start := 0
	if tok := c.query("continuationToken"); tok != "" {
		// The service's continuation token is a GUID; this one carries the
		// position in its last group.
		n, err := strconv.ParseInt(tok[max(0, len(tok)-12):], 16, 64)
		if err != nil || len(tok) != 36 {
			writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", "The continuation token is not valid.")
			return
		}
		start = int(n)
	}
	start = min(start, len(mine))
	end := min(start+size, len(mine))
	items := []map[string]any{}
	for _, t := range mine[start:end] {
		var targets any
		if !t.Global {
			targets = []string{o.ID}
		}
		var publicData any
		if t.SSH {
			publicData = t.PublicKey
		}
		items = append(items, map[string]any{
			"clientId": "00000000-0000-0000-0000-000000000000", "accessId": "00000000-0000-0000-0000-000000000000",
			"authorizationId": t.AuthorizationID, "hostAuthorizationId": "00000000-0000-0000-0000-000000000000",
			"userId": u.ID, "validFrom": t.ValidFrom.Format("2006-01-02T15:04:05Z"), "validTo": t.ValidTo.Format("2006-01-02T15:04:05Z"),
			"displayName": t.DisplayName, "scope": t.Scope, "targetAccounts": targets,
			"token": nil, "alternateToken": nil, "isValid": true, "isPublic": t.SSH, "publicData": publicData, "source": nil,
		})
	}
	var next any
	if end < len(mine) {
		next = fmt.Sprintf("00000000-0000-0000-0000-%012x", end)
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"value": items, "continuationToken": next})
}

// revokePATs revokes the tokens named (an array of {authorizationId}), or
// with isPublic=true the SSH keys named; the service answers 204 whether or
// not each existed, so an SSH key named without isPublic=true stays.
func (s *Server) revokePATs(c *call) {
	public, ok := isPublicParam(c)
	if !ok {
		return
	}
	var body []struct {
		AuthorizationID string `json:"authorizationId"`
	}
	if !c.decode(&body) {
		return
	}
	o := c.o
	o.mu.Lock()
	defer o.mu.Unlock()
	actor := o.admin
	if c.cred != nil && c.cred.Subject != "" {
		if a := o.subject(c.cred.Subject); a != nil {
			actor = a
		}
	}
	for _, b := range body {
		_ = o.revokeToken(actor, b.AuthorizationID, public)
	}
	c.w.WriteHeader(http.StatusNoContent)
}

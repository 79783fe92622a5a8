package adosim

import (
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

// Credential is a PAT or bearer token the simulator accepts, with the scopes
// it was issued for. Scopes are the service's PAT scopes (vso.graph,
// vso.graph_manage, …) and, for the simulated Microsoft Graph, application
// permissions (GroupMember.ReadWrite.All).
type Credential struct {
	Name    string   `json:"name"`
	Token   string   `json:"-"`
	Bearer  bool     `json:"bearer"` // presented as "Bearer <token>", not as a PAT
	Scopes  []string `json:"scopes"`
	Expired bool     `json:"expired"`
	// ExpiresAt, when set, is when the credential stops working (tokens
	// the identity platform issues), on the simulated clock.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Subject, when set, is the descriptor of the identity the credential
	// belongs to (see Server.ActAs); permission checks answer for it. The
	// default credentials belong to the organization's administrator.
	Subject string `json:"subject,omitempty"`
}

// Scope sets of the default credentials.
var (
	readScopes  = []string{"vso.graph", "vso.memberentitlementmanagement", "vso.project", "vso.code", "vso.auditlog", "vso.identity", "vso.profile"}
	writeScopes = []string{"vso.graph_manage", "vso.memberentitlementmanagement_write", "vso.project_manage", "vso.code_manage", "vso.auditlog", "vso.identity_manage", "vso.security_manage", "vso.profile"}
)

// DefaultCredentials is a fresh set of random credentials:
//
//	readwrite      PAT, every scope the product uses, read and write
//	readonly       PAT, read scopes (with Audit Log: Read)
//	noaudit        PAT, read scopes without Audit Log: Read
//	expired        PAT that has expired
//	bearer         Entra access token for Azure DevOps, read and write
//	msgraph        Microsoft Graph token with GroupMember.ReadWrite.All and User.Read.All
//	msgraph-noperm Microsoft Graph token with User.Read.All only
func DefaultCredentials() []Credential {
	var noAudit []string
	for _, sc := range readScopes {
		if sc != "vso.auditlog" {
			noAudit = append(noAudit, sc)
		}
	}
	return []Credential{
		{Name: "readwrite", Token: randomToken(32), Scopes: writeScopes},
		{Name: "readonly", Token: randomToken(32), Scopes: readScopes},
		{Name: "noaudit", Token: randomToken(32), Scopes: noAudit},
		{Name: "expired", Token: randomToken(32), Scopes: writeScopes, Expired: true},
		{Name: "bearer", Token: "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + randomToken(48), Bearer: true, Scopes: writeScopes},
		{Name: "msgraph", Token: "eyJ0eXAiOiJKV1QiLCJub25jZSI6IjEifQ." + randomToken(48), Bearer: true, Scopes: []string{"GroupMember.ReadWrite.All", "User.Read.All"}},
		{Name: "msgraph-noperm", Token: "eyJ0eXAiOiJKV1QiLCJub25jZSI6IjIifQ." + randomToken(48), Bearer: true, Scopes: []string{"User.Read.All"}},
	}
}

// has reports whether the credential carries scope. A _manage or _write
// scope implies the read scope of the same area, as on the service.
func (c *Credential) has(scope string) bool {
	for _, sc := range c.Scopes {
		if sc == scope {
			return true
		}
		base, _, _ := strings.Cut(sc, "_")
		if base == scope {
			return true
		}
		if scope == "GroupMember.Read.All" && sc == "GroupMember.ReadWrite.All" {
			return true
		}
	}
	return false
}

// authenticate finds the credential of a request. It returns a non-zero
// status (401) when there is none, it is unknown, or it has expired.
func (s *Server) authenticate(r *http.Request) (*Credential, int) {
	h := r.Header.Get("Authorization")
	scheme, value, _ := strings.Cut(h, " ")
	var token string
	var bearer bool
	switch strings.ToLower(scheme) {
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
		if err != nil {
			return nil, http.StatusUnauthorized
		}
		_, token, _ = strings.Cut(string(raw), ":") // any user name, the PAT as password
	case "bearer":
		token, bearer = strings.TrimSpace(value), true
	default:
		return nil, http.StatusUnauthorized
	}
	s.credMu.RLock()
	c := s.creds[token]
	s.credMu.RUnlock()
	if c == nil && bearer {
		c = s.entra.issued(token)
	}
	if c == nil || c.Bearer != bearer {
		return nil, http.StatusUnauthorized
	}
	if c.Expired || (!c.ExpiresAt.IsZero() && !s.clock.Now().Before(c.ExpiresAt)) {
		return c, http.StatusUnauthorized
	}
	return c, 0
}

// authMessage is the 401 message; it never repeats the credential.
func authMessage(c *Credential) string {
	if c != nil && c.Bearer && !c.ExpiresAt.IsZero() {
		return "TF400813: The access token has expired."
	}
	if c != nil && c.Expired {
		return "Access Denied: The Personal Access Token used has expired."
	}
	return "TF400813: The user '' is not authorized to access this resource."
}

// scopeNames are the portal's names for the scopes, used in 403 messages.
var scopeNames = map[string]string{
	"vso.graph":                             "Graph (Read)",
	"vso.graph_manage":                      "Graph (Read & manage)",
	"vso.memberentitlementmanagement":       "Member Entitlement Management (Read)",
	"vso.memberentitlementmanagement_write": "Member Entitlement Management (Read & write)",
	"vso.project":                           "Project and Team (Read)",
	"vso.project_manage":                    "Project and Team (Read, write & manage)",
	"vso.code":                              "Code (Read)",
	"vso.code_manage":                       "Code (Read, write & manage)",
	"vso.auditlog":                          "Audit Log (Read)",
	"vso.identity":                          "Identity (Read)",
	"vso.identity_manage":                   "Identity (Read & manage)",
	"vso.security_manage":                   "Security (Manage)",
	"vso.profile":                           "User Profile (Read)",
	"GroupMember.ReadWrite.All":             "GroupMember.ReadWrite.All (application permission)",
	"GroupMember.Read.All":                  "GroupMember.Read.All (application permission)",
	"User.Read.All":                         "User.Read.All (application permission)",
}

func scopeMessage(scope string) string {
	return "VS403403: Access denied. The credential used lacks the required scope '" + scope + "' (" + scopeNames[scope] + ") to access this resource."
}

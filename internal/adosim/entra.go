package adosim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// The Microsoft identity platform (Microsoft Entra ID), as azidentity sees
// it: OpenID metadata and the v2.0 token endpoint of the organization's
// tenant, issuing application tokens (client credentials) for the Azure
// DevOps and Microsoft Graph audiences. Applications sign in with a client
// secret or, as workload identity does, with a federated token (a JWT from
// another issuer, presented as a client assertion).
//
// azidentity refuses an authority host that is not https, so the platform
// listens on a TLS port of its own (StartEntra) with a certificate made at
// start; clients trust it through EntraCertPEM (or SSL_CERT_FILE) and reach
// it through AZURE_AUTHORITY_HOST. Instance discovery (a call to
// login.microsoftonline.com) must be off: DisableInstanceDiscovery, as for
// any authority Microsoft does not host.

// Audiences the platform issues tokens for, as scopes ask for them.
const (
	AzureDevOpsResource    = "499b84ac-1321-427f-aa17-267ca6975798"
	MicrosoftGraphResource = "https://graph.microsoft.com"
)

// EntraApp is an application registered in the simulated tenant.
type EntraApp struct {
	ClientID string
	// Secret is the client secret; empty when the app has none.
	Secret string
	// Federated, when set, accepts a client assertion with this issuer,
	// subject and audience (a workload identity federation credential).
	Federated *FederatedCredential
	// DevOpsScopes are what its Azure DevOps tokens may do (the scopes a
	// PAT would carry); nil grants read and write.
	DevOpsScopes []string
	// GraphRoles are the Microsoft Graph application permissions granted
	// with admin consent, e.g. GroupMember.ReadWrite.All.
	GraphRoles []string
	// TokenTTL is how long its tokens last (default an hour).
	TokenTTL time.Duration
}

// FederatedCredential is a trust of tokens from another issuer, as
// workload identity federation sets one up.
type FederatedCredential struct {
	Issuer, Subject string
	Audience        string // default api://AzureADTokenExchange
}

// DefaultEntraApp is the application a new simulator registers: a client
// secret, read and write on Azure DevOps, GroupMember.ReadWrite.All and
// User.Read.All on Microsoft Graph.
func DefaultEntraApp() EntraApp {
	return EntraApp{ClientID: uuid.NewString(), Secret: randomToken(24), GraphRoles: []string{"GroupMember.ReadWrite.All", "User.Read.All"}}
}

type entraPlatform struct {
	mu      sync.RWMutex
	apps    map[string]*EntraApp   // by client id
	tokens  map[string]*Credential // access tokens issued, by token
	certPEM []byte
	base    string // https://127.0.0.1:port
	hs      *http.Server
}

func newEntraPlatform() *entraPlatform {
	return &entraPlatform{apps: map[string]*EntraApp{}, tokens: map[string]*Credential{}}
}

// RegisterEntraApp registers (or replaces) an application in the tenant.
func (s *Server) RegisterEntraApp(app EntraApp) {
	s.entra.mu.Lock()
	defer s.entra.mu.Unlock()
	a := app
	s.entra.apps[strings.ToLower(app.ClientID)] = &a
}

// EntraApps lists the registered applications.
func (s *Server) EntraApps() []EntraApp {
	s.entra.mu.RLock()
	defer s.entra.mu.RUnlock()
	var out []EntraApp
	for _, a := range s.entra.apps {
		out = append(out, *a)
	}
	return out
}

// TenantID is the organization's Microsoft Entra tenant.
func (s *Server) TenantID() string { return s.org.TenantID }

// issued finds an access token the platform issued.
func (p *entraPlatform) issued(token string) *Credential {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.tokens[token]
}

// StartEntra serves the identity platform over TLS on addr ("" picks a
// free port on 127.0.0.1) until Close.
func (s *Server) StartEntra(addr string) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	cert, certPEM, err := selfSigned()
	if err != nil {
		return fmt.Errorf("make the identity platform's certificate: %w", err)
	}
	ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.openIDConfiguration)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.issueToken)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	p := s.entra
	p.mu.Lock()
	p.certPEM, p.base, p.hs = certPEM, "https://"+ln.Addr().String(), hs
	p.mu.Unlock()
	go func() { _ = hs.Serve(ln) }()
	return nil
}

// EntraAuthorityHost is the AZURE_AUTHORITY_HOST of the identity platform.
func (s *Server) EntraAuthorityHost() string {
	s.entra.mu.RLock()
	defer s.entra.mu.RUnlock()
	if s.entra.base == "" {
		return ""
	}
	return s.entra.base + "/"
}

// EntraCertPEM is the certificate the identity platform serves, to trust.
func (s *Server) EntraCertPEM() []byte {
	s.entra.mu.RLock()
	defer s.entra.mu.RUnlock()
	return s.entra.certPEM
}

func (p *entraPlatform) close() {
	p.mu.RLock()
	hs := p.hs
	p.mu.RUnlock()
	if hs != nil {
		_ = hs.Close()
	}
}

// selfSigned makes a certificate for 127.0.0.1 and localhost that is its
// own authority, so a client can trust it by adding it to its roots.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "adosim identity platform"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// tenantOK checks the tenant of a request: the organization's tenant id
// (or "organizations", which app-only flows may not use).
func (s *Server) tenantOK(w http.ResponseWriter, r *http.Request) (string, bool) {
	t := r.PathValue("tenant")
	if strings.EqualFold(t, s.org.TenantID) {
		return s.org.TenantID, true
	}
	entraError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", t))
	return "", false
}

// openIDConfiguration answers the tenant's OpenID Connect metadata, the
// first thing MSAL (inside azidentity) reads of an authority.
func (s *Server) openIDConfiguration(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.tenantOK(w, r)
	if !ok {
		return
	}
	base := s.EntraAuthorityHost() + tenant
	writeEntraJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                "https://login.microsoftonline.com/" + tenant + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

// issueToken is the client credentials grant: a client secret or a
// federated client assertion in, an application access token for one
// resource out, carrying the app's permissions on that resource.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.tenantOK(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" {
		entraError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+f.Get("grant_type")+"'.")
		return
	}
	clientID := f.Get("client_id")
	s.entra.mu.RLock()
	app := s.entra.apps[strings.ToLower(clientID)]
	s.entra.mu.RUnlock()
	if app == nil {
		entraError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, tenant))
		return
	}
	switch {
	case f.Get("client_secret") != "":
		if app.Secret == "" || f.Get("client_secret") != app.Secret {
			entraError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+app.ClientID+"'.")
			return
		}
	case f.Get("client_assertion") != "":
		if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			entraError(w, http.StatusBadRequest, "invalid_request", 50027, "Invalid client_assertion_type.")
			return
		}
		if msg := s.checkAssertion(app, f.Get("client_assertion")); msg != "" {
			entraError(w, http.StatusBadRequest, "invalid_client", 70021, msg)
			return
		}
	default:
		entraError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	// MSAL adds the OpenID scopes to every request; Entra ID ignores them
	// in the client credentials grant. One resource's /.default remains.
	var asked []string
	for _, sc := range strings.Fields(f.Get("scope")) {
		switch sc {
		case "openid", "offline_access", "profile", "email":
		default:
			asked = append(asked, sc)
		}
	}
	var resource string
	ok = len(asked) == 1
	if ok {
		resource, ok = strings.CutSuffix(asked[0], "/.default")
	}
	var scopes []string
	switch {
	case ok && resource == AzureDevOpsResource:
		scopes = app.DevOpsScopes
		if scopes == nil {
			scopes = writeScopes
		}
	case ok && resource == MicrosoftGraphResource:
		scopes = app.GraphRoles
	default:
		entraError(w, http.StatusBadRequest, "invalid_scope", 1002012, "The provided value for scope "+f.Get("scope")+" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
		return
	}
	ttl := app.TokenTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	now := s.clock.Now()
	token := unsignedJWT(map[string]any{
		"aud": resource, "iss": "https://sts.windows.net/" + tenant + "/", "tid": tenant, "appid": app.ClientID,
		"roles": scopes, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(), "uti": randomToken(12),
	})
	cred := &Credential{Name: "entra:" + app.ClientID, Token: token, Bearer: true, Scopes: append([]string(nil), scopes...), ExpiresAt: now.Add(ttl)}
	s.entra.mu.Lock()
	s.entra.tokens[token] = cred
	s.entra.mu.Unlock()
	s.stats.count("entra.token")
	secs := int(ttl / time.Second)
	writeEntraJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": token})
}

// checkAssertion accepts a federated token that matches the app's
// federated credential and has not expired; it returns why not otherwise.
// Like Entra ID, it compares issuer, subject and audience exactly.
func (s *Server) checkAssertion(app *EntraApp, assertion string) string {
	if app.Federated == nil {
		return "AADSTS70021: No matching federated identity record found for presented assertion. The application has no federated credentials."
	}
	claims, err := jwtClaims(assertion)
	if err != nil {
		return "AADSTS50027: JWT token is invalid or malformed."
	}
	want := *app.Federated
	if want.Audience == "" {
		want.Audience = "api://AzureADTokenExchange"
	}
	aud, _ := claims["aud"].(string)
	if list, ok := claims["aud"].([]any); ok && len(list) == 1 {
		aud, _ = list[0].(string)
	}
	if claims["iss"] != want.Issuer || claims["sub"] != want.Subject || aud != want.Audience {
		return fmt.Sprintf("AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: '%v'. Assertion Subject: '%v'. Assertion Audience: '%v'.", claims["iss"], claims["sub"], aud)
	}
	exp, _ := claims["exp"].(float64)
	if exp == 0 || time.Unix(int64(exp), 0).Before(s.clock.Now()) {
		return "AADSTS700024: Client assertion is not within its valid time range."
	}
	return ""
}

// FederatedToken makes a token as an external issuer (a Kubernetes
// service account, a CI system) would, for a workload identity's token
// file. It is not signed: the simulated platform trusts its claims.
func FederatedToken(issuer, subject, audience string, expires time.Time) string {
	if audience == "" {
		audience = "api://AzureADTokenExchange"
	}
	return unsignedJWT(map[string]any{"iss": issuer, "sub": subject, "aud": []string{audience}, "exp": expires.Unix(), "iat": time.Now().Unix()})
}

// unsignedJWT encodes claims as a JWT whose signature is random bytes:
// the shape clients expect of a token, which only the simulator reads.
func unsignedJWT(claims map[string]any) string {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"RS256","x5t":"sim"}`))
	body := base64.RawURLEncoding.EncodeToString(mustJSON(claims))
	sig := make([]byte, 32)
	_, _ = rand.Read(sig)
	return header + "." + body + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func jwtClaims(tok string) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	return claims, json.Unmarshal(b, &claims)
}

func writeEntraJSON(w http.ResponseWriter, status int, v any) {
	b := mustJSON(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// entraError writes the identity platform's error body.
func entraError(w http.ResponseWriter, status int, code string, aadsts int, msg string) {
	trace, corr := uuid.NewString(), uuid.NewString()
	now := time.Now().UTC()
	writeEntraJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, strings.TrimPrefix(msg, fmt.Sprintf("AADSTS%d: ", aadsts)), trace, corr, now.Format("2006-01-02 15:04:05Z")),
		"error_codes":       []int{aadsts},
		"timestamp":         now.Format("2006-01-02 15:04:05Z"),
		"trace_id":          trace,
		"correlation_id":    corr,
	})
}

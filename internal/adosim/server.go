package adosim

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Options configure a simulator. The zero value serves the "small" preset
// of organization "fabrikam" with seed 1.
type Options struct {
	Org    string // organization name (default "fabrikam")
	Preset string // small, medium or large (default small); ignored when Spec is set
	Spec   *Spec
	Seed   uint64 // default 1
	// OnPrem makes discovery answer as Azure DevOps Server does: no resource
	// areas, every API under the organization URL.
	OnPrem bool
	Faults Faults
	// AuditRetention is how long Audit Log entries are kept (default 90 days).
	AuditRetention time.Duration
	// AuditLag delays the visibility of each new audit entry by a random
	// duration up to this value, like late-arriving entries on the service.
	AuditLag time.Duration
	// GeneratedAt is when the generated history ends (default: today, 00:00 UTC).
	GeneratedAt time.Time
	// Now is the wall clock (default time.Now); /_sim/advance adds to it.
	Now func() time.Time
	// MoreOrgs are served beside the first organization (Org), behind the
	// same credentials; the Accounts API lists them all.
	MoreOrgs []OrgOptions
	// Credentials replace the default set (see DefaultCredentials).
	Credentials []Credential
	// EntraApps are the applications registered in the tenant's identity
	// platform (see StartEntra); nil registers DefaultEntraApp.
	EntraApps []EntraApp
	Logger    *slog.Logger
}

// Server is a simulated Azure DevOps organization served over HTTP.
type Server struct {
	opts Options
	org  *Org // the first organization, which the single-organization API (URL, Org, Mutate, Stats) names

	orgMu  sync.RWMutex
	orgs   []*Org // every organization served, in the order added
	clock  *clock
	creds  map[string]*Credential // by token, under credMu
	credMu sync.RWMutex
	cnames []Credential
	faults *faultState
	stats  *stats
	routes []*route
	bySegs map[int][]*route // routes by number of path segments
	log    *slog.Logger
	entra  *entraPlatform // the Microsoft identity platform (entra.go)
	ref    time.Time      // when generated histories end

	mu   sync.Mutex
	base string // http://host:port, set by Start
	hs   *http.Server
	ln   net.Listener
}

// New generates the organization and prepares the server; Start serves it.
func New(opts Options) (*Server, error) {
	if opts.Org == "" {
		opts.Org = "fabrikam"
	}
	if err := checkOrgName(opts.Org); err != nil {
		return nil, err
	}
	spec, err := resolveSpec(opts)
	if err == nil {
		err = spec.check()
	}
	if err != nil {
		return nil, err
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AuditRetention <= 0 {
		opts.AuditRetention = 90 * 24 * time.Hour
	}
	clk := &clock{now: opts.Now}
	ref := opts.GeneratedAt
	if ref.IsZero() {
		ref = clk.Now().Truncate(24 * time.Hour)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := opts.Faults.checkLatency(); err != nil {
		return nil, err
	}
	s := &Server{opts: opts, clock: clk, log: log, stats: newStats(), ref: ref}
	s.faults = newFaultState(opts.Faults, opts.Seed)
	s.org, err = s.AddOrg(OrgOptions{Name: opts.Org, Spec: &spec, Seed: opts.Seed})
	if err != nil {
		return nil, err
	}
	for _, more := range opts.MoreOrgs {
		if _, err := s.AddOrg(more); err != nil {
			return nil, err
		}
	}
	creds := opts.Credentials
	if creds == nil {
		creds = DefaultCredentials()
	}
	s.creds = map[string]*Credential{}
	for i := range creds {
		c := creds[i]
		s.creds[c.Token] = &c
		s.cnames = append(s.cnames, c)
	}
	s.entra = newEntraPlatform()
	apps := opts.EntraApps
	if apps == nil {
		apps = []EntraApp{DefaultEntraApp()}
	}
	for _, a := range apps {
		s.RegisterEntraApp(a)
	}
	s.routes = s.allRoutes()
	s.bySegs = map[int][]*route{}
	for _, r := range s.routes {
		s.stats.register(r.name)
		s.bySegs[len(r.segs)] = append(s.bySegs[len(r.segs)], r)
	}
	return s, nil
}

func resolveSpec(opts Options) (Spec, error) {
	if opts.Spec != nil {
		return *opts.Spec, nil
	}
	name := opts.Preset
	if name == "" {
		name = "small"
	}
	spec, ok := Presets[name]
	if !ok {
		return Spec{}, fmt.Errorf("unknown preset %q (want small, medium or large)", name)
	}
	return spec, nil
}

// check refuses specs the generator cannot build: negative counts, shares
// outside 0..1, and no user to be the administrator.
func (sp Spec) check() error {
	if sp.Users < 1 {
		return fmt.Errorf("spec: users must be at least 1 (the first user is the administrator)")
	}
	for name, n := range map[string]int{"service_principals": sp.ServicePrincipals, "org_groups": sp.OrgGroups, "entra_groups": sp.EntraGroups,
		"entra_group_size": sp.EntraGroupSize, "projects": sp.Projects, "max_extra_teams": sp.MaxExtraTeams, "max_repos": sp.MaxRepos,
		"memberships_per_user": sp.MembershipsPerUser, "nesting_depth": sp.NestingDepth, "group_rules": sp.GroupRules, "audit_history": sp.AuditHistory} {
		if n < 0 {
			return fmt.Errorf("spec: %s must not be negative, got %d", name, n)
		}
	}
	for name, x := range map[string]float64{"guest_share + msa_share": sp.GuestShare + sp.MSAShare, "dormant_share + never_share": sp.DormantShare + sp.NeverShare,
		"guest_share": sp.GuestShare, "msa_share": sp.MSAShare, "dormant_share": sp.DormantShare, "never_share": sp.NeverShare} {
		if x < 0 || x > 1 {
			return fmt.Errorf("spec: %s must be between 0 and 1, got %g", name, x)
		}
	}
	return nil
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves in the
// background until Close.
func (s *Server) Start(addr string) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.base = "http://" + ln.Addr().String()
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Unlock()
	for _, o := range s.allOrgs() {
		o.serveURLs(s.base)
	}
	go func() { _ = s.hs.Serve(ln) }()
	return nil
}

// Close stops the server.
func (s *Server) Close() error {
	s.entra.close()
	s.mu.Lock()
	hs := s.hs
	s.mu.Unlock()
	if hs == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return hs.Shutdown(ctx)
}

// BaseURL is the scheme, host and port the server listens on.
func (s *Server) BaseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.base
}

// URL is the organization URL a client connects to: http://host:port/{org}.
func (s *Server) URL() string { return s.BaseURL() + "/" + s.org.Name }

// OrgURL is the URL of the organization called name ("" if none is).
func (s *Server) OrgURL(name string) string {
	if o := s.orgNamed(name); o != nil {
		return s.BaseURL() + "/" + o.Name
	}
	return ""
}

// MicrosoftGraphURL is the base of the simulated Microsoft Graph (v1.0).
func (s *Server) MicrosoftGraphURL() string { return s.BaseURL() + "/_msgraph/v1.0" }

// Org gives tests direct access to the simulated state.
func (s *Server) Org() *Org { return s.org }

// Credential returns the token of a named default credential ("readwrite",
// "readonly", "noaudit", "expired", "bearer", "msgraph", "msgraph-noperm").
func (s *Server) Credential(name string) string {
	for _, c := range s.cnames {
		if c.Name == name {
			return c.Token
		}
	}
	return ""
}

// Credentials lists the credentials the server accepts.
func (s *Server) Credentials() []Credential { return append([]Credential(nil), s.cnames...) }

// Advance moves the simulated clock forward.
func (s *Server) Advance(d time.Duration) { s.clock.Advance(d) }

// Now is the simulated time.
func (s *Server) Now() time.Time { return s.clock.Now() }

// SetFaults replaces the fault configuration.
func (s *Server) SetFaults(f Faults) { s.faults.set(f) }

// host is which Azure DevOps service answers a route in the cloud.
type host uint8

const (
	hostOrg     host = iota // dev.azure.com/{org}: core, git, security, location
	hostVSSPS               // vssps.dev.azure.com/{org}: graph, identities
	hostVSAEX               // vsaex.dev.azure.com/{org}: member entitlements
	hostAudit               // auditservice.dev.azure.com/{org}
	hostApp                 // app.vssps.visualstudio.com: accounts, profiles
	hostMSGraph             // graph.microsoft.com
)

// hostPrefix is where each service lives on this one server.
var hostPrefix = map[host]string{hostVSSPS: "/_vssps", hostVSAEX: "/_vsaex", hostAudit: "/_audit", hostApp: "/_app", hostMSGraph: "/_msgraph"}

// hostURL is the base URL of a service for this organization. Handlers
// call it for every link they write, so it is computed once.
func (o *Org) hostURL(h host) string {
	if urls := o.urls.Load(); urls != nil && int(h) < len(urls) {
		return urls[h]
	}
	return o.srv.buildHostURL(o.srv.BaseURL(), h, o.Name)
}

// serveURLs computes the organization's service URLs once the server's
// address is known.
func (o *Org) serveURLs(base string) {
	var urls [hostMSGraph + 1]string
	for h := range urls {
		urls[h] = o.srv.buildHostURL(base, host(h), o.Name)
	}
	o.urls.Store(&urls)
}

func (s *Server) buildHostURL(base string, h host, org string) string {
	switch {
	case h == hostApp || h == hostMSGraph:
		return base + hostPrefix[h]
	case s.opts.OnPrem || h == hostOrg:
		return base + "/" + org
	default:
		return base + hostPrefix[h] + "/" + org
	}
}

// route is one URL pattern and method of the API.
type route struct {
	host   host
	method string
	segs   []string // lower-case literals, or "{name}" parameters
	name   string   // endpoint name in /_sim/stats
	scope  string   // the scope a credential needs: "" none, anyScope any valid credential
	handle func(*call)
}

func newRoute(h host, method, pattern, name, scope string, fn func(*call)) *route {
	segs := strings.Split(strings.Trim(pattern, "/"), "/")
	for i, sg := range segs {
		if !strings.HasPrefix(sg, "{") {
			segs[i] = strings.ToLower(sg)
		}
	}
	return &route{host: h, method: method, segs: segs, name: name, scope: scope, handle: fn}
}

func (rt *route) match(segs []string) (map[string]string, bool) {
	if len(segs) != len(rt.segs) {
		return nil, false
	}
	var params map[string]string
	for i, want := range rt.segs {
		if strings.HasPrefix(want, "{") {
			if segs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[strings.Trim(want, "{}")] = segs[i]
			continue
		}
		if !strings.EqualFold(segs[i], want) {
			return nil, false
		}
	}
	return params, true
}

func (s *Server) allRoutes() []*route {
	var rs []*route
	rs = append(rs, s.discoveryRoutes()...)
	rs = append(rs, s.graphRoutes()...)
	rs = append(rs, s.entitlementRoutes()...)
	rs = append(rs, s.coreRoutes()...)
	rs = append(rs, s.gitRoutes()...)
	rs = append(rs, s.auditRoutes()...)
	rs = append(rs, s.accountRoutes()...)
	rs = append(rs, s.identityRoutes()...)
	rs = append(rs, s.securityRoutes()...)
	rs = append(rs, s.msgraphRoutes()...)
	rs = append(rs, s.pipelineRoutes()...)
	return rs
}

// call is one API request on its way through a handler.
type call struct {
	s      *Server
	o      *Org
	w      http.ResponseWriter
	r      *http.Request
	params map[string]string
	cred   *Credential
	host   host
	q      url.Values // the query, parsed on first use
}

// param returns a route parameter, unescaped.
func (c *call) param(name string) string {
	v := c.params[name]
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

// query returns a query parameter; names match case-insensitively, as on the service.
func (c *call) query(name string) string {
	if c.q == nil {
		c.q = c.r.URL.Query()
	}
	for k, v := range c.q {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// base is the URL of the service answering this call, for links.
func (c *call) base() string { return c.o.hostURL(c.host) }

// ServeHTTP routes a request: admin endpoints, discovery, then the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if strings.HasPrefix(path, "/_sim/") {
		s.serveAdmin(w, r)
		return
	}
	h, o, rest, ok := s.splitHost(path)
	if !ok {
		writeError(w, http.StatusNotFound, "VssResourceNotFoundException", fmt.Sprintf("VS800075: The organization or path %q was not found.", path))
		return
	}
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	var matched *route
	var params map[string]string
	methodSeen := false
	for _, rt := range s.bySegs[len(segs)] {
		if !s.serves(h, rt.host) {
			continue
		}
		p, ok := rt.match(segs)
		if !ok || rt.method == http.MethodOptions && r.Method != http.MethodOptions {
			continue // discovery's OPTIONS routes make no other method a 405
		}
		methodSeen = true
		if rt.method == r.Method || (rt.method == http.MethodGet && r.Method == http.MethodHead && !s.hasRoute(h, http.MethodHead, segs)) {
			matched, params = rt, p
			break
		}
	}
	if matched == nil {
		s.stats.count("unrouted")
		if methodSeen {
			writeError(w, http.StatusMethodNotAllowed, "VssMethodNotAllowedException", fmt.Sprintf("The requested resource does not support http method '%s'.", r.Method))
			return
		}
		writeError(w, http.StatusNotFound, "VssResourceNotFoundException", fmt.Sprintf("API resource location was not found for %s %s.", r.Method, path))
		return
	}
	s.stats.count(matched.name)
	c := &call{s: s, o: o, w: w, r: r, params: params, host: h}
	s.serveAPI(c, matched)
}

func (s *Server) hasRoute(h host, method string, segs []string) bool {
	for _, rt := range s.bySegs[len(segs)] {
		if rt.method == method && s.serves(h, rt.host) {
			if _, ok := rt.match(segs); ok {
				return true
			}
		}
	}
	return false
}

// serves reports whether a request that arrived at host h may reach a route
// of host want: strictly the same service in the cloud; everything at the
// organization URL on-prem.
func (s *Server) serves(h, want host) bool {
	if h == want {
		return true
	}
	return s.opts.OnPrem && h == hostOrg && want != hostApp && want != hostMSGraph
}

// splitHost finds which service and organization a path addresses and
// returns the rest. Services outside any organization (accounts, profiles,
// Microsoft Graph) get the first organization.
func (s *Server) splitHost(path string) (host, *Org, string, bool) {
	for h, prefix := range hostPrefix {
		if path == prefix || strings.HasPrefix(path, prefix+"/") {
			rest := strings.TrimPrefix(path, prefix)
			if h == hostApp || h == hostMSGraph {
				return h, s.org, rest, true
			}
			name, after, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
			o := s.orgNamed(name)
			if o == nil {
				return 0, nil, "", false
			}
			return h, o, after, true
		}
	}
	name, after, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	o := s.orgNamed(name)
	if o == nil {
		return 0, nil, "", false
	}
	return hostOrg, o, after, true
}

// serveAPI applies the cross-cutting behaviour of the service in order:
// latency, authentication, throttling and other faults, api-version, then
// the handler.
func (s *Server) serveAPI(c *call, rt *route) {
	if c.r.Method == http.MethodHead {
		c.w = headResponse{c.w}
	}
	w := c.w
	w.Header().Set("Date", s.clock.Now().Format(http.TimeFormat))
	w.Header().Set("X-TFS-Session", c.r.Header.Get("X-TFS-Session"))
	w.Header().Set("ActivityId", uuid.NewString())
	fs := s.faultsFor(c.o)
	f := fs.get()
	if d := f.latencyFor(rt.host, c.r.Method, c.r.URL.Path); d > 0 && f.applies(c.r.URL.Path) {
		select {
		case <-time.After(d):
		case <-c.r.Context().Done():
			return
		}
	}
	if rt.scope != "" {
		cred, status := s.authenticate(c.r)
		if status != 0 {
			s.stats.count("auth_401")
			c.deny(status, authMessage(cred))
			return
		}
		c.cred = cred
		if rt.scope != anyScope && !cred.has(rt.scope) {
			s.stats.count("auth_403")
			c.deny(http.StatusForbidden, scopeMessage(rt.scope))
			return
		}
	}
	if s.injectFault(c, fs, f) {
		return
	}
	if c.r.Method != http.MethodOptions && rt.host != hostMSGraph && apiVersion(c.r) == "" {
		writeError(w, http.StatusBadRequest, "VssVersionNotSpecifiedException", fmt.Sprintf(`No api-version was supplied for the "%s" request. The version must be supplied either as part of the Accept header (e.g. "application/json; api-version=1.0") or as a query parameter (e.g. '?api-version=1.0').`, c.r.Method))
		return
	}
	if s.cutAfter(c, f) {
		w := c.w
		c.w = discardAnswer{h: http.Header{}}
		rt.handle(c)
		c.w = w
		s.cut(c, false)
		return
	}
	rt.handle(c)
}

// headResponse answers HEAD with headers only and Content-Length 0: the
// v7 client reads a body whenever Content-Length is not 0, and would fail
// on an empty one instead of reporting the status (404 of a membership
// check).
type headResponse struct{ http.ResponseWriter }

func (h headResponse) WriteHeader(status int) {
	h.Header().Set("Content-Length", "0")
	h.ResponseWriter.WriteHeader(status)
}

func (h headResponse) Write(b []byte) (int, error) { return len(b), nil }

func (h headResponse) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// apiVersion reads the api-version from the Accept header or the query.
func apiVersion(r *http.Request) string {
	for _, part := range strings.Split(r.Header.Get("Accept"), ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && strings.EqualFold(k, "api-version") {
			return v
		}
	}
	return r.URL.Query().Get("api-version")
}

// writeJSON writes v as the response body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8; api-version=7.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeList writes the service's collection envelope around pre-encoded items.
func writeList(w http.ResponseWriter, items [][]byte) {
	n := 32
	for _, it := range items {
		n += len(it) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"count":`...)
	b = strconv.AppendInt(b, int64(len(items)), 10)
	b = append(b, `,"value":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	b = append(b, "]}"...)
	writeRaw(w, http.StatusOK, b)
}

// listBuffers recycles the bodies of list answers: they run to tens of
// kilobytes, and allocating each one made the garbage collector scan the
// organization's heap far more often.
var listBuffers = sync.Pool{New: func() any { return new([]byte) }}

// buildList encodes the collection envelope around n items, each appended
// by item, into a pooled buffer: no per-item allocation. Handlers build
// under the organization's lock and write after releasing it, then give
// the buffer back with writeBuilt.
func buildList(n, sizeHint int, item func(b []byte, i int) []byte) *[]byte {
	bp := listBuffers.Get().(*[]byte)
	b := (*bp)[:0]
	if need := 32 + n*sizeHint; cap(b) < need {
		b = make([]byte, 0, need)
	}
	b = append(b, `{"count":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"value":[`...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = item(b, i)
	}
	b = append(b, "]}"...)
	*bp = b
	return bp
}

// writeBuilt writes a body made by buildList and recycles its buffer.
func writeBuilt(w http.ResponseWriter, bp *[]byte) {
	writeRaw(w, http.StatusOK, *bp)
	if cap(*bp) <= 4<<20 {
		*bp = (*bp)[:0]
		listBuffers.Put(bp)
	}
}

// writeError writes the service's error body, which the v7 client turns
// into an azuredevops.WrappedError carrying the status code.
func writeError(w http.ResponseWriter, status int, typeKey, message string) {
	writeJSON(w, status, map[string]any{
		"$id":            "1",
		"innerException": nil,
		"message":        message,
		"typeName":       "Microsoft.VisualStudio.Services.WebApi." + typeKey + ", Microsoft.VisualStudio.Services.WebApi",
		"typeKey":        typeKey,
		"errorCode":      0,
		"eventId":        3000,
	})
}

// deny answers 401 or 403 in the body format of the service called.
func (c *call) deny(status int, message string) {
	if c.host == hostMSGraph {
		code := "InvalidAuthenticationToken"
		if status == http.StatusForbidden {
			code, message = "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
		}
		writeGraphError(c.w, status, code, message)
		return
	}
	if status == http.StatusUnauthorized {
		c.w.Header().Set("WWW-Authenticate", `Bearer authorization_uri=https://login.microsoftonline.com/common, Basic realm="https://dev.azure.com/"`)
		writeError(c.w, status, "VssUnauthorizedException", message)
		return
	}
	writeError(c.w, status, "UnauthorizedRequestException", message)
}

// fail maps a change error to the status the service answers.
func (c *call) fail(err error) {
	switch {
	case errors.Is(err, errNotFound):
		writeError(c.w, http.StatusNotFound, "ResourceNotFoundException", err.Error())
	case errors.Is(err, errConflict):
		writeError(c.w, http.StatusConflict, "ResourceConflictException", err.Error())
	default:
		writeError(c.w, http.StatusBadRequest, "InvalidArgumentValueException", err.Error())
	}
}

func (c *call) decode(v any) bool {
	// The service refuses large request bodies too; 16 MiB is far above
	// any body a client sends (a query names at most a few hundred ids).
	if err := json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, maxRequestBody)).Decode(v); err != nil {
		writeError(c.w, http.StatusBadRequest, "VssRequestContentException", "The request body could not be read: "+err.Error())
		return false
	}
	return true
}

// maxRequestBody is the most a request body may hold.
const maxRequestBody = 16 << 20

// Continuation tokens are opaque to clients; inside they carry the list
// they belong to, the position to resume at, and when they were issued
// (so the simulator can expire them).
func (s *Server) token(list string, pos int) string {
	raw := fmt.Sprintf("%s|%d|%d", list, pos, time.Now().UnixNano())
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// position decodes a continuation token of the given list. It writes the
// service's 400 and returns false for a malformed or expired token.
func (c *call) position(list, tok string) (int, bool) {
	if tok == "" {
		return 0, true
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	parts := strings.Split(string(raw), "|")
	if err != nil || len(parts) != 3 || parts[0] != list {
		writeError(c.w, http.StatusBadRequest, "InvalidContinuationTokenException", "The continuation token is not valid.")
		return 0, false
	}
	pos, err1 := strconv.Atoi(parts[1])
	issued, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || pos < 0 {
		writeError(c.w, http.StatusBadRequest, "InvalidContinuationTokenException", "The continuation token is not valid.")
		return 0, false
	}
	if c.s.faultsFor(c.o).expireToken(c.r.URL.Path, time.Unix(0, issued)) {
		c.s.stats.count("fault_expired_token")
		writeError(c.w, http.StatusBadRequest, "InvalidContinuationTokenException", "The continuation token has expired. Start the query again without a continuation token.")
		return 0, false
	}
	return pos, true
}

// randomToken returns a random secret of lower-case letters and digits,
// the alphabet of the service's PATs (32 bytes give 52 characters).
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// mustJSON encodes values that always encode (maps of strings and numbers).
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

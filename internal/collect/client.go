package collect

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/audit"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/git"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/identity"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/security"
	"golang.org/x/sync/errgroup"
)

// Credential is how the collector authenticates: a PAT or an Entra token source.
type Credential struct {
	PAT    string
	Tokens TokenSource
}

func (c Credential) header() (func(context.Context) (string, error), error) {
	switch {
	case c.PAT != "":
		h := azuredevops.CreateBasicAuthHeaderValue("", c.PAT)
		return func(context.Context) (string, error) { return h, nil }, nil
	case c.Tokens != nil:
		return func(ctx context.Context) (string, error) {
			tok, err := c.Tokens.Token(ctx)
			if err != nil {
				return "", err
			}
			return "Bearer " + tok, nil
		}, nil
	}
	return nil, errNoCredential
}

// Options tune a Client.
type Options struct {
	Concurrency int // requests in flight (default 8)
	// Budget, if set, is shared with other clients (other organizations of
	// the same run): their requests in flight together stay within it.
	Budget *Budget
	Retry  RetryPolicy
	Logger *slog.Logger
	// Transport is the base transport (default: a clone of http.DefaultTransport).
	Transport http.RoundTripper

	slots chan struct{} // the client's requests in flight (see ownSlot)
}

// Client is a connection to one organization: the v7 clients of every area
// the product reads, all sharing one HTTP client.
type Client struct {
	Org   string // the organization's URL, normalized
	OrgID string // the organization's id, from _apis/connectionData
	// Me is who the credential authenticates as (connectionData's
	// authenticatedUser).
	Me    Identity
	Stats *Stats
	conc  int // requests in flight
	slots chan struct{}
	log   *slog.Logger
	http  *http.Client

	Graph    graph.Client
	Identity identity.Client
	Core     core.Client
	Git      git.Client
	Audit    audit.Client
	Security security.Client     // on the organization URL: the security API has no resource area
	pipes    pipeClients         // pipeline resources and tokens (pipelines.go)
	vsaex    *azuredevops.Client // member entitlements, called raw (see entitlements.go)
	graph    *azuredevops.Client // Graph, for calls whose v7 types drop fields

	// billed is the usage already attributed to earlier runs of this
	// client; a run records what was used since (its first run also
	// carries the discovery requests of Dial).
	billed usage
}

// Area ids of the resource areas the collector uses.
var (
	areaGraph        = uuid.MustParse("bb1e7ec9-e901-4b68-999a-de7012b920f8")
	areaIdentity     = uuid.MustParse("8a3d49b8-91f0-46ef-b33d-dda338c25db3")
	areaEntitlements = uuid.MustParse("68ddce18-2501-45f1-a17b-7931a9922690")
	areaCore         = uuid.MustParse("79134c72-4a58-4b42-976c-04e7115f32bf")
	areaGit          = uuid.MustParse("4e080c62-fa21-4fbc-8fef-2a10a2b38049")
	areaAudit        = uuid.MustParse("94ff054d-5ee1-413d-9341-3f4a7827de2e")
)

// Dial connects to an organization: it builds the transport chain, asks the
// organization where each area lives (resource areas: cloud services have
// their own hosts; an empty answer means Azure DevOps Server, where all
// live under the organization URL) and creates the clients.
func Dial(ctx context.Context, orgURL string, cred Credential, opts Options) (*Client, error) {
	u, err := url.Parse(orgURL)
	if err == nil && u.User != nil {
		// Never repeat such a URL: it holds a credential.
		return nil, errors.New("the organization URL holds a user name or password: credentials go in a PAT or Entra ID, never in the URL")
	}
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("organization URL %q: want https://dev.azure.com/ORG (or an Azure DevOps Server collection URL)", orgURL)
	}
	hc, stats, opts, err := newHTTP(cred, opts)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	// The connection carries no credential: authTransport adds it.
	conn := &azuredevops.Connection{BaseUrl: strings.ToLower(strings.TrimRight(orgURL, "/")), SuppressFedAuthRedirect: true, UserAgent: "ado-access"}
	c := &Client{Org: conn.BaseUrl, Stats: stats, conc: opts.Concurrency, slots: opts.slots, log: log, http: hc}
	clientAt := func(u string) *azuredevops.Client {
		return azuredevops.NewClientWithOptions(conn, strings.ToLower(strings.TrimRight(u, "/")), azuredevops.WithHTTPClient(hc))
	}
	root := clientAt(conn.BaseUrl)
	c.Security = &security.ClientImpl{Client: *root}
	// The services' locations and the connection data, side by side once
	// the root's route templates are in (both need them): a round trip less
	// before every run.
	if err := warmLocations(ctx, root); err != nil {
		return nil, describe("discover the organization's services", "", err)
	}
	var areas *[]azuredevops.ResourceAreaInfo
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		if areas, err = root.GetResourceAreas(gctx); err != nil {
			return describe("discover the organization's services", "", err)
		}
		return nil
	})
	g.Go(func() error { return c.connect(gctx, root) })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	where := map[uuid.UUID]string{}
	for _, a := range *areas {
		if a.Id != nil && a.LocationUrl != nil {
			where[*a.Id] = *a.LocationUrl
		}
	}
	area := func(id uuid.UUID, name string) (*azuredevops.Client, error) {
		if len(*areas) == 0 {
			return root, nil // Azure DevOps Server: everything under the collection URL
		}
		u, ok := where[id]
		if !ok {
			return nil, fmt.Errorf("the organization does not offer the %s API (resource area %s)", name, id)
		}
		return clientAt(u), nil
	}
	// Each service's route templates are fetched once, now, and side by
	// side: the v7 client fetches them on first use without coordination,
	// so concurrent first calls would each fetch them.
	type warm struct {
		name string
		x    *azuredevops.Client
	}
	var warms []warm
	warmed := map[string]bool{}
	for _, a := range []struct {
		id   uuid.UUID
		name string
		set  func(*azuredevops.Client)
	}{
		{areaGraph, "Graph", func(x *azuredevops.Client) { c.Graph, c.graph = &graph.ClientImpl{Client: *x}, x }},
		{areaIdentity, "Identities", func(x *azuredevops.Client) { c.Identity = &identity.ClientImpl{Client: *x} }},
		{areaEntitlements, "Member Entitlement Management", func(x *azuredevops.Client) { c.vsaex = x }},
		{areaCore, "Core", func(x *azuredevops.Client) { c.Core = &core.ClientImpl{Client: *x} }},
		{areaGit, "Git", func(x *azuredevops.Client) { c.Git = &git.ClientImpl{Client: *x} }},
		{areaAudit, "Audit", func(x *azuredevops.Client) { c.Audit = &audit.ClientImpl{Client: *x} }},
		{areaServiceEndpoint, "Service Endpoint", c.pipes.setEndpoints},
		{areaTaskAgent, "Distributed Task", c.pipes.setTasks},
		{areaPipelinePermissions, "Pipeline Permissions", c.pipes.setPerms},
		{areaTokenAdmin, "Token Admin", c.pipes.setTokens},
	} {
		x, err := area(a.id, a.name)
		if err != nil {
			return nil, err
		}
		a.set(x)
		if !warmed[where[a.id]] {
			warmed[where[a.id]] = true
			warms = append(warms, warm{a.name, x})
		}
	}
	err = forEach(ctx, len(warms), warms, func(ctx context.Context, w warm) error {
		if err := warmLocations(ctx, w.x); err != nil {
			return describe("discover the "+w.name+" API", "", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// newChain is the transport chain every request to a service goes
// through (see transport.go): the credential, retries, counting, the limit
// on requests in flight.
// newHTTP is the HTTP client of a connection to the service: the transport
// chain with the credential, over the base transport. It returns opts with
// its defaults filled in (Concurrency, Logger).
func newHTTP(cred Credential, opts Options) (*http.Client, *Stats, Options, error) {
	header, err := cred.header()
	if err != nil {
		return nil, nil, opts, err
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	stats := &Stats{byArea: map[string]int64{}}
	opts.slots = make(chan struct{}, opts.Concurrency)
	return &http.Client{Transport: newChain(header, stats, opts, opts.Logger, baseTransport(opts))}, stats, opts, nil
}

// baseTransport is the transport under the chain: opts.Transport, or one
// that gives up connecting within seconds.
func baseTransport(opts Options) http.RoundTripper {
	if opts.Transport != nil {
		return opts.Transport
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	// A host that does not answer at all fails within seconds (see
	// RetryPolicy.FirstContact), not after the default 30 s.
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConnsPerHost = max(opts.Concurrency, 1) * 2
	t.ResponseHeaderTimeout = 2 * time.Minute
	return t
}

func newChain(header func(context.Context) (string, error), stats *Stats, opts Options, log *slog.Logger, base http.RoundTripper) http.RoundTripper {
	return &authTransport{
		header: header,
		next: &retryTransport{
			policy: opts.Retry.withDefaults(),
			stats:  stats,
			log:    log,
			next: &countTransport{stats: stats, next: &limitTransport{
				sem: slots(opts), global: opts.Budget, next: base,
			}},
		},
	}
}

func slots(opts Options) chan struct{} {
	if opts.slots != nil {
		return opts.slots
	}
	return make(chan struct{}, max(opts.Concurrency, 1))
}

// ownSlot gives a chain of dependent requests (continuation-token pages,
// each waiting for the one before) one of the client's request slots for
// its whole length: its requests never queue behind the independent reads
// that fill the other slots, so a sync lasts about as long as its longest
// chain, not that chain slowed by everything else. release gives the slot
// back. The chain's requests still count against a shared Budget.
func (c *Client) ownSlot(ctx context.Context) (_ context.Context, release func(), err error) {
	if c.slots == nil {
		return ctx, func() {}, nil // a client not dialled: no limit to hold
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx, func() {}, ctx.Err()
	}
	var once sync.Once
	return context.WithValue(ctx, slotHeld{}, true), func() { once.Do(func() { <-c.slots }) }, nil
}

// ends is how many ends a chain read from both ends is read from: two
// when the client has slots enough for each to hold one of its own and
// leave at least two for everything else.
func (c *Client) ends() int {
	if c.slots == nil || cap(c.slots) >= 4 {
		return 2
	}
	return 1
}

// Identity is an identity as the location service names it.
type Identity struct {
	ID          string // identity id (storage key)
	Descriptor  string // subject descriptor, e.g. aad.…
	DisplayName string
}

// locConnectionData is the location service's connectionData.
var locConnectionData = uuid.MustParse("00d9565f-ed9c-4a06-9a50-00e7896ccab4")

// connect reads connectionData: the organization's id, by which a store
// knows its organization whatever URL reaches it, and who the credential
// is.
func (c *Client) connect(ctx context.Context, root *azuredevops.Client) error {
	var cd struct {
		InstanceID        string `json:"instanceId"`
		AuthenticatedUser struct {
			ID                  string `json:"id"`
			SubjectDescriptor   string `json:"subjectDescriptor"`
			ProviderDisplayName string `json:"providerDisplayName"`
		} `json:"authenticatedUser"`
	}
	if err := sendJSON(ctx, root, http.MethodGet, locConnectionData, "7.1-preview.1", nil, nil, &cd); err != nil {
		return describe("connect to the organization", "", err)
	}
	if cd.InstanceID == "" {
		return fmt.Errorf("connect to %s: the service did not say the organization's id (connectionData has no instanceId)", c.Org)
	}
	c.OrgID = strings.ToLower(cd.InstanceID)
	u := cd.AuthenticatedUser
	c.Me = Identity{ID: u.ID, Descriptor: u.SubjectDescriptor, DisplayName: u.ProviderDisplayName}
	return nil
}

// warmLocations makes the v7 client fetch and cache a service's route
// templates: asking for a location id no service has fetches them and then
// fails locally, without sending the request.
func warmLocations(ctx context.Context, x *azuredevops.Client) error {
	_, err := x.Send(ctx, http.MethodGet, uuid.Nil, "", nil, nil, nil, "", "application/json", nil)
	var missing *azuredevops.LocationIdNotRegisteredError
	if errors.As(err, &missing) {
		return nil
	}
	var missingValue azuredevops.LocationIdNotRegisteredError
	if errors.As(err, &missingValue) {
		return nil
	}
	return err
}

// sendJSON calls an endpoint the v7 client does not wrap usefully and
// decodes the answer into out.
func sendJSON(ctx context.Context, cl *azuredevops.Client, method string, location uuid.UUID, version string, route map[string]string, query url.Values, out any) error {
	resp, err := cl.Send(ctx, method, location, version, route, query, nil, "", "application/json", nil)
	if err != nil {
		return err
	}
	return decodeBody(resp, out)
}

// sendJSONBody is sendJSON with a JSON request body.
func sendJSONBody(ctx context.Context, cl *azuredevops.Client, method string, location uuid.UUID, version string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := cl.Send(ctx, method, location, version, nil, nil, bytes.NewReader(b), "application/json", "application/json", nil)
	if err != nil {
		return err
	}
	return decodeBody(resp, out)
}

func decodeBody(resp *http.Response, out any) error {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return json.Unmarshal(bytes.TrimPrefix(b, []byte("\ufeff")), out)
}

// Scope hints: which PAT scope (and portal name) each area needs to read.
var scopeHints = map[string]string{
	"profile":      "User Profile (Read), vso.profile",
	"graph":        "Graph (Read), vso.graph",
	"identity":     "Identity (Read), vso.identity",
	"entitlements": "Member Entitlement Management (Read), vso.memberentitlementmanagement",
	"core":         "Project and Team (Read), vso.project",
	"git":          "Code (Read), vso.code",
	"audit":        "Audit Log (Read), vso.auditlog",
	"security":     "Security (Manage), vso.security_manage (the service has no read-only scope for permissions), or --no-permissions",
	// Writes, for 'exporter apply'.
	"graph-write":        "Graph (Read & manage), vso.graph_manage",
	"entitlements-write": "Member Entitlement Management (Read & write), vso.memberentitlementmanagement_write",
}

// Error kinds a caller may decide on.
var (
	ErrUnauthorized = errors.New("authentication failed")
	ErrForbidden    = errors.New("permission denied")
)

// statusOf extracts the HTTP status of a v7 client error (which comes as
// a WrappedError value or pointer), or 0.
func statusOf(err error) (int, string) {
	var we azuredevops.WrappedError
	if errors.As(err, &we) && we.StatusCode != nil {
		return *we.StatusCode, deref(we.Message)
	}
	var wp *azuredevops.WrappedError
	if errors.As(err, &wp) && wp.StatusCode != nil {
		return *wp.StatusCode, deref(wp.Message)
	}
	return 0, ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// describe turns a client error into one line that says what was being
// done and, for 401 and 403, what to fix. It never includes a credential.
func describe(doing, area string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err // the transport's own message names the request without its query
	}
	var unreachable *UnreachableError
	if errors.As(err, &unreachable) {
		return fmt.Errorf("%s: %w", doing, unreachable)
	}
	status, msg := statusOf(err)
	switch status {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w while trying to %s (HTTP 401): the PAT or token is not valid for this organization or has expired", ErrUnauthorized, doing)
	case http.StatusForbidden:
		hint := ""
		if h := scopeHints[area]; h != "" {
			hint = "; the credential needs " + h
		}
		return fmt.Errorf("%w while trying to %s (HTTP 403)%s. The service said: %s", ErrForbidden, doing, hint, oneLine(msg))
	case 0:
		var ne net.Error
		if errors.As(err, &ne) {
			return fmt.Errorf("%s: network error: %w", doing, err)
		}
		return fmt.Errorf("%s: %w", doing, err)
	}
	return &describedError{msg: fmt.Sprintf("%s: HTTP %d: %s", doing, status, oneLine(msg)), err: err}
}

// describedError is a failed call in one line. It keeps its cause, so
// what classifies the failure (HTTPStatus, Transient, ErrNotFound) sees
// the answer's status through it: a permanent 404 is not sent again.
type describedError struct {
	msg string
	err error
}

func (e *describedError) Error() string { return e.msg }
func (e *describedError) Unwrap() error { return e.err }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// isExpiredToken reports whether err is the service refusing a
// continuation token (expired or invalid): the listing must start over.
func isExpiredToken(err error) bool {
	status, msg := statusOf(err)
	return status == http.StatusBadRequest && strings.Contains(strings.ToLower(msg), "continuation token")
}

// groupSID is the SID inside a group descriptor (vssgp./aadgp.), from which
// the legacy identity descriptor the Identities API uses is formed.
func groupSID(descriptor string) string {
	_, enc, ok := strings.Cut(descriptor, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return ""
	}
	return string(b)
}

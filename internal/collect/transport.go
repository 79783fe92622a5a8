package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The HTTP client every Azure DevOps request goes through is a chain of
// small RoundTrippers, outermost first:
//
//	authTransport   sets the Authorization header (PAT or a fresh Entra token)
//	retryTransport  retries 429, 5xx and cut connections with backoff and jitter,
//	                honours Retry-After and X-RateLimit-Delay, buffers bodies
//	countTransport  counts every attempt by area and tracks the service's clock
//	limitTransport  bounds the requests in flight
//
// None of them ever logs or returns a credential.

// Stats counts requests. It is shared by the transports of one client.
type Stats struct {
	mu      sync.Mutex
	byArea  map[string]int64
	total   atomic.Int64
	retries atomic.Int64
	// skew is the service's clock minus ours, from the Date header.
	skew atomic.Int64
}

// Requests returns the attempts made so far, in total and by area.
func (s *Stats) Requests() (int64, map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.byArea))
	for k, v := range s.byArea {
		out[k] = v
	}
	return s.total.Load(), out
}

// Retries is how many attempts were retries.
func (s *Stats) Retries() int64 { return s.retries.Load() }

// usage is a copy of the counters, so that one client's requests can be
// attributed to the runs it makes one after another.
type usage struct {
	total, retries int64
	byArea         map[string]int64
}

func (s *Stats) usage() usage {
	total, areas := s.Requests()
	return usage{total: total, retries: s.Retries(), byArea: areas}
}

// minus is what was used since an earlier copy.
func (u usage) minus(earlier usage) usage {
	out := usage{total: u.total - earlier.total, retries: u.retries - earlier.retries, byArea: map[string]int64{}}
	for k, v := range u.byArea {
		if d := v - earlier.byArea[k]; d > 0 {
			out.byArea[k] = d
		}
	}
	return out
}

// ServerNow is the service's clock as last seen in a Date header (our clock
// when no answer carried one).
func (s *Stats) ServerNow() time.Time { return time.Now().Add(time.Duration(s.skew.Load())).UTC() }

// areaOf names the API area a request belongs to, for request counts.
func areaOf(r *http.Request) string {
	if r.Method == http.MethodOptions {
		return "discovery"
	}
	p := strings.ToLower(r.URL.Path)
	_, rest, ok := strings.Cut(p, "/_apis/")
	if !ok {
		if strings.Contains(p, "/v1.0/") {
			return "msgraph"
		}
		return "other"
	}
	seg, _, _ := strings.Cut(rest, "/")
	switch seg {
	case "graph":
		return "graph"
	case "identities", "identitybatch":
		return "identity"
	case "userentitlements", "groupentitlements", "serviceprincipalentitlements", "memberentitlements":
		return "entitlements"
	case "projects", "teams":
		return "core"
	case "git":
		return "git"
	case "audit":
		return "audit"
	case "resourceareas":
		return "discovery"
	case "securitynamespaces", "accesscontrollists", "accesscontrolentries", "permissions", "security":
		return "security"
	case "accounts", "profile":
		return "accounts"
	case "pipelines":
		if strings.HasPrefix(rest, "pipelines/checks/") {
			return "checks"
		}
	}
	return seg
}

// maxClockNoise is the clock difference below which our clock is trusted
// over the service's Date header.
const maxClockNoise = 5 * time.Second

type countTransport struct {
	next  http.RoundTripper
	stats *Stats
}

func (t *countTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	// Go's transport sends a request again by itself when a kept-alive
	// connection turns out to be closed: count what was written to the
	// wire, not calls (at least one: an attempt that never connected).
	var writes atomic.Int64
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { writes.Add(1) }}
	resp, err := t.next.RoundTrip(r.WithContext(httptrace.WithClientTrace(r.Context(), trace)))
	n := max(writes.Load(), 1)
	area := areaOf(r)
	t.stats.total.Add(n)
	t.stats.mu.Lock()
	t.stats.byArea[area] += n
	t.stats.mu.Unlock()
	if n > 1 {
		t.stats.retries.Add(n - 1)
	}
	if err == nil {
		if d, perr := http.ParseTime(resp.Header.Get("Date")); perr == nil {
			// The header has whole seconds: a skew of a few seconds is
			// noise, and taking it would make times of runs made close
			// together go backwards. Only a real difference is kept.
			skew := time.Until(d)
			if skew > -maxClockNoise && skew < maxClockNoise {
				skew = 0
			}
			t.stats.skew.Store(int64(skew))
		}
	}
	return resp, err
}

// limitTransport bounds the number of requests in flight: the client's
// own, then, if the client shares one, the budget of every client of a
// run. Requests waiting out a Retry-After wait before this, holding no slot,
// so a throttled organization does not starve the others.
type limitTransport struct {
	next   http.RoundTripper
	sem    chan struct{}
	global *Budget
}

// slotHeld marks the context of a request whose chain holds a slot of its
// own (see Client.ownSlot).
type slotHeld struct{}

func (t *limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if held, _ := r.Context().Value(slotHeld{}).(bool); !held {
		select {
		case t.sem <- struct{}{}:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
		defer func() { <-t.sem }()
	}
	if t.global != nil {
		select {
		case t.global.sem <- struct{}{}:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
		defer func() { <-t.global.sem }()
	}
	return t.next.RoundTrip(r)
}

// A Budget bounds the requests in flight across several clients, one per
// organization, while each client's Concurrency caps its own organization.
type Budget struct{ sem chan struct{} }

// NewBudget allows n requests in flight at once.
func NewBudget(n int) *Budget { return &Budget{sem: make(chan struct{}, max(n, 1))} }

// RetryPolicy says how hard to try.
type RetryPolicy struct {
	// Budget is how long one request may go on retrying, its waits
	// included (default 10 minutes). Waits the service asks for
	// (Retry-After) count against it, so a long burst of throttling is
	// waited out rather than failing after a number of attempts.
	Budget    time.Duration
	BaseDelay time.Duration // first backoff (default 500ms), doubling, with jitter
	MaxDelay  time.Duration // cap of one backoff (default 30s)
	// MaxRetryAfter caps a wait the service asks for with Retry-After
	// (default 5m); longer waits fail the request instead.
	MaxRetryAfter time.Duration
	// FirstContact is the budget until the service has answered once
	// (default 5s): a wrong host or a closed port fails within seconds,
	// while failures after the service has answered get the full Budget.
	FirstContact time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Budget <= 0 {
		p.Budget = 10 * time.Minute
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 500 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 30 * time.Second
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 5 * time.Minute
	}
	if p.FirstContact <= 0 {
		p.FirstContact = 5 * time.Second
	}
	return p
}

// retryTransport retries what is safe to retry: reads (GET, HEAD, OPTIONS)
// and the POSTs that only read (identity batches, subject lookups).
type retryTransport struct {
	next   http.RoundTripper
	policy RetryPolicy
	stats  *Stats
	// gate holds back every request until the service's Retry-After passes,
	// so one throttled answer slows the whole client, not one goroutine.
	gate atomic.Int64 // unix nanos
	// answered is set once the service has answered anything at all.
	answered atomic.Bool
	log      *slog.Logger
	// maxAnswer bounds one answer's body (0: maxAnswerBytes).
	maxAnswer int64
}

// maxAnswerBytes is the most one answer may hold: far above the largest
// page or ACL query the service sends, it only stops a body that never
// ends from filling the memory.
const maxAnswerBytes = 512 << 20

func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	case http.MethodPost:
		// Reads that take their question in a body (Check Configurations -
		// Query needs only vso.build, a read scope).
		p := strings.ToLower(r.URL.Path)
		return strings.HasSuffix(p, "/_apis/identitybatch") || strings.HasSuffix(p, "/_apis/graph/subjectlookup") ||
			strings.HasSuffix(p, "/_apis/pipelines/checks/queryconfigurations")
	}
	return false
}

func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusInternalServerError ||
		code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// UnreachableError is a service that has not answered at all: a wrong
// host, a closed port, no network or a proxy in the way.
type UnreachableError struct {
	Host string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s: %v; check the organization URL, the network and any proxy", e.Host, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

func (t *retryTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	canRetry := idempotent(r)
	start := time.Now()
	var lastErr error
	for attempt := 1; ; attempt++ {
		if err := t.waitGate(r.Context()); err != nil {
			return nil, err
		}
		req := r.Clone(r.Context())
		if body != nil {
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.ContentLength = int64(len(body))
		}
		resp, err := t.next.RoundTrip(req)
		var wait time.Duration
		asked := false // the service said how long to wait (Retry-After)
		throttled := false
		switch {
		case err != nil:
			if r.Context().Err() != nil {
				return nil, r.Context().Err()
			}
			lastErr = fmt.Errorf("%s %s: %w", r.Method, redactURL(r), err)
		case retryableStatus(resp.StatusCode):
			t.answered.Store(true)
			wait, asked = retryAfterHeader(resp.Header)
			if wait > t.policy.MaxRetryAfter {
				resp.Body.Close()
				return nil, fmt.Errorf("%s %s: the service asks to wait %v (Retry-After), longer than the %v allowed", r.Method, redactURL(r), wait, t.policy.MaxRetryAfter)
			}
			throttled = resp.StatusCode == http.StatusTooManyRequests
			if wait > 0 && t.hold(wait) && t.log != nil {
				t.log.Info(fmt.Sprintf("throttled by the service: waiting %v (Retry-After)", wait.Round(100*time.Millisecond)), "status", resp.StatusCode, "request", redactURL(r))
			}
			lastErr = fmt.Errorf("%s %s: %s", r.Method, redactURL(r), resp.Status)
			if !canRetry || t.spent(start, wait) {
				return resp, nil // let the caller see the service's answer
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
		default:
			t.answered.Store(true)
			// Read the whole body here, so that a connection cut halfway
			// through is retried like one cut before the answer.
			limit := t.maxAnswer
			if limit <= 0 {
				limit = maxAnswerBytes
			}
			b, rerr := io.ReadAll(io.LimitReader(resp.Body, limit+1))
			resp.Body.Close()
			if rerr == nil && int64(len(b)) > limit {
				return nil, fmt.Errorf("%s %s: the answer is larger than %d MiB, the most one answer may hold", r.Method, redactURL(r), limit>>20)
			}
			if rerr == nil {
				resp.Body = io.NopCloser(bytes.NewReader(b))
				resp.ContentLength = int64(len(b))
				if d := retryAfter(resp.Header); d > 0 && d <= t.policy.MaxRetryAfter {
					t.hold(d) // a Retry-After on a success paces what follows
				}
				return resp, nil
			}
			if r.Context().Err() != nil {
				return nil, r.Context().Err()
			}
			lastErr = fmt.Errorf("%s %s: reading the answer: %w", r.Method, redactURL(r), rerr)
		}
		// The service's Retry-After is the wait; without one, back off.
		if !asked {
			wait = max(wait, t.backoff(attempt))
		} else {
			wait = max(wait, minRetryWait)
		}
		if !t.answered.Load() && err != nil {
			// Nothing has ever answered: fail within seconds.
			if time.Since(start)+wait > t.policy.FirstContact {
				return nil, &UnreachableError{Host: r.URL.Scheme + "://" + r.URL.Host, Err: unwrapURLError(err)}
			}
		} else if !canRetry || t.spent(start, wait) {
			return nil, fmt.Errorf("giving up after %d attempts in %v: %w", attempt, time.Since(start).Round(time.Millisecond), lastErr)
		}
		t.stats.retries.Add(1)
		if t.log != nil && !throttled {
			t.log.Debug("retrying request", "attempt", attempt+1, "wait", wait.Round(time.Millisecond), "cause", lastErr)
		}
		if err := sleep(r.Context(), wait); err != nil {
			return nil, err
		}
	}
}

// spent reports whether waiting wait more would exceed the request's
// retry budget.
func (t *retryTransport) spent(start time.Time, wait time.Duration) bool {
	return time.Since(start)+wait > t.policy.Budget
}

// unwrapURLError drops the *url.Error wrapper, whose message repeats the
// request's URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// backoff is exponential with jitter between half and all of the step.
func (t *retryTransport) backoff(attempt int) time.Duration {
	d := t.policy.BaseDelay << (attempt - 1)
	if d > t.policy.MaxDelay || d <= 0 {
		d = t.policy.MaxDelay
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// hold holds every request back for d; it reports whether that moved the
// gate later by more than a second (a new wait, worth logging once).
func (t *retryTransport) hold(d time.Duration) bool {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := t.gate.Load()
		if cur >= until {
			return false
		}
		if t.gate.CompareAndSwap(cur, until) {
			return until-cur > int64(time.Second)
		}
	}
}

func (t *retryTransport) waitGate(ctx context.Context) error {
	if d := time.Until(time.Unix(0, t.gate.Load())); d > 0 {
		return sleep(ctx, d)
	}
	return nil
}

// minRetryWait is the least a retry waits when the service says to retry
// at once (Retry-After: 0), so that a service repeating it is not hammered.
const minRetryWait = 50 * time.Millisecond

// retryAfter reads Retry-After (seconds or an HTTP date) and, when the
// service delayed the request itself, X-RateLimit-Delay is only reported.
func retryAfter(h http.Header) time.Duration {
	d, _ := retryAfterHeader(h)
	return d
}

// retryAfterHeader is retryAfter, and whether the header was there at all.
func retryAfterHeader(h http.Header) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second)), true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(time.Until(at), 0), true
	}
	return 0, false
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// redactURL is the URL without its query string: continuation tokens and
// filters are noise in messages, and a URL never carries a credential here.
func redactURL(r *http.Request) string {
	u := *r.URL
	u.RawQuery = ""
	u.User = nil
	return u.String()
}

// TokenSource supplies bearer tokens (Entra); it is called for every
// request and is expected to cache.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// authTransport sets the Authorization header. The v7 clients are built with
// an empty authorization string, so this is the only place a credential
// enters a request.
type authTransport struct {
	next   http.RoundTripper
	header func(ctx context.Context) (string, error)
}

func (t *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h, err := t.header(r.Context())
	if err != nil {
		return nil, fmt.Errorf("get a token for Azure DevOps: %w", err)
	}
	req := r.Clone(r.Context())
	req.Header.Set("Authorization", h)
	return t.next.RoundTrip(req)
}

// errNoCredential is returned when neither a PAT nor Entra auth is set up.
var errNoCredential = errors.New("no credential: set ADO_PAT (or --pat-file), or use --auth entra")

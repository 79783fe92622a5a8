package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
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
	area := areaOf(r)
	t.stats.total.Add(1)
	t.stats.mu.Lock()
	t.stats.byArea[area]++
	t.stats.mu.Unlock()
	resp, err := t.next.RoundTrip(r)
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

// limitTransport bounds the number of requests in flight.
type limitTransport struct {
	next http.RoundTripper
	sem  chan struct{}
}

func (t *limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	select {
	case t.sem <- struct{}{}:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	defer func() { <-t.sem }()
	return t.next.RoundTrip(r)
}

// RetryPolicy says how hard to try.
type RetryPolicy struct {
	MaxAttempts int           // per request, first try included (default 8)
	BaseDelay   time.Duration // first backoff (default 500ms), doubling, with jitter
	MaxDelay    time.Duration // cap of one backoff (default 30s)
	// MaxRetryAfter caps a wait the service asks for with Retry-After
	// (default 5m); longer waits fail the request instead.
	MaxRetryAfter time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 8
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
	log  func(msg string, args ...any)
}

func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	case http.MethodPost:
		p := strings.ToLower(r.URL.Path)
		return strings.HasSuffix(p, "/_apis/identitybatch") || strings.HasSuffix(p, "/_apis/graph/subjectlookup")
	}
	return false
}

func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusInternalServerError ||
		code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

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
		switch {
		case err != nil:
			if r.Context().Err() != nil {
				return nil, r.Context().Err()
			}
			lastErr = fmt.Errorf("%s %s: %w", r.Method, redactURL(r), err)
		case retryableStatus(resp.StatusCode):
			wait = retryAfter(resp.Header)
			if wait > t.policy.MaxRetryAfter {
				resp.Body.Close()
				return nil, fmt.Errorf("%s %s: the service asks to wait %v (Retry-After), longer than the %v allowed", r.Method, redactURL(r), wait, t.policy.MaxRetryAfter)
			}
			if wait > 0 {
				t.hold(wait)
			}
			lastErr = fmt.Errorf("%s %s: %s", r.Method, redactURL(r), resp.Status)
			if attempt >= t.policy.MaxAttempts || !canRetry {
				return resp, nil // let the caller see the service's answer
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
		default:
			// Read the whole body here, so that a connection cut halfway
			// through is retried like one cut before the answer.
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
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
		if !canRetry || attempt >= t.policy.MaxAttempts {
			return nil, fmt.Errorf("giving up after %d attempts: %w", attempt, lastErr)
		}
		if backoff := t.backoff(attempt); backoff > wait {
			wait = backoff
		}
		t.stats.retries.Add(1)
		if t.log != nil {
			t.log("retrying request", "attempt", attempt+1, "wait", wait.Round(time.Millisecond), "cause", lastErr)
		}
		if err := sleep(r.Context(), wait); err != nil {
			return nil, err
		}
	}
}

// backoff is exponential with jitter between half and all of the step.
func (t *retryTransport) backoff(attempt int) time.Duration {
	d := t.policy.BaseDelay << (attempt - 1)
	if d > t.policy.MaxDelay || d <= 0 {
		d = t.policy.MaxDelay
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func (t *retryTransport) hold(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := t.gate.Load()
		if cur >= until || t.gate.CompareAndSwap(cur, until) {
			return
		}
	}
}

func (t *retryTransport) waitGate(ctx context.Context) error {
	if d := time.Until(time.Unix(0, t.gate.Load())); d > 0 {
		return sleep(ctx, d)
	}
	return nil
}

// retryAfter reads Retry-After (seconds or an HTTP date) and, when the
// service delayed the request itself, X-RateLimit-Delay is only reported.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if at, err := http.ParseTime(v); err == nil {
		return time.Until(at)
	}
	return 0
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

package collect

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newTestClient builds the same transport chain Dial builds, around a
// scripted server, with short backoffs.
func newTestClient(t *testing.T, h http.HandlerFunc, policy RetryPolicy, conc int) (*http.Client, *Stats, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if policy.BaseDelay == 0 {
		policy.BaseDelay = time.Millisecond
	}
	stats := &Stats{byArea: map[string]int64{}}
	rt := &authTransport{
		header: func(context.Context) (string, error) { return "Basic c2VjcmV0", nil },
		next: &retryTransport{policy: policy.withDefaults(), stats: stats,
			next: &countTransport{stats: stats, next: &limitTransport{sem: make(chan struct{}, conc), next: http.DefaultTransport}}},
	}
	return &http.Client{Transport: rt}, stats, srv.URL
}

func TestRetriesServerErrorsAndThrottling(t *testing.T) {
	var n atomic.Int32
	hc, stats, url := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			io.WriteString(w, `{"ok":true}`)
		}
	}, RetryPolicy{}, 4)
	start := time.Now()
	resp, err := hc.Get(url + "/org/_apis/graph/users")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != `{"ok":true}` {
		t.Fatalf("body %q", b)
	}
	if time.Since(start) < time.Second {
		t.Errorf("Retry-After: 1 was not honoured (took %v)", time.Since(start))
	}
	total, areas := stats.Requests()
	if total != 3 || areas["graph"] != 3 || stats.Retries() != 2 {
		t.Fatalf("total %d areas %v retries %d; want 3 graph requests, 2 retries", total, areas, stats.Retries())
	}
}

// A connection cut in the middle of the body is retried: the transport
// reads whole bodies before handing them on.
func TestRetriesBodyCutMidway(t *testing.T) {
	var n atomic.Int32
	hc, _, url := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			conn, buf, _ := w.(http.Hijacker).Hijack()
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"value\":[")
			buf.Flush()
			conn.Close()
			return
		}
		io.WriteString(w, `{"value":[]}`)
	}, RetryPolicy{}, 4)
	resp, err := hc.Get(url + "/org/_apis/projects")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != `{"value":[]}` || n.Load() != 2 {
		t.Fatalf("body %q after %d attempts", b, n.Load())
	}
}

func TestWritesAreNotRetried(t *testing.T) {
	var n atomic.Int32
	hc, _, url := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}, RetryPolicy{}, 4)
	resp, err := hc.Post(url+"/org/_apis/graph/groups", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || n.Load() != 1 {
		t.Fatalf("status %d after %d attempts; a write must be tried once", resp.StatusCode, n.Load())
	}
	// An identity batch only reads: it is retried, with its body replayed.
	n.Store(0)
	var bodies []string
	var mu sync.Mutex
	hc2, _, url2 := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		io.WriteString(w, `{"count":0,"value":[]}`)
	}, RetryPolicy{}, 4)
	resp, err = hc2.Post(url2+"/_vssps/org/_apis/IdentityBatch", "application/json", strings.NewReader(`{"descriptors":["x"]}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("identity batch: %v %v", resp, err)
	}
	if len(bodies) != 2 || bodies[1] != `{"descriptors":["x"]}` {
		t.Fatalf("bodies %q", bodies)
	}
}

func TestGivesUpWithAClearError(t *testing.T) {
	hc, stats, url := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}, RetryPolicy{MaxAttempts: 3}, 4)
	_, err := hc.Get(url + "/org/_apis/git/repositories?continuationToken=abc")
	if err == nil || !strings.Contains(err.Error(), "giving up after 3 attempts") {
		t.Fatalf("err = %v", err)
	}
	msg := describe("list repositories", "git", err).Error()
	if strings.Contains(msg, "continuationToken") || strings.Contains(msg, "c2VjcmV0") || !strings.HasPrefix(msg, "list repositories: ") {
		t.Fatalf("described error = %q; want what was done, no query, no credential", msg)
	}
	if total, _ := stats.Requests(); total != 3 {
		t.Fatalf("%d attempts, want 3", total)
	}
}

func TestRetryAfterBeyondLimitFails(t *testing.T) {
	hc, _, url := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	}, RetryPolicy{MaxRetryAfter: time.Minute}, 4)
	_, err := hc.Get(url + "/org/_apis/projects")
	if err == nil || !strings.Contains(err.Error(), "Retry-After") {
		t.Fatalf("err = %v", err)
	}
}

func TestAuthorizationIsSetAndConcurrencyBounded(t *testing.T) {
	var inFlight, peak atomic.Int32
	hc, _, url := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Basic c2VjcmV0" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		cur := inFlight.Add(1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		inFlight.Add(-1)
	}, RetryPolicy{}, 3)
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := hc.Get(url + "/org/_apis/projects")
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("request: %v %v", resp, err)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	if peak.Load() > 3 || peak.Load() < 2 {
		t.Fatalf("peak in flight %d, want at most 3 (and some concurrency)", peak.Load())
	}
}

func TestAreaOf(t *testing.T) {
	for path, want := range map[string]string{
		"/_vssps/org/_apis/Graph/Users":                    "graph",
		"/_vssps/org/_apis/IdentityBatch":                  "identity",
		"/_vsaex/org/_apis/UserEntitlements":               "entitlements",
		"/org/_apis/projects/p/teams/t/members":            "core",
		"/org/_apis/git/repositories":                      "git",
		"/_audit/org/_apis/audit/auditlog":                 "audit",
		"/org/_apis/ResourceAreas":                         "discovery",
		"/org/project/_apis/git/repositories":              "git",
		"/org/_apis/accesscontrollists/2e9eb7ed-3c0a-47d4": "security",
	} {
		r := httptest.NewRequest(http.MethodGet, "http://x"+path, nil)
		if got := areaOf(r); got != want {
			t.Errorf("areaOf(%s) = %s, want %s", path, got, want)
		}
	}
}

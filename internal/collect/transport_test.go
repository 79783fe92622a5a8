package collect

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
	var n atomic.Int32
	hc, stats, url := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			io.WriteString(w, `{}`) // the service answered once...
			return
		}
		conn, _, _ := w.(http.Hijacker).Hijack() // ...then cuts every connection
		conn.Close()
	}, RetryPolicy{Budget: 300 * time.Millisecond, MaxDelay: 50 * time.Millisecond}, 4)
	if resp, err := hc.Get(url + "/org/_apis/projects"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	start := time.Now()
	_, err := hc.Get(url + "/org/_apis/git/repositories?continuationToken=abc")
	if err == nil || !strings.Contains(err.Error(), "giving up after") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Errorf("gave up after %v, want about the 300ms budget", d)
	}
	msg := describe("list repositories", "git", err).Error()
	if strings.Contains(msg, "continuationToken") || strings.Contains(msg, "c2VjcmV0") || !strings.HasPrefix(msg, "list repositories: ") {
		t.Fatalf("described error = %q; want what was done, no query, no credential", msg)
	}
	if total, _ := stats.Requests(); total < 3 {
		t.Fatalf("%d attempts, want retries within the budget", total)
	}
}

// A host that never answers fails within seconds, with a message that
// says what to check; it is not retried for the whole budget.
func TestUnreachableFailsFast(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String()
	ln.Close()
	for _, base := range []string{closed, "http://no-such-host.invalid"} {
		hc, _, _ := newTestClient(t, func(http.ResponseWriter, *http.Request) {}, RetryPolicy{FirstContact: 500 * time.Millisecond}, 4)
		start := time.Now()
		_, err := hc.Get(base + "/org/_apis/ResourceAreas")
		var unreachable *UnreachableError
		if !errors.As(err, &unreachable) || !strings.Contains(err.Error(), "check the organization URL") {
			t.Fatalf("%s: err = %v, want UnreachableError", base, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: failed after %v, want within the first-contact budget", base, d)
		}
	}
}

// A burst of throttling longer than any fixed number of attempts is
// waited out, and each new wait is logged at info level.
func TestThrottlingBurstIsWaitedOut(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	var logs strings.Builder
	var mu sync.Mutex
	hc, stats, url := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if k := n.Add(1); k <= 12 {
			if k == 1 {
				w.Header().Set("Retry-After", "1")
			}
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, `{}`)
	}, RetryPolicy{MaxDelay: 5 * time.Millisecond}, 4)
	hc.Transport.(*authTransport).next.(*retryTransport).log = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	resp, err := hc.Get(url + "/org/_apis/graph/users")
	if err != nil {
		t.Fatalf("after 12 throttled answers: %v", err)
	}
	resp.Body.Close()
	if total, _ := stats.Requests(); total != 13 {
		t.Errorf("%d requests, want 13", total)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "throttled by the service: waiting 1s (Retry-After)") || !strings.Contains(logs.String(), "level=INFO") {
		t.Errorf("log = %q, want the wait at info level", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// When a kept-alive connection turns out closed, Go's transport sends the
// request again by itself; that second request is counted too.
func TestTransportsOwnRetriesAreCounted(t *testing.T) {
	t.Parallel()
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 2 {
			// The second request arrives on the kept-alive connection of
			// the first; close it without an answer.
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	stats := &Stats{byArea: map[string]int64{}}
	rt := &retryTransport{policy: RetryPolicy{BaseDelay: time.Millisecond}.withDefaults(), stats: stats,
		next: &countTransport{stats: stats, next: &http.Transport{}}}
	hc := &http.Client{Transport: rt}
	for range 2 {
		resp, err := hc.Get(srv.URL + "/org/_apis/projects")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	total, _ := stats.Requests()
	if served.Load() != 3 || total != 3 {
		t.Fatalf("counted %d requests, the server saw %d; want 3 and 3", total, served.Load())
	}
}

// A chain that owns a slot is never queued behind the reads that fill the
// others, the client still stays within its concurrency, and the slot goes
// back to the others when the chain ends.
func TestChainOwnsASlot(t *testing.T) {
	block := make(chan struct{})
	var slow, most atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			n := slow.Add(1)
			defer slow.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-block
		}
		io.WriteString(w, "{}")
	}))
	t.Cleanup(srv.Close)
	hc, _, opts, err := newHTTP(Credential{PAT: "secret"}, Options{Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{slots: opts.slots}
	get := func(ctx context.Context, path string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	chain, release, err := c.ownSlot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); get(context.Background(), "/slow") }()
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("two reads in flight", func() bool { return slow.Load() == 2 })
	// The other slots are full: a request without a slot of its own waits.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	if err := get(ctx, "/page"); err == nil {
		t.Fatal("a request got through with every slot taken")
	}
	cancel()
	// The chain's pages go through at once, one after the other.
	for i := range 5 {
		ctx, cancel := context.WithTimeout(chain, 2*time.Second)
		if err := get(ctx, "/page"); err != nil {
			t.Fatalf("page %d of the chain: %v", i, err)
		}
		cancel()
	}
	if most.Load() > 2 {
		t.Fatalf("%d reads in flight beside the chain, want at most 2", most.Load())
	}
	release()
	release() // twice is harmless
	waitFor("the chain's slot to go to the reads", func() bool { return slow.Load() == 3 })
	close(block)
	wg.Wait()
}

// An answer larger than the limit is refused, not read into memory whole,
// and the error says which limit and which request (a body that never ends
// would otherwise fill the memory).
func TestAnswerOverTheLimitIsRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 3<<20))
	}))
	defer srv.Close()
	stats := &Stats{byArea: map[string]int64{}}
	rt := &retryTransport{policy: RetryPolicy{BaseDelay: time.Millisecond}.withDefaults(), stats: stats, maxAnswer: 2 << 20,
		next: &countTransport{stats: stats, next: &http.Transport{}}}
	_, err := (&http.Client{Transport: rt}).Get(srv.URL + "/org/_apis/projects")
	if err == nil || !strings.Contains(err.Error(), "larger than 2 MiB") || !strings.Contains(err.Error(), "/org/_apis/projects") {
		t.Fatalf("a 3 MiB answer under a 2 MiB limit: %v", err)
	}
	if total, _ := stats.Requests(); total != 1 {
		t.Fatalf("sent %d times, want once (too large is not retried)", total)
	}
	rt.maxAnswer = 4 << 20
	resp, err := (&http.Client{Transport: rt}).Get(srv.URL + "/org/_apis/projects")
	if err != nil {
		t.Fatalf("a 3 MiB answer under a 4 MiB limit: %v", err)
	}
	resp.Body.Close()
}

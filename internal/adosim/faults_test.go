package adosim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"
)

// pagingSpec has more users than a page of Graph users (500) or of user
// entitlements (100) holds, and generates in milliseconds.
var pagingSpec = Spec{Users: 1200, ServicePrincipals: 2, OrgGroups: 3, EntraGroups: 2, EntraGroupSize: 5, Projects: 2, MaxRepos: 1, MembershipsPerUser: 2, NestingDepth: 2, AuditHistory: 10}

func graphUsersURL(s *Server) string { return s.BaseURL() + "/_vssps/fabrikam/_apis/graph/users" }

// faultDelta is how many faults of a kind Stats counted since before.
func faultDelta(s *Server, before map[string]int64, kind string) int64 {
	return s.Stats().Faults[kind] - before[kind]
}

func TestFaultThrottling(t *testing.T) {
	t.Parallel()
	t.Run("rate", func(t *testing.T) {
		t.Parallel()
		s := startSim(t, Options{Faults: Faults{Rate429: 1, RetryAfter: Duration(1500 * time.Millisecond), Paths: []string{"/_apis/graph/users"}}})
		conn := patConn(s, "readonly")
		before := s.Stats().Faults
		_, err := mustClient(t, graph.NewClient, conn).ListUsers(context.Background(), graph.ListUsersArgs{})
		wantStatus(t, err, http.StatusTooManyRequests, "list users under a 429 rate of 1")
		if !strings.Contains(err.Error(), "TF400733") {
			t.Errorf("429 message %q lacks TF400733", err)
		}
		if _, err := mustClient(t, core.NewClient, conn).GetProjects(context.Background(), core.GetProjectsArgs{}); err != nil {
			t.Errorf("projects are outside the fault's paths, got %v", err)
		}
		resp, body := rawRequest{url: graphUsersURL(s), token: s.Credential("readonly")}.send(t)
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "RequestBlockedException") {
			t.Fatalf("raw: %d %s", resp.StatusCode, body)
		}
		h := resp.Header
		if h.Get("Retry-After") != "2" || h.Get("X-RateLimit-Resource") == "" || h.Get("X-RateLimit-Limit") != "200" || h.Get("X-RateLimit-Remaining") != "0" {
			t.Errorf("429 headers: %v", h)
		}
		date, err := http.ParseTime(h.Get("Date"))
		reset, err2 := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
		if err != nil || err2 != nil || reset-date.Unix() < 1 || reset-date.Unix() > 3 {
			t.Errorf("X-RateLimit-Reset %q is not about Retry-After after Date %q", h.Get("X-RateLimit-Reset"), h.Get("Date"))
		}
		if n := faultDelta(s, before, "429"); n != 2 {
			t.Errorf("Stats counted %d 429s, want 2", n)
		}
	})
	t.Run("partial rate", func(t *testing.T) {
		t.Parallel()
		s := startSim(t, Options{Faults: Faults{Rate429: 0.3, Paths: []string{"graph/users"}}})
		before := s.Stats().Faults
		throttled := 0
		for range 200 {
			resp, _ := rawRequest{url: graphUsersURL(s), token: s.Credential("readonly")}.send(t)
			switch resp.StatusCode {
			case http.StatusTooManyRequests:
				throttled++
				if resp.Header.Get("Retry-After") != "1" {
					t.Fatalf("default Retry-After %q, want 1", resp.Header.Get("Retry-After"))
				}
			case http.StatusOK:
			default:
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
		if throttled < 30 || throttled > 90 {
			t.Errorf("%d of 200 requests throttled at a rate of 0.3", throttled)
		}
		if n := faultDelta(s, before, "429"); n != int64(throttled) {
			t.Errorf("Stats counted %d 429s, clients saw %d", n, throttled)
		}
	})
	t.Run("bursts", func(t *testing.T) {
		t.Parallel()
		s := startSim(t, Options{Faults: Faults{Burst429Every: 10, Burst429Len: 3, Paths: []string{"graph/users"}}})
		var got strings.Builder
		for range 30 {
			resp, _ := rawRequest{url: graphUsersURL(s), token: s.Credential("readonly")}.send(t)
			if resp.StatusCode == http.StatusTooManyRequests {
				got.WriteByte('x')
				if resp.Header.Get("Retry-After") == "" || resp.Header.Get("X-RateLimit-Remaining") != "0" {
					t.Fatalf("burst 429 without rate-limit headers: %v", resp.Header)
				}
			} else {
				got.WriteByte('.')
			}
			// Requests outside the paths do not count towards bursts.
			rawRequest{url: s.URL() + "/_apis/projects", token: s.Credential("readonly")}.send(t)
		}
		if want := strings.Repeat("xxx.......", 3); got.String() != want {
			t.Fatalf("burst pattern %s, want %s", got.String(), want)
		}
		if s.Stats().Faults["429"] != 9 {
			t.Errorf("Stats counted %d 429s, want 9", s.Stats().Faults["429"])
		}
	})
	t.Run("delay", func(t *testing.T) {
		t.Parallel()
		s := startSim(t, Options{Faults: Faults{DelayRate: 1, Delay: Duration(60 * time.Millisecond), Paths: []string{"graph/users"}}})
		start := time.Now()
		resp, _ := rawRequest{url: graphUsersURL(s), token: s.Credential("readonly")}.send(t)
		if took := time.Since(start); resp.StatusCode != http.StatusOK || took < 60*time.Millisecond {
			t.Fatalf("delayed request: %d after %v", resp.StatusCode, took)
		}
		if resp.Header.Get("X-RateLimit-Delay") != "0.060" || resp.Header.Get("X-RateLimit-Remaining") == "" || resp.Header.Get("Retry-After") != "" {
			t.Errorf("delay headers: %v", resp.Header)
		}
		if s.Stats().Faults["delay"] != 1 {
			t.Errorf("Stats counted %d delays", s.Stats().Faults["delay"])
		}
	})
}

func TestFault5xxAndLatency(t *testing.T) {
	t.Parallel()
	t.Run("5xx", func(t *testing.T) {
		t.Parallel()
		s := startSim(t, Options{Faults: Faults{Rate5xx: 1, Paths: []string{"graph/users"}}})
		before := s.Stats().Faults
		_, err := mustClient(t, graph.NewClient, patConn(s, "readonly")).ListUsers(context.Background(), graph.ListUsersArgs{})
		if st := clientStatus(err); st != http.StatusInternalServerError && st != http.StatusServiceUnavailable {
			t.Fatalf("list users under a 5xx rate of 1: %v (status %d)", err, st)
		}
		seen := map[int]bool{}
		for range 30 {
			resp, body := rawRequest{url: graphUsersURL(s), token: s.Credential("readonly")}.send(t)
			var e struct{ TypeKey, Message string }
			if json.Unmarshal(body, &e) != nil || e.TypeKey == "" || !strings.Contains(e.Message, "Activity Id") {
				t.Fatalf("5xx body %s", body)
			}
			if resp.Header.Get("ActivityId") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("5xx headers: %v", resp.Header)
			}
			seen[resp.StatusCode] = true
		}
		if len(seen) != 2 || !seen[500] || !seen[503] {
			t.Errorf("statuses %v, want both 500 and 503", seen)
		}
		if n := faultDelta(s, before, "5xx"); n != 31 {
			t.Errorf("Stats counted %d 5xx, want 31", n)
		}
	})
	t.Run("latency", func(t *testing.T) {
		t.Parallel()
		const latency = 300 * time.Millisecond
		s := startSim(t, Options{Faults: Faults{Latency: Duration(latency), Paths: []string{"GRAPH/USERS"}}})
		conn := patConn(s, "readonly")
		gc := mustClient(t, graph.NewClient, conn)
		cc := mustClient(t, core.NewClient, conn)
		if _, err := cc.GetProjects(context.Background(), core.GetProjectsArgs{}); err != nil { // discovery, outside the paths
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := gc.ListUsers(context.Background(), graph.ListUsersArgs{}); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < latency {
			t.Errorf("list users took %v with a latency of %v", took, latency)
		}
		start = time.Now()
		if _, err := cc.GetProjects(context.Background(), core.GetProjectsArgs{}); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took >= latency {
			t.Errorf("projects, outside the paths, took %v", took)
		}
		// A client that gives up does not wait for the latency.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start = time.Now()
		_, err := gc.ListUsers(ctx, graph.ListUsersArgs{})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > latency {
			t.Errorf("cancelled request: %v after %v", err, time.Since(start))
		}
	})
}

func TestFaultCutConnections(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Faults: Faults{RateCut: 1, Paths: []string{"graph/users"}}})
	_, err := mustClient(t, graph.NewClient, patConn(s, "readonly")).ListUsers(context.Background(), graph.ListUsersArgs{})
	if err == nil || clientStatus(err) != 0 {
		t.Fatalf("list users over a cut connection: %v (status %d), want an error without status", err, clientStatus(err))
	}
	// Fresh connections, so that net/http does not replay a request whose
	// reused connection was cut before the answer.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	before := s.Stats().Faults
	var early, midBody int
	for range 40 {
		resp, _, err := rawRequest{url: graphUsersURL(s), token: s.Credential("readonly"), client: hc}.try()
		switch {
		case err != nil && resp == nil:
			early++
		case errors.Is(err, io.ErrUnexpectedEOF) && resp.StatusCode == http.StatusOK:
			midBody++
		default:
			t.Fatalf("a cut request gave %v, %v", resp, err)
		}
	}
	if early == 0 || midBody == 0 {
		t.Errorf("cuts: %d before the answer, %d in the body; want both kinds", early, midBody)
	}
	if n := faultDelta(s, before, "cut"); n != 40 {
		t.Errorf("Stats counted %d cuts, want 40", n)
	}
}

// A write whose answer is lost was carried out all the same: the client
// sees a cut connection, the organization has the change.
func TestFaultCutAfterTheChange(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Faults: Faults{RateCutAfter: 1, Paths: []string{"graph/memberships"}}})
	o := s.Org()
	users := liveSubjects(o, func(x *Subject) bool { return x.Type == "aad" && x.Kind == KindUser })
	groups := liveSubjects(o, ofType("vssgp"))
	u, g := users[len(users)-1], groups[len(groups)-1]
	o.mu.RLock()
	was := o.isMember(g, u)
	o.mu.RUnlock()
	if was {
		t.Fatal("pick a user outside the group")
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, _, err := rawRequest{method: "PUT", url: s.org.hostURL(hostVSSPS) + "/_apis/graph/memberships/" + u.Descriptor + "/" + g.Descriptor, token: s.Credential("readwrite"), client: hc}.try()
	if err == nil {
		t.Fatalf("the answer arrived: %v", resp.Status)
	}
	o.mu.RLock()
	now := o.isMember(g, u)
	o.mu.RUnlock()
	if !now || s.Stats().Faults["cut_after"] != 1 {
		t.Fatalf("after a write whose answer was lost: member %v, cut_after %d", now, s.Stats().Faults["cut_after"])
	}
}

// TestFaultExpiredTokens covers tokens refused by age and at random, on
// Graph and entitlement paging.
func TestFaultExpiredTokens(t *testing.T) {
	t.Parallel()
	type lister struct {
		name string
		// first returns the first page's token; next asks for a page with it.
		first func(t *testing.T, conn *azuredevops.Connection) string
		next  func(t *testing.T, conn *azuredevops.Connection, token string) error
	}
	listers := []lister{
		{"graph users", func(t *testing.T, conn *azuredevops.Connection) string {
			page, err := mustClient(t, graph.NewClient, conn).ListUsers(context.Background(), graph.ListUsersArgs{})
			if err != nil || (*page.ContinuationToken)[0] == "" {
				t.Fatalf("first page of users: %v", err)
			}
			return (*page.ContinuationToken)[0]
		}, func(t *testing.T, conn *azuredevops.Connection, token string) error {
			_, err := mustClient(t, graph.NewClient, conn).ListUsers(context.Background(), graph.ListUsersArgs{ContinuationToken: &token})
			return err
		}},
		{"user entitlements", func(t *testing.T, conn *azuredevops.Connection) string {
			_, raw := rawEntitlementClient(t, conn)
			page, err := searchEntitlementPage(context.Background(), raw, nil)
			if err != nil || page.ContinuationToken == nil {
				t.Fatalf("first page of entitlements: %v", err)
			}
			return *page.ContinuationToken
		}, func(t *testing.T, conn *azuredevops.Connection, token string) error {
			_, raw := rawEntitlementClient(t, conn)
			_, err := searchEntitlementPage(context.Background(), raw, url.Values{"continuationToken": {token}})
			return err
		}},
	}
	for _, l := range listers {
		t.Run(l.name+" by age", func(t *testing.T) {
			t.Parallel()
			// Generous, so that a slow client under -race still pages in time.
			s := startSim(t, Options{Spec: &pagingSpec, Faults: Faults{TokenTTL: Duration(1500 * time.Millisecond)}})
			conn := patConn(s, "readonly")
			if err := l.next(t, conn, l.first(t, conn)); err != nil {
				t.Fatalf("a fresh token was refused: %v", err)
			}
			tok := l.first(t, conn)
			time.Sleep(1700 * time.Millisecond)
			err := l.next(t, conn, tok)
			wantStatus(t, err, http.StatusBadRequest, "an old token")
			if !strings.Contains(err.Error(), "expired") {
				t.Errorf("message %q does not say the token expired", err)
			}
			if n := s.Stats().Faults["expired_token"]; n != 1 {
				t.Errorf("Stats counted %d expired tokens, want 1", n)
			}
		})
		t.Run(l.name+" by rate", func(t *testing.T) {
			t.Parallel()
			s := startSim(t, Options{Spec: &pagingSpec, Faults: Faults{RateExpireToken: 0.5}})
			conn := patConn(s, "readonly")
			tok := l.first(t, conn) // first pages carry no token and are never refused
			refused := 0
			for range 24 {
				if err := l.next(t, conn, tok); err != nil {
					wantStatus(t, err, http.StatusBadRequest, "a token refused at random")
					refused++
				}
			}
			if refused < 4 || refused > 20 {
				t.Errorf("%d of 24 tokens refused at a rate of 0.5", refused)
			}
			if n := s.Stats().Faults["expired_token"]; n != int64(refused) {
				t.Errorf("Stats counted %d expired tokens, clients saw %d", n, refused)
			}
		})
	}
	t.Run("outside the paths", func(t *testing.T) {
		t.Parallel()
		s := startSim(t, Options{Spec: &pagingSpec, Faults: Faults{RateExpireToken: 1, Paths: []string{"graph/groups"}}})
		conn := patConn(s, "readonly")
		if err := listers[0].next(t, conn, listers[0].first(t, conn)); err != nil {
			t.Fatalf("users token refused by a fault scoped to groups: %v", err)
		}
	})
}

func TestFaultsChangeAtRunTime(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	gc := mustClient(t, graph.NewClient, patConn(s, "readonly"))
	list := func() error {
		_, err := gc.ListUsers(context.Background(), graph.ListUsersArgs{})
		return err
	}
	if err := list(); err != nil {
		t.Fatal(err)
	}
	var echoed Faults
	if status := simAdmin(t, s, http.MethodPost, "/_sim/faults", `{"rate_429": 1, "retry_after": "3s", "paths": ["graph/users"]}`, &echoed); status != http.StatusOK || echoed.Rate429 != 1 {
		t.Fatalf("set faults: %d %+v", status, echoed)
	}
	wantStatus(t, list(), http.StatusTooManyRequests, "after setting a 429 rate of 1")
	resp, _ := rawRequest{url: graphUsersURL(s), token: s.Credential("readonly")}.send(t)
	if resp.Header.Get("Retry-After") != "3" {
		t.Errorf("Retry-After %q, want 3", resp.Header.Get("Retry-After"))
	}
	var raw map[string]any
	simAdmin(t, s, http.MethodGet, "/_sim/faults", "", &raw)
	if raw["retry_after"] != "3s" || raw["rate_429"] != 1.0 {
		t.Errorf("GET /_sim/faults: %v", raw)
	}
	if status := simAdmin(t, s, http.MethodPost, "/_sim/faults", `{"retry_after": 2, "latency": "0s"}`, &echoed); status != http.StatusOK || echoed.RetryAfter.D() != 2*time.Second {
		t.Fatalf("numbers are seconds: %d %+v", status, echoed)
	}
	if err := list(); err != nil {
		t.Fatalf("after clearing the faults: %v", err)
	}
	for _, body := range []string{`{`, `{"latency": "soon"}`, `{"rate_429": "high"}`} {
		var e struct{ Error string }
		if status := simAdmin(t, s, http.MethodPost, "/_sim/faults", body, &e); status != http.StatusBadRequest || e.Error == "" {
			t.Errorf("faults %s: %d, want 400", body, status)
		}
	}
	s.SetFaults(Faults{Rate5xx: 1})
	if st := clientStatus(list()); st != http.StatusInternalServerError && st != http.StatusServiceUnavailable {
		t.Errorf("after SetFaults with a 5xx rate of 1: status %d", st)
	}
}

// TestAdminNeverFails sets every fault on every path and uses the admin
// endpoints, which must keep answering.
func TestAdminNeverFails(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Faults: Faults{Rate429: 1, Rate5xx: 1, RateCut: 1, Burst429Every: 2, Burst429Len: 1, RateExpireToken: 1}})
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for range 10 {
		for _, ep := range []struct{ method, path, body string }{
			{http.MethodGet, "/_sim/stats", ""},
			{http.MethodGet, "/_sim/faults", ""},
			{http.MethodPost, "/_sim/advance", `{"by": "1s"}`},
			{http.MethodPost, "/_sim/mutate", `{"count": 1, "seed": 1}`},
			{http.MethodGet, "/_sim/help", ""},
		} {
			resp, body, err := rawRequest{method: ep.method, url: s.BaseURL() + ep.path, body: ep.body, version: "-", client: hc}.try()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s %s under faults: %v %s", ep.method, ep.path, err, body)
			}
		}
	}
	resp, _ := rawRequest{url: s.URL() + "/_apis/projects", token: s.Credential("readonly")}.send(t)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("an API request under the same faults: %d", resp.StatusCode)
	}
	if simAdmin(t, s, http.MethodPost, "/_sim/faults", `{}`, nil) != http.StatusOK {
		t.Fatal("clearing faults failed")
	}
	if resp, _ := (rawRequest{url: s.URL() + "/_apis/projects", token: s.Credential("readonly")}).send(t); resp.StatusCode != http.StatusOK {
		t.Fatalf("after clearing: %d", resp.StatusCode)
	}
}

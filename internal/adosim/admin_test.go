package adosim

import (
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/audit"
)

// admin calls a /_sim/ endpoint and decodes its JSON answer into out.
func simAdmin(t *testing.T, s *Server, method, path, body string, out any) int {
	t.Helper()
	resp, b := rawRequest{method: method, url: s.BaseURL() + path, body: body, version: "-"}.send(t)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func isInteger(v any) bool {
	f, ok := v.(float64)
	return ok && f == math.Trunc(f) && f >= 0
}

func TestAdminStatsContract(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Now: runningClock()})
	tok := s.Credential("readonly")
	if status := simAdmin(t, s, http.MethodPost, "/_sim/stats/reset", "", nil); status != http.StatusOK {
		t.Fatalf("reset: %d", status)
	}
	for range 7 {
		rawRequest{url: s.URL() + "/_apis/projects", token: tok}.send(t)
	}
	rawRequest{url: s.BaseURL() + "/_vssps/fabrikam/_apis/graph/users", token: tok}.send(t)
	rawRequest{url: s.URL() + "/_apis/projects", token: "wrong"}.send(t)

	var raw map[string]any
	if status := simAdmin(t, s, http.MethodGet, "/_sim/stats", "", &raw); status != http.StatusOK {
		t.Fatalf("stats: %d", status)
	}
	counts, ok := raw["counts"].(map[string]any)
	if !ok {
		t.Fatalf("stats has no counts object: %v", raw)
	}
	want := s.Stats().Counts
	wantCounts := map[string]int{
		"users": want.Users, "service_accounts": want.ServiceAccounts, "service_principals": want.ServicePrincipals,
		"groups": want.Groups, "memberships": want.Memberships, "projects": want.Projects, "teams": want.Teams,
		"team_members": want.TeamMembers, "repositories": want.Repositories, "entitlements": want.Entitlements,
		"audit_entries": want.AuditEntries,
	}
	for k, n := range wantCounts {
		v, ok := counts[k]
		if !ok || !isInteger(v) || int(v.(float64)) != n {
			t.Errorf("counts.%s is %v, want the integer %d", k, v, n)
		}
	}
	requests, ok := raw["requests"].(map[string]any)
	if !ok {
		t.Fatalf("stats has no requests object: %v", raw)
	}
	var sum float64
	for k, v := range requests {
		if !isInteger(v) {
			t.Errorf("requests.%s is %v, not an integer", k, v)
		}
		if k != "total" {
			sum += v.(float64)
		}
	}
	// Eight API requests reached a route, one of them a 401; discovery none.
	if requests["total"] != 9.0 || sum != 9 || requests["core.projects.list"] != 8.0 || requests["graph.users.list"] != 1.0 {
		t.Errorf("requests after reset and 9 calls: %v", requests)
	}
	faults, ok := raw["faults"].(map[string]any)
	if !ok || faults["auth_401"] != 1.0 {
		t.Errorf("faults: %v", raw["faults"])
	}
	if _, err := time.Parse(time.RFC3339Nano, raw["now"].(string)); err != nil || raw["org"] != "fabrikam" {
		t.Errorf("now %v, org %v", raw["now"], raw["org"])
	}

	t.Run("other endpoints", func(t *testing.T) {
		var help struct{ Endpoints []string }
		if simAdmin(t, s, http.MethodGet, "/_sim/help", "", &help) != http.StatusOK || !slices.Contains(help.Endpoints, "POST /_sim/mutate") {
			t.Errorf("help: %v", help)
		}
		var e struct{ Error string }
		if simAdmin(t, s, http.MethodGet, "/_sim/nothing", "", &e) != http.StatusNotFound || e.Error == "" {
			t.Errorf("unknown admin endpoint: %v", e)
		}
		if simAdmin(t, s, http.MethodDelete, "/_sim/stats", "", &e) != http.StatusNotFound {
			t.Errorf("DELETE /_sim/stats answered")
		}
	})
}

func TestAdminMutate(t *testing.T) {
	t.Parallel()
	opts := Options{Now: frozenClock(simEpoch.Add(time.Hour))}

	t.Run("applies and audits", func(t *testing.T) {
		t.Parallel()
		s := startSim(t, opts)
		ac := mustClient(t, audit.NewClient, patConn(s, "readonly"))
		before := s.Stats().Counts.AuditEntries
		var res MutateResult
		if status := simAdmin(t, s, http.MethodPost, "/_sim/mutate", `{"count": 40, "seed": 7}`, &res); status != http.StatusOK {
			t.Fatalf("mutate: %d", status)
		}
		if len(res.Applied) != 40 {
			t.Fatalf("applied %d changes, asked for 40", len(res.Applied))
		}
		actions := map[string]int{}
		kinds := map[string]bool{}
		audited := 0
		for _, m := range res.Applied {
			// Changes made in Entra ID, and those alone, write no entry.
			entra := strings.HasPrefix(m.Kind, "entra.")
			if !slices.Contains(MutationKinds(), m.Kind) || (m.ActionID == "") != entra || m.Target == "" || m.Summary == "" {
				t.Fatalf("change %+v", m)
			}
			if !entra {
				actions[m.ActionID]++
				audited++
			}
			kinds[m.Kind] = true
		}
		if len(kinds) < 4 {
			t.Errorf("40 changes of only %d kinds: %v", len(kinds), kinds)
		}
		after := s.Stats().Counts.AuditEntries
		if after < before+audited {
			t.Fatalf("audit entries %d → %d after %d audited changes", before, after, audited)
		}
		logged := map[string]int{}
		for _, e := range auditLog(t, ac, 1000, nil, nil)[:after-before] {
			logged[*e.ActionId]++
		}
		for a, n := range actions {
			if logged[a] < n {
				t.Errorf("%d changes say %s, the log has %d", n, a, logged[a])
			}
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		t.Parallel()
		a, b, c := startSim(t, opts), startSim(t, opts), startSim(t, opts)
		// Reading the Audit Log (which drops entries past retention) must
		// not change what a mutation does.
		auditLog(t, mustClient(t, audit.NewClient, patConn(b, "readonly")), 1000, nil, nil)
		ra, err := a.Mutate(MutateRequest{Count: 60, Seed: 9})
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.Mutate(MutateRequest{Count: 60, Seed: 9})
		if err != nil {
			t.Fatal(err)
		}
		rc, err := c.Mutate(MutateRequest{Count: 60, Seed: 10})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ra.Applied, rb.Applied) {
			t.Fatalf("same seed on the same organization, different changes:\n%v\n%v", ra.Applied[:3], rb.Applied[:3])
		}
		if slices.Equal(ra.Applied, rc.Applied) {
			t.Fatalf("seeds 9 and 10 made the same changes")
		}
		// The state is the same too, up to the entries the read pruned.
		da, db := dumpOrg(a.Org()), dumpOrg(b.Org())
		strip := func(d string) string {
			var keep []string
			for _, l := range strings.Split(d, "\n") {
				if !strings.HasPrefix(l, "audit ") {
					keep = append(keep, l)
				}
			}
			return strings.Join(keep, "\n")
		}
		if strip(da) != strip(db) {
			t.Fatalf("same changes, different state at %s", firstDifference(strip(da), strip(db)))
		}
		// The same seed again makes other changes: it is mixed with the history.
		again, err := a.Mutate(MutateRequest{Count: 60, Seed: 9})
		if err != nil || slices.Equal(again.Applied, ra.Applied) {
			t.Fatalf("the same seed twice made the same changes: %v", err)
		}
	})
	t.Run("kinds", func(t *testing.T) {
		t.Parallel()
		s := startSim(t, opts)
		before := s.Stats().Counts
		var res MutateResult
		if status := simAdmin(t, s, http.MethodPost, "/_sim/mutate", `{"count": 10, "seed": 1, "kinds": ["repo.create"]}`, &res); status != http.StatusOK {
			t.Fatalf("mutate: %d", status)
		}
		for _, m := range res.Applied {
			if m.Kind != "repo.create" || m.ActionID != "Git.RepositoryCreated" {
				t.Fatalf("asked for repo.create, got %+v", m)
			}
		}
		if after := s.Stats().Counts; after.Repositories != before.Repositories+10 {
			t.Fatalf("repositories %d → %d after 10 creations", before.Repositories, after.Repositories)
		}
		for _, kind := range MutationKinds() {
			res, err := s.Mutate(MutateRequest{Count: 2, Seed: 3, Kinds: []string{kind}})
			if err != nil {
				t.Fatalf("kind %s: %v", kind, err)
			}
			for _, m := range res.Applied {
				if m.Kind != kind {
					t.Fatalf("asked for %s, got %s", kind, m.Kind)
				}
			}
		}
	})
	t.Run("bad input", func(t *testing.T) {
		t.Parallel()
		s := startSim(t, opts)
		before := dumpOrg(s.Org())
		for _, body := range []string{`{`, `{"count": -1}`, `{"count": 2000000}`, `{"count": 1, "kinds": ["membership.explode"]}`, `{"count": "three"}`} {
			var e struct{ Error string }
			if status := simAdmin(t, s, http.MethodPost, "/_sim/mutate", body, &e); status != http.StatusBadRequest || e.Error == "" {
				t.Errorf("mutate %s: %d %q, want 400 with an error", body, status, e.Error)
			}
		}
		if dumpOrg(s.Org()) != before {
			t.Errorf("a refused mutation changed the organization")
		}
	})
	t.Run("partly applied", func(t *testing.T) {
		t.Parallel()
		s := startSim(t, Options{Spec: &Spec{Users: 5, Projects: 2, MaxRepos: 1}})
		var res struct {
			Error   string
			Applied []Mutation
		}
		status := simAdmin(t, s, http.MethodPost, "/_sim/mutate", `{"count": 3, "seed": 1, "kinds": ["project.delete"]}`, &res)
		if status != http.StatusBadRequest || res.Error == "" || len(res.Applied) != 1 || res.Applied[0].ActionID != "Project.SoftDeleteCompleted" {
			t.Fatalf("deleting 3 of 2 projects: %d %+v", status, res)
		}
		if s.Stats().Counts.Projects != 1 {
			t.Fatalf("%d projects left", s.Stats().Counts.Projects)
		}
	})
}

func TestAdminAdvance(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Now: frozenClock(simEpoch.Add(time.Hour))})
	tok := s.Credential("readonly")
	dateOf := func() time.Time {
		resp, _ := rawRequest{url: s.URL() + "/_apis/projects", token: tok}.send(t)
		d, err := http.ParseTime(resp.Header.Get("Date"))
		if err != nil {
			t.Fatalf("Date header %q: %v", resp.Header.Get("Date"), err)
		}
		return d
	}
	if d := dateOf(); !d.Equal(simEpoch.Add(time.Hour)) {
		t.Fatalf("Date %v, want the simulated %v", d, simEpoch.Add(time.Hour))
	}
	var res struct{ Now time.Time }
	if status := simAdmin(t, s, http.MethodPost, "/_sim/advance", `{"by": "36h"}`, &res); status != http.StatusOK {
		t.Fatalf("advance: %d", status)
	}
	want := simEpoch.Add(37 * time.Hour)
	if !res.Now.Equal(want) || !s.Now().Equal(want) || !dateOf().Equal(want) {
		t.Fatalf("after advancing 36h: answer %v, Now %v, Date %v; want %v", res.Now, s.Now(), dateOf(), want)
	}
	if status := simAdmin(t, s, http.MethodPost, "/_sim/advance", `{"by": "2d"}`, &res); status != http.StatusOK || !res.Now.Equal(want.Add(48*time.Hour)) {
		t.Fatalf("advance 2d: %d %v", status, res.Now)
	}
	for _, body := range []string{`{"by": "-1h"}`, `{"by": "soon"}`, `{}`, `[`} {
		var e struct{ Error string }
		if status := simAdmin(t, s, http.MethodPost, "/_sim/advance", body, &e); status != http.StatusBadRequest || e.Error == "" {
			t.Errorf("advance %s: %d, want 400", body, status)
		}
	}
	if !s.Now().Equal(want.Add(48 * time.Hour)) {
		t.Errorf("refused advances moved the clock to %v", s.Now())
	}
}

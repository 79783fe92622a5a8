package adosim

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/accounts"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/profile"
)

func threeOrgs(t *testing.T) *Server {
	t.Helper()
	return startSim(t, Options{Preset: "small", MoreOrgs: []OrgOptions{
		{Name: "contoso", Preset: "small", Seed: 2},
		{Name: "northwind", Preset: "small", Seed: 1}, // the same people as fabrikam
	}})
}

// One credential sees three organizations: the Profile says who it is, the
// Accounts API lists them, and each answers at its own URL with its own
// id and data.
func TestSeveralOrganizationsBehindOneCredential(t *testing.T) {
	s := threeOrgs(t)
	ctx := context.Background()
	app := patConn(s, "readonly") // Profile and Accounts are found through any organization's resource areas
	me, err := mustClient(t, profile.NewClient, app).GetProfile(ctx, profile.GetProfileArgs{Id: ptrTo("me")})
	if err != nil {
		t.Fatal(err)
	}
	list, err := mustClient(t, accounts.NewClient, app).GetAccounts(ctx, accounts.GetAccountsArgs{MemberId: me.Id})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, a := range *list {
		ids[*a.AccountName] = a.AccountId.String()
		if !strings.HasSuffix(*a.AccountUri, "/_vssps/"+*a.AccountName+"/") {
			t.Errorf("accountUri %s", *a.AccountUri)
		}
	}
	if len(ids) != 3 || ids["fabrikam"] == "" || ids["contoso"] == "" || ids["northwind"] == "" {
		t.Fatalf("accounts %v, want the three organizations", ids)
	}
	if ids["fabrikam"] == ids["northwind"] {
		t.Fatal("two organizations of one seed share an id")
	}
	counts := map[string]int{}
	for name, id := range ids {
		conn := azuredevops.NewPatConnection(s.OrgURL(name), s.Credential("readonly"))
		projects, err := mustClient(t, core.NewClient, conn).GetProjects(ctx, core.GetProjectsArgs{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		counts[name] = len(projects.Value)
		resp, body := rawRequest{url: s.OrgURL(name) + "/_apis/connectionData", token: s.Credential("readonly")}.send(t)
		var cd struct{ InstanceID string }
		if resp.StatusCode != 200 || json.Unmarshal(body, &cd) != nil || cd.InstanceID != id {
			t.Errorf("%s: connectionData %d %s, want instance id %s", name, resp.StatusCode, body, id)
		}
	}
	if counts["fabrikam"] == 0 || counts["fabrikam"] != counts["northwind"] {
		t.Errorf("projects per organization %v: one seed, one shape", counts)
	}
	// The same person in two organizations of one tenant has one descriptor.
	a, b := s.OrgByName("fabrikam"), s.OrgByName("northwind")
	if a.admin.Descriptor != b.admin.Descriptor {
		t.Error("organizations of one seed do not share their people")
	}
}

// Organizations come and go at run time, and one can fail on its own.
func TestOrganizationsAddedRemovedAndFailing(t *testing.T) {
	s := threeOrgs(t)
	admin := func(method, path, body string) (int, string) {
		resp, b := rawRequest{method: method, url: s.BaseURL() + path, body: body, version: "-"}.send(t)
		return resp.StatusCode, string(b)
	}
	if code, body := admin(http.MethodPost, "/_sim/orgs", `{"Name":"tailspin","Preset":"small","Seed":9}`); code != http.StatusCreated || !strings.Contains(body, `"tailspin"`) {
		t.Fatalf("add: %d %s", code, body)
	}
	projects := func(org string) int {
		resp, _ := rawRequest{url: s.BaseURL() + "/" + org + "/_apis/projects", token: s.Credential("readonly")}.send(t)
		return resp.StatusCode
	}
	if code := projects("tailspin"); code != 200 {
		t.Fatalf("a new organization answers %d", code)
	}
	if code, body := admin(http.MethodDelete, "/_sim/orgs/contoso", ""); code != 200 {
		t.Fatalf("remove: %d %s", code, body)
	}
	if code := projects("contoso"); code != http.StatusNotFound {
		t.Fatalf("a removed organization answers %d, want 404", code)
	}
	if _, body := admin(http.MethodGet, "/_sim/orgs", ""); strings.Contains(body, "contoso") || !strings.Contains(body, "tailspin") {
		t.Fatalf("orgs: %s", body)
	}
	// 5xx throughout for one organization only.
	if code, body := admin(http.MethodPost, "/_sim/northwind/faults", `{"rate_5xx":1}`); code != 200 {
		t.Fatalf("faults: %d %s", code, body)
	}
	if code := projects("northwind"); code < 500 {
		t.Fatalf("the failing organization answers %d", code)
	}
	if code := projects("fabrikam"); code != 200 {
		t.Fatalf("another organization answers %d while one fails", code)
	}
	admin(http.MethodPost, "/_sim/northwind/faults", `{}`)
	if code := projects("northwind"); code != 200 {
		t.Fatalf("after its faults are cleared: %d", code)
	}
	// Changes and counts per organization.
	before := s.StatsOf(t, "tailspin").Counts.AuditEntries
	if code, body := admin(http.MethodPost, "/_sim/tailspin/mutate", `{"count":3,"seed":1}`); code != 200 {
		t.Fatalf("mutate: %d %s", code, body)
	}
	if after := s.StatsOf(t, "tailspin").Counts.AuditEntries; after != before+3 {
		t.Fatalf("tailspin audit entries %d → %d, want 3 more", before, after)
	}
	if code, _ := admin(http.MethodPost, "/_sim/nowhere/mutate", `{"count":1}`); code != http.StatusNotFound {
		t.Fatalf("mutate of an unknown organization: %d", code)
	}
}

// StatsOf reads /_sim/{org}/stats.
func (s *Server) StatsOf(t *testing.T, org string) Stats {
	t.Helper()
	resp, body := rawRequest{url: s.BaseURL() + "/_sim/" + org + "/stats", version: "-"}.send(t)
	var st Stats
	if resp.StatusCode != 200 || json.Unmarshal(body, &st) != nil || st.Org != org {
		t.Fatalf("stats of %s: %d %s", org, resp.StatusCode, body)
	}
	return st
}

// OPTIONS {service}/_apis/{area}, as the Node, Java and .NET clients
// discover one area's routes: only that area's locations, with the ones
// those clients ask for, whatever the case of the area's name.
func TestAreaScopedDiscovery(t *testing.T) {
	s := startSim(t, Options{Preset: "small"})
	b, err := os.ReadFile("testdata/client_areas.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Areas []struct{ Service, Area, Location string }
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	services := map[string]string{"org": "/fabrikam", "vssps": "/_vssps/fabrikam", "vsaex": "/_vsaex/fabrikam", "audit": "/_audit/fabrikam", "app": "/_app"}
	for _, a := range doc.Areas {
		for _, name := range []string{a.Area, strings.ToUpper(a.Area)} {
			resp, body := rawRequest{method: http.MethodOptions, url: s.BaseURL() + services[a.Service] + "/_apis/" + name, version: "-"}.send(t)
			var l locationList
			if resp.StatusCode != 200 || json.Unmarshal(body, &l) != nil || l.Count != len(l.Value) || l.Count == 0 {
				t.Fatalf("OPTIONS _apis/%s at %s: %d %s", name, a.Service, resp.StatusCode, body)
			}
			found := false
			for _, v := range l.Value {
				if !strings.EqualFold(v.Area, a.Area) {
					t.Errorf("OPTIONS _apis/%s lists a location of area %s", name, v.Area)
				}
				found = found || v.ID == a.Location
			}
			if !found {
				t.Errorf("OPTIONS _apis/%s at %s lacks location %s", name, a.Service, a.Location)
			}
		}
	}
	// An area a service does not host has no locations there, and the form
	// makes no other method answer 405.
	resp, body := rawRequest{method: http.MethodOptions, url: s.BaseURL() + "/_vssps/fabrikam/_apis/git", version: "-"}.send(t)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"count":0`) {
		t.Fatalf("OPTIONS of an area the service does not host: %d %s", resp.StatusCode, body)
	}
}

package adosim

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/audit"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/git"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/memberentitlementmanagement"
)

type resourceAreaList struct {
	Count int `json:"count"`
	Value []struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		LocationURL string `json:"locationUrl"`
	} `json:"value"`
}

type locationList struct {
	Count int `json:"count"`
	Value []struct {
		ID              string `json:"id"`
		Area            string `json:"area"`
		ResourceName    string `json:"resourceName"`
		RouteTemplate   string `json:"routeTemplate"`
		ResourceVersion int    `json:"resourceVersion"`
		MinVersion      string `json:"minVersion"`
		MaxVersion      string `json:"maxVersion"`
		ReleasedVersion string `json:"releasedVersion"`
	} `json:"value"`
}

func optionsAt(t *testing.T, base string) map[string]string {
	t.Helper()
	resp, body := rawRequest{method: http.MethodOptions, url: base + "/_apis", version: "-"}.send(t)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("OPTIONS %s/_apis: %d %s", base, resp.StatusCode, body)
	}
	var l locationList
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatal(err)
	}
	areas := map[string]string{}
	for _, v := range l.Value {
		if v.ID == "" || v.Area == "" || v.ResourceName == "" || v.RouteTemplate == "" || v.ResourceVersion < 1 || v.MinVersion == "" || v.MaxVersion == "" || v.ReleasedVersion == "" {
			t.Fatalf("location %+v lacks a field the v7 client dereferences", v)
		}
		areas[v.ID] = strings.ToLower(v.Area)
	}
	if l.Count != len(l.Value) {
		t.Fatalf("count %d, %d locations", l.Count, len(l.Value))
	}
	return areas
}

// useEveryArea calls one read of every area the product uses with the real
// v7 clients.
func useEveryArea(t *testing.T, conn *azuredevops.Connection, counts Counts) {
	t.Helper()
	ctx := context.Background()
	users, err := mustClient(t, graph.NewClient, conn).ListUsers(ctx, graph.ListUsersArgs{})
	if err != nil || len(*users.GraphUsers) == 0 {
		t.Fatalf("graph: %v", err)
	}
	ents, err := mustClient(t, memberentitlementmanagement.NewClient, conn).SearchUserEntitlements(ctx, memberentitlementmanagement.SearchUserEntitlementsArgs{})
	if err != nil || len(*ents.Members) == 0 {
		t.Fatalf("entitlements: %v", err)
	}
	projects, err := mustClient(t, core.NewClient, conn).GetProjects(ctx, core.GetProjectsArgs{})
	if err != nil || len(projects.Value) != counts.Projects {
		t.Fatalf("core: %v", err)
	}
	repos, err := mustClient(t, git.NewClient, conn).GetRepositories(ctx, git.GetRepositoriesArgs{})
	if err != nil || len(*repos) != counts.Repositories {
		t.Fatalf("git: %v", err)
	}
	log, err := mustClient(t, audit.NewClient, conn).QueryLog(ctx, audit.QueryLogArgs{})
	if err != nil || log.DecoratedAuditLogEntries == nil {
		t.Fatalf("audit: %v", err)
	}
}

func TestDiscoveryCloud(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Now: runningClock()})
	org := s.URL()
	resp, body := rawRequest{url: org + "/_apis/ResourceAreas", version: "5.1-preview.1"}.send(t)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("resource areas: %d %s", resp.StatusCode, body)
	}
	var ra resourceAreaList
	if err := json.Unmarshal(body, &ra); err != nil {
		t.Fatal(err)
	}
	urls := map[string]string{}
	for _, a := range ra.Value {
		urls[a.ID] = a.LocationURL
	}
	base := s.BaseURL()
	for _, tc := range []struct{ area, id, url string }{
		{"graph", graph.ResourceAreaId.String(), base + "/_vssps/fabrikam/"},
		{"identity", "8a3d49b8-91f0-46ef-b33d-dda338c25db3", base + "/_vssps/fabrikam/"},
		{"entitlements", memberentitlementmanagement.ResourceAreaId.String(), base + "/_vsaex/fabrikam/"},
		{"audit", audit.ResourceAreaId.String(), base + "/_audit/fabrikam/"},
		{"core", core.ResourceAreaId.String(), base + "/fabrikam/"},
		{"git", git.ResourceAreaId.String(), base + "/fabrikam/"},
	} {
		if urls[tc.id] != tc.url {
			t.Errorf("%s lives at %q, want %q", tc.area, urls[tc.id], tc.url)
		}
	}

	// Each service lists only its own locations.
	for _, tc := range []struct {
		base      string
		has, lack string
	}{
		{base + "/_vssps/fabrikam", "graph", "core"},
		{base + "/_vsaex/fabrikam", "memberentitlementmanagement", "graph"},
		{base + "/_audit/fabrikam", "audit", "graph"},
		{org, "core", "graph"},
	} {
		areas := optionsAt(t, tc.base)
		var has, lacks bool
		for _, a := range areas {
			has = has || a == tc.has
			lacks = lacks || a == tc.lack
		}
		if !has || lacks {
			t.Errorf("OPTIONS %s: serves %s %v, serves %s %v", tc.base, tc.has, has, tc.lack, lacks)
		}
	}

	// An API asked for at the wrong service is not found there.
	tok := s.Credential("readonly")
	for _, u := range []string{org + "/_apis/graph/users", base + "/_vssps/fabrikam/_apis/projects", base + "/_vsaex/fabrikam/_apis/audit/auditlog"} {
		resp, _ := rawRequest{url: u, token: tok}.send(t)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404 in the cloud", u, resp.StatusCode)
		}
	}
	useEveryArea(t, patConn(s, "readonly"), s.Stats().Counts)
}

func TestDiscoveryOnPrem(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{OnPrem: true, Now: runningClock()})
	resp, body := rawRequest{url: s.URL() + "/_apis/ResourceAreas", version: "5.1-preview.1"}.send(t)
	var ra resourceAreaList
	if err := json.Unmarshal(body, &ra); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("resource areas: %d %v", resp.StatusCode, err)
	}
	if ra.Count != 0 || len(ra.Value) != 0 {
		t.Fatalf("on-prem resource areas: %+v, want none", ra)
	}
	areas := optionsAt(t, s.URL())
	for _, want := range []string{"graph", "memberentitlementmanagement", "core", "git", "audit", "ims"} {
		found := false
		for _, a := range areas {
			found = found || a == want
		}
		if !found {
			t.Errorf("on-prem OPTIONS lacks area %s", want)
		}
	}
	for _, u := range []string{"/_apis/graph/users", "/_apis/userentitlements", "/_apis/audit/auditlog", "/_apis/projects"} {
		resp, body := rawRequest{url: s.URL() + u, token: s.Credential("readonly")}.send(t)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("on-prem GET %s at the organization URL: %d %s", u, resp.StatusCode, body)
		}
	}
	useEveryArea(t, patConn(s, "readonly"), s.Stats().Counts)
}

func TestDiscoveryOrganizationCase(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Org: "FabriKam", Now: runningClock()})
	if !strings.HasSuffix(s.URL(), "/FabriKam") {
		t.Fatalf("URL %s", s.URL())
	}
	// The client lowercases the URL; upper case on the way in works too.
	for _, u := range []string{s.URL(), strings.ToLower(s.URL()), s.BaseURL() + "/FABRIKAM"} {
		useEveryArea(t, azuredevops.NewPatConnection(u, s.Credential("readonly")), s.Stats().Counts)
	}
	for _, u := range []string{s.BaseURL() + "/FABRIKAM/_apis/projects", s.BaseURL() + "/_vssps/fAbRiKaM/_apis/Graph/Users", s.BaseURL() + "/fabrikam/_APIS/PROJECTS"} {
		resp, body := rawRequest{url: u, token: s.Credential("readonly")}.send(t)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d %s", u, resp.StatusCode, body)
		}
	}
	resp, _ := rawRequest{url: s.BaseURL() + "/contoso/_apis/projects", token: s.Credential("readonly")}.send(t)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("another organization: %d, want 404", resp.StatusCode)
	}
}

func TestAPIVersionAndRouting(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	tok := s.Credential("readonly")
	tests := []struct {
		name    string
		rq      rawRequest
		status  int
		typeKey string
	}{
		{"no api-version", rawRequest{url: s.URL() + "/_apis/projects", token: tok, version: "-"}, http.StatusBadRequest, "VssVersionNotSpecifiedException"},
		{"no api-version on vssps", rawRequest{url: s.BaseURL() + "/_vssps/fabrikam/_apis/graph/users", token: tok, version: "-"}, http.StatusBadRequest, "VssVersionNotSpecifiedException"},
		{"api-version in the query", rawRequest{url: s.URL() + "/_apis/projects?api-version=7.1", token: tok, version: "-"}, http.StatusOK, ""},
		{"api-version in Accept", rawRequest{url: s.URL() + "/_apis/projects", token: tok, version: "7.1-preview.4"}, http.StatusOK, ""},
		{"unknown route", rawRequest{url: s.URL() + "/_apis/nothing/here", token: tok}, http.StatusNotFound, "VssResourceNotFoundException"},
		{"unknown organization", rawRequest{url: s.BaseURL() + "/contoso/_apis/projects", token: tok}, http.StatusNotFound, "VssResourceNotFoundException"},
		{"wrong method", rawRequest{method: http.MethodPut, url: s.URL() + "/_apis/projects", token: tok}, http.StatusMethodNotAllowed, "VssMethodNotAllowedException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := tc.rq.send(t)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.typeKey != "" {
				var e struct {
					TypeKey string `json:"typeKey"`
					Message string `json:"message"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.TypeKey != tc.typeKey || e.Message == "" {
					t.Fatalf("error body %s, want typeKey %s", body, tc.typeKey)
				}
			}
		})
	}
	// The v7 client reads the 400 as a WrappedError with the status.
	c := azuredevops.NewClient(patConn(s, "readonly"), s.URL())
	req, err := c.CreateRequestMessage(context.Background(), http.MethodGet, s.URL()+"/_apis/projects", "", nil, "", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SendRequest(req)
	wantStatus(t, err, http.StatusBadRequest, "v7 request without api-version")
}

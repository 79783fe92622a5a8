package adosim

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/pipelineschecks"
)

// Every preset puts checks on pipeline resources: most production-looking
// environments carry an Approval, some none; other resources fewer.
func TestChecksGenerated(t *testing.T) {
	s := startSim(t, Options{})
	o := s.Org()
	pl := o.pipes()
	prod, approved, none := 0, 0, 0
	for _, e := range pl.envs {
		p := o.projectByID[e.ProjectID]
		checks := o.liveChecks(p, "environment", strconv.Itoa(e.ID))
		if len(checks) == 0 {
			none++
		}
		if !prodLike.MatchString(e.Name) {
			continue
		}
		prod++
		for _, c := range checks {
			if c.Type == checkTypeApproval && !c.Disabled && len(c.Approvers) > 0 {
				approved++
				break
			}
		}
	}
	if prod == 0 || approved == 0 || approved == prod || none == 0 {
		t.Fatalf("%d production-looking environments, %d with an approval, %d environments without checks: want some of each", prod, approved, none)
	}
	kinds := map[string]int{}
	for _, c := range pl.checks {
		kinds[c.ResType+" "+c.Type]++
	}
	for _, k := range []string{"environment Approval", "endpoint Approval", "environment Task Check"} {
		if kinds[k] == 0 {
			t.Errorf("no %s generated (%v)", k, kinds)
		}
	}
	for _, name := range []string{"prod", "Production", "prod-eu", "PRD", "live-west", "eu-prd-1"} {
		if !prodLike.MatchString(name) {
			t.Errorf("%q is not production-looking", name)
		}
	}
	for _, name := range []string{"dev", "product-test", "delivery", "staging"} {
		if prodLike.MatchString(name) {
			t.Errorf("%q is production-looking", name)
		}
	}
}

// The v7 pipelineschecks client reads checks through discovery, one
// query for many resources, and the answers match the model; settings
// come only with $expand=settings; reading needs vso.build.
func TestChecksThroughV7Client(t *testing.T) {
	s := startSim(t, Options{Now: runningClock()})
	ctx := context.Background()
	o := s.Org()
	client := mustClient(t, pipelineschecks.NewClient, patConn(s, "readwrite"))
	checked := 0
	for _, p := range o.projects {
		var res []pipelineschecks.Resource
		for _, e := range o.pipes().envs {
			if e.ProjectID == p.ID {
				res = append(res, pipelineschecks.Resource{Type: ptrTo("environment"), Id: ptrTo(strconv.Itoa(e.ID))})
			}
		}
		for _, ep := range o.liveEndpoints(p) {
			res = append(res, pipelineschecks.Resource{Type: ptrTo("endpoint"), Id: ptrTo(ep.ID)})
		}
		if len(res) == 0 {
			continue
		}
		got, err := client.QueryCheckConfigurationsOnResources(ctx, pipelineschecks.QueryCheckConfigurationsOnResourcesArgs{
			Project: &p.Name, Resources: &res, Expand: &pipelineschecks.CheckConfigurationExpandParameterValues.Settings})
		if err != nil {
			t.Fatalf("query checks of %s: %v", p.Name, err)
		}
		want := 0
		for _, c := range o.liveChecks(p, "", "") {
			if c.ResType == "environment" || c.ResType == "endpoint" {
				want++
			}
		}
		if len(*got) != want {
			t.Errorf("%s: %d checks, the model has %d", p.Name, len(*got), want)
		}
		for _, c := range *got {
			if c.Id == nil || c.Type == nil || c.Resource == nil || c.Resource.Name == nil || *c.Resource.Name == "" {
				t.Fatalf("a check lacks id, type or resource: %+v", c)
			}
			one, err := client.GetCheckConfigurationsOnResource(ctx, pipelineschecks.GetCheckConfigurationsOnResourceArgs{
				Project: &p.ID, ResourceType: c.Resource.Type, ResourceId: c.Resource.Id})
			if err != nil || len(*one) == 0 {
				t.Fatalf("checks of %s %s: %v", *c.Resource.Type, *c.Resource.Id, err)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no check read")
	}

	// Settings: the approvers and how many must approve, only when asked.
	var ck *Check
	for _, c := range o.pipes().checks {
		if c.Type == checkTypeApproval && ck == nil {
			ck = c
		}
	}
	p := o.projectByID[ck.ProjectID]
	body := `[{"type":"` + ck.ResType + `","id":"` + ck.ResID + `"}]`
	for _, expand := range []bool{true, false} {
		u := s.URL() + "/" + p.ID + "/_apis/pipelines/checks/queryconfigurations"
		if expand {
			u += "?$expand=settings"
		}
		resp, b := rawRequest{method: http.MethodPost, url: u, token: s.Credential("readwrite"), body: body}.send(t)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", u, resp.StatusCode, b)
		}
		var list struct {
			Count int `json:"count"`
			Value []struct {
				Settings *struct {
					Approvers []struct {
						ID string `json:"id"`
					} `json:"approvers"`
					MinRequiredApprovers *int `json:"minRequiredApprovers"`
				} `json:"settings"`
			} `json:"value"`
		}
		if err := json.Unmarshal(b, &list); err != nil || list.Count != len(list.Value) || list.Count == 0 {
			t.Fatalf("%s: %v %s", u, err, b)
		}
		settings := list.Value[0].Settings
		if expand != (settings != nil) {
			t.Fatalf("expand %v, settings %v: %s", expand, settings != nil, b)
		}
		if expand && (len(settings.Approvers) != len(ck.Approvers) || settings.MinRequiredApprovers == nil) {
			t.Errorf("settings %s, model has %d approvers", b, len(ck.Approvers))
		}
	}

	narrow := startSim(t, Options{Credentials: []Credential{{Name: "narrow", Token: "narrow-token-0123456789", Scopes: []string{"vso.project"}}}})
	np := narrow.Org().projects[0]
	resp, b := rawRequest{method: http.MethodPost, url: narrow.URL() + "/" + np.ID + "/_apis/pipelines/checks/queryconfigurations", token: "narrow-token-0123456789", body: "[]"}.send(t)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "vso.build") {
		t.Errorf("without vso.build: %d %s, want 403 naming vso.build", resp.StatusCode, b)
	}
}

// The check mutations change what the API answers and write the Checks
// entries Microsoft documents (CheckConfiguration.Created, .Deleted,
// .Updated: https://learn.microsoft.com/azure/devops/organizations/audit/auditing-events,
// area "Checks").
func TestCheckMutationsWriteChecksEntries(t *testing.T) {
	s := startSim(t, Options{Now: runningClock()})
	before := len(s.ResourceChecks())
	for _, k := range []struct {
		kind, action string
		delta        int
	}{{"check.add", "CheckConfiguration.Created", 1}, {"check.remove", "CheckConfiguration.Deleted", -1}, {"check.approvers", "CheckConfiguration.Updated", 0}} {
		res, err := s.Mutate(MutateRequest{Count: 1, Seed: 5, Kinds: []string{k.kind}})
		if err != nil || len(res.Applied) != 1 || res.Applied[0].ActionID != k.action {
			t.Fatalf("%s: %v %+v", k.kind, err, res)
		}
		if got := len(s.ResourceChecks()); got != before+k.delta {
			t.Errorf("%s: %d checks, want %d", k.kind, got, before+k.delta)
		}
		before += k.delta
		o := s.Org()
		o.mu.RLock()
		e := o.audit[len(o.audit)-1]
		o.mu.RUnlock()
		if e.ActionID != k.action || e.Area != "Checks" || e.ProjectID == "" {
			t.Errorf("%s: last entry %s in area %s, project %q", k.kind, e.ActionID, e.Area, e.ProjectID)
		}
	}
}

// A request body over the limit is refused before it is read whole, as
// the service refuses one; a body under it is answered.
func TestRequestBodyOverTheLimitIsRefused(t *testing.T) {
	s := startSim(t, Options{})
	p := s.Org().projects[0]
	u := s.URL() + "/" + p.ID + "/_apis/pipelines/checks/queryconfigurations"
	huge := `[{"type":"environment","id":"` + strings.Repeat("1", maxRequestBody) + `"}]`
	resp, b := rawRequest{method: http.MethodPost, url: u, token: s.Credential("readwrite"), body: huge}.send(t)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "too large") {
		t.Fatalf("a body of %d bytes: %d %.200s", len(huge), resp.StatusCode, b)
	}
	resp, b = rawRequest{method: http.MethodPost, url: u, token: s.Credential("readwrite"), body: `[]`}.send(t)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("an empty query: %d %s", resp.StatusCode, b)
	}
}

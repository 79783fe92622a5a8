package adosim

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/pipelinepermissions"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/serviceendpoint"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/taskagent"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/tokenadmin"
)

// The real v7 clients read every pipeline resource and token through
// discovery, and no answer carries a secret the model holds.
func TestPipelineResourcesThroughV7Clients(t *testing.T) {
	s := startSim(t, Options{Now: runningClock()})
	ctx := context.Background()
	conn := patConn(s, "readwrite")
	o := s.Org()
	pl := o.pipes()
	if len(pl.endpoints) == 0 || len(pl.varGroups) == 0 || len(pl.pats) == 0 || len(pl.queues) == 0 {
		t.Fatalf("small preset generated too little: %d connections, %d variable groups, %d tokens, %d queues",
			len(pl.endpoints), len(pl.varGroups), len(pl.pats), len(pl.queues))
	}
	var secrets []string
	for _, ep := range pl.endpoints {
		secrets = append(secrets, ep.Secret)
	}
	for _, vg := range pl.varGroups {
		for _, v := range vg.Vars {
			if v.Secret {
				secrets = append(secrets, v.Value)
			}
		}
	}
	for _, p := range pl.pats {
		if !p.SSH {
			secrets = append(secrets, p.Value)
		}
	}
	var answers []string
	keep := func(v any) {
		b, _ := json.Marshal(v)
		answers = append(answers, string(b))
	}

	se := mustClient(t, serviceendpoint.NewClient, conn)
	ta := mustClient(t, taskagent.NewClient, conn)
	pp := mustClient(t, pipelinepermissions.NewClient, conn)
	tk := mustClient(t, tokenadmin.NewClient, conn)
	p := o.projects[0]
	eps, err := se.GetServiceEndpoints(ctx, serviceendpoint.GetServiceEndpointsArgs{Project: &p.Name})
	if err != nil {
		t.Fatalf("list connections: %v", err)
	}
	if want := len(o.liveEndpoints(p)); len(*eps) != want || want == 0 {
		t.Fatalf("listed %d connections, want %d", len(*eps), want)
	}
	keep(eps)
	for _, ep := range *eps {
		if ep.Authorization == nil || ep.Authorization.Scheme == nil || *ep.Authorization.Scheme == "" {
			t.Errorf("connection %s has no authorization scheme", *ep.Name)
		}
		perm, err := pp.GetPipelinePermissionsForResource(ctx, pipelinepermissions.GetPipelinePermissionsForResourceArgs{
			Project: &p.Name, ResourceType: ptrTo("endpoint"), ResourceId: ptrTo(ep.Id.String())})
		if err != nil {
			t.Fatalf("pipeline permissions of %s: %v", *ep.Name, err)
		}
		keep(perm)
		open := perm.AllPipelines != nil && perm.AllPipelines.Authorized != nil && *perm.AllPipelines.Authorized
		if open != pl.perm(p.ID, "endpoint", ep.Id.String()).all {
			t.Errorf("connection %s: allPipelines %v, model says %v", *ep.Name, open, !open)
		}
	}
	vgs, err := ta.GetVariableGroups(ctx, taskagent.GetVariableGroupsArgs{Project: &p.Name})
	if err != nil {
		t.Fatalf("list variable groups: %v", err)
	}
	keep(vgs)
	envs, err := ta.GetEnvironments(ctx, taskagent.GetEnvironmentsArgs{Project: &p.Name})
	if err != nil {
		t.Fatalf("list environments: %v", err)
	}
	keep(envs)
	pools, err := ta.GetAgentPools(ctx, taskagent.GetAgentPoolsArgs{})
	if err != nil || len(*pools) != len(pl.pools) {
		t.Fatalf("list pools: %v (%d listed)", err, len(*pools))
	}
	queues, err := ta.GetAgentQueues(ctx, taskagent.GetAgentQueuesArgs{Project: &p.Name})
	if err != nil || len(*queues) == 0 {
		t.Fatalf("list queues: %v", err)
	}

	// Every token of every holder, through Token Admin; then one revoked.
	holders := map[*Subject]int{}
	pats := 0
	for _, pat := range pl.pats {
		if !pat.SSH { // SSH keys are listed with isPublic=true (tokens_ssh_test.go)
			holders[pat.Owner]++
			pats++
		}
	}
	listed := 0
	var victim *uuid.UUID
	for u, n := range holders {
		page, err := tk.ListPersonalAccessTokens(ctx, tokenadmin.ListPersonalAccessTokensArgs{SubjectDescriptor: &u.Descriptor, PageSize: ptrTo(1)})
		if err != nil {
			t.Fatalf("tokens of %s: %v", u.PrincipalName, err)
		}
		keep(page)
		got := len(*page.Value)
		for page.ContinuationToken != nil {
			tok := page.ContinuationToken.String()
			page, err = tk.ListPersonalAccessTokens(ctx, tokenadmin.ListPersonalAccessTokensArgs{SubjectDescriptor: &u.Descriptor, PageSize: ptrTo(1), ContinuationToken: &tok})
			if err != nil {
				t.Fatalf("next page of tokens: %v", err)
			}
			got += len(*page.Value)
		}
		if got != n {
			t.Errorf("%s: listed %d tokens, holds %d", u.PrincipalName, got, n)
		}
		listed += got
		victim = (*page.Value)[0].AuthorizationId
	}
	if listed != pats {
		t.Fatalf("listed %d tokens, want %d", listed, pats)
	}
	before := len(s.PATs())
	if err := tk.RevokeAuthorizations(ctx, tokenadmin.RevokeAuthorizationsArgs{Revocations: &[]tokenadmin.TokenAdminRevocation{{AuthorizationId: victim}}}); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if after := len(s.PATs()); after != before-1 {
		t.Fatalf("after revoking one token %d remain, want %d", after, before-1)
	}
	if !auditHas(o, "Token.PatRevokeEvent") {
		t.Error("revoking wrote no Token.PatRevokeEvent")
	}

	// Role assignments: the creator holds Administrator on its connection,
	// the project's groups inherit theirs.
	ep := o.liveEndpoints(p)[0]
	resp, body := rawRequest{url: s.URL() + "/_apis/securityroles/scopes/" + roleScopeEndpoint + "/roleassignments/resources/" + endpointResource(p.ID, ep.ID),
		token: s.Credential("readonly")}.send(t)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("role assignments: %d %s", resp.StatusCode, body)
	}
	answers = append(answers, string(body))
	var ras struct {
		Value []struct {
			Identity struct{ ID string }
			Role     struct{ Name string }
			Access   string
		}
	}
	if err := json.Unmarshal(body, &ras); err != nil {
		t.Fatal(err)
	}
	creatorAdmin, inherited := false, 0
	for _, a := range ras.Value {
		if a.Identity.ID == ep.CreatedBy.ID && a.Role.Name == "Administrator" && a.Access == "assigned" {
			creatorAdmin = true
		}
		if a.Access == "inherited" {
			inherited++
		}
	}
	if !creatorAdmin || inherited == 0 {
		t.Errorf("role assignments of %s: creator administrator %v, %d inherited; got %s", ep.Name, creatorAdmin, inherited, body)
	}

	for _, a := range answers {
		for _, sec := range secrets {
			if strings.Contains(a, sec) {
				t.Fatalf("an answer carries the secret %q", sec)
			}
		}
	}
}

// Without the scope, the API answers 403 naming it.
func TestPipelineScopesRequired(t *testing.T) {
	s := startSim(t, Options{Credentials: []Credential{{Name: "narrow", Token: "narrow-token-0123456789", Scopes: []string{"vso.project"}}}})
	p := s.Org().projects[0]
	for _, c := range []struct{ url, scope string }{
		{s.URL() + "/" + p.ID + "/_apis/serviceendpoint/endpoints", "vso.serviceendpoint"},
		{s.URL() + "/" + p.ID + "/_apis/distributedtask/variablegroups", "vso.variablegroups_read"},
		{s.URL() + "/_apis/distributedtask/pools", "vso.agentpools"},
	} {
		resp, body := rawRequest{url: c.url, token: "narrow-token-0123456789"}.send(t)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), c.scope) {
			t.Errorf("%s: %d %s, want 403 naming %s", c.url, resp.StatusCode, body, c.scope)
		}
	}
}

// The mutation kinds change the model and write the Audit Log entries
// Microsoft documents for them (Library, Pipelines and Token areas of
// https://learn.microsoft.com/azure/devops/organizations/audit/auditing-events).
func TestPipelineMutations(t *testing.T) {
	s := startSim(t, Options{Now: runningClock()})
	for _, k := range pipelineMutationKinds {
		res, err := s.Mutate(MutateRequest{Count: 2, Seed: 7, Kinds: []string{k.name}})
		if err != nil {
			t.Fatalf("%s: %v", k.name, err)
		}
		for _, m := range res.Applied {
			if !auditHas(s.Org(), m.ActionID) {
				t.Errorf("%s: no audit entry %s", k.name, m.ActionID)
			}
		}
	}
	if n := len(s.PATs()); n == 0 {
		t.Fatal("no tokens left")
	}
}

func auditHas(o *Org, action string) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	for _, e := range o.audit {
		if e.ActionID == action {
			return true
		}
	}
	return false
}

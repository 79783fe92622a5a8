package adosim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// keysOf lists the keys of an object, and of the first item of a
// collection, as "value[].name".
func keysOf(v map[string]any) []string {
	var out []string
	for k, x := range v {
		out = append(out, k)
		if arr, ok := x.([]any); ok && len(arr) > 0 {
			if m, ok := arr[0].(map[string]any); ok {
				for kk := range m {
					out = append(out, k+"[]."+kk)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// Every field Microsoft's recorded answers carry, the simulator's answers
// carry too (with values of its own), for the pipeline resources and
// tokens the product reads.
func TestPipelineAnswersHaveTheSpecsFields(t *testing.T) {
	dir := specDir(t)
	s := startSim(t, Options{Now: runningClock()})
	o := s.Org()
	// A project with a variable group and a connection some pipelines may use.
	var p *Project
	var ep *ServiceEndpoint
	for _, vg := range o.pipes().varGroups {
		q := o.projectByID[vg.ProjectID]
		for _, e := range o.liveEndpoints(q) {
			if len(o.pipes().perm(q.ID, "endpoint", e.ID).pipelines) > 0 && p == nil {
				p, ep = q, e
			}
		}
	}
	if p == nil {
		t.Fatal("no project has a variable group and a connection with pipelines authorized")
	}
	ck := o.pipes().checks[0]
	ckProject := o.projectByID[ck.ProjectID]
	var holder *Subject
	for _, pat := range o.pipes().pats {
		if !pat.SSH {
			holder = pat.Owner
			break
		}
	}
	for _, c := range []struct{ example, url string }{
		{"serviceEndpoint/7.1/httpExamples/endpoints/GET__ServiceEndpoints.json", s.URL() + "/" + p.ID + "/_apis/serviceendpoint/endpoints"},
		{"distributedTask/7.1/httpExamples/variablegroups/GET_VariableGroupsByIds.json", s.URL() + "/" + p.ID + "/_apis/distributedtask/variablegroups"},
		{"approvalsAndChecks/7.1/httpExamples/pipelinePermissions/GET__GetPipelinePermissionsForResource.json", s.URL() + "/" + p.ID + "/_apis/pipelines/pipelinepermissions/endpoint/" + ep.ID},
		{"securityRoles/7.1/httpExamples/roleAssignments/AddRoleAssignments.json", s.URL() + "/_apis/securityroles/scopes/" + roleScopeEndpoint + "/roleassignments/resources/" + endpointResource(p.ID, ep.ID)},
		{"approvalsAndChecks/7.1/httpExamples/queryconfigurations/POST__QueryCheckConfigurationsOnResources.json", s.URL() + "/" + ckProject.ID + "/_apis/pipelines/checks/queryconfigurations"},
		{"approvalsAndChecks/7.1/httpExamples/configurations/GET__CheckConfigurationsOnResource.json",
			s.URL() + "/" + ckProject.ID + "/_apis/pipelines/checks/configurations?resourceType=" + ck.ResType + "&resourceId=" + ck.ResID},
		{"tokenAdmin/7.1/httpExamples/personalAccessTokens/GetPersonalAccessTokensForAUserInYourOrganization.json", ""}, // on the vssps host, below,
	} {
		b, err := os.ReadFile(filepath.Join(dir, c.example))
		if err != nil {
			t.Fatal(err)
		}
		var ex struct {
			Responses map[string]struct {
				Body map[string]any `json:"body"`
			} `json:"responses"`
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(string(b), "\ufeff")), &ex); err != nil {
			t.Fatalf("%s: %v", c.example, err)
		}
		url := c.url
		if strings.HasPrefix(c.example, "tokenAdmin") {
			url = o.hostURL(hostVSSPS) + "/_apis/tokenadmin/personalaccesstokens/" + holder.Descriptor
		}
		req := rawRequest{url: url, token: s.Credential("readwrite")}
		if strings.Contains(url, "queryconfigurations") {
			req.method, req.body = http.MethodPost, fmt.Sprintf(`[{"type":%q,"id":%q}]`, ck.ResType, ck.ResID)
		}
		resp, body := req.send(t)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", url, resp.StatusCode, body)
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		have := map[string]bool{}
		for _, k := range keysOf(got) {
			have[k] = true
		}
		for _, k := range keysOf(ex.Responses["200"].Body) {
			if !have[k] {
				t.Errorf("%s: the simulator's answer lacks %s, which %s has", url, k, filepath.Base(c.example))
			}
		}
	}
}

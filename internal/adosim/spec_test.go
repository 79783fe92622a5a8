package adosim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The simulator's answers, checked against Microsoft's OpenAPI definitions
// of the operations the project uses (vsts-rest-api-specs, copied to
// ../shared/ado-rest-specs beside the repository): a drift from the
// service's shapes fails the build. The validator below covers the part of
// JSON Schema those files use: $ref, allOf, type, enum, required,
// properties, additionalProperties and items. It checks our answers, not
// the definitions. Two leniencies, both the service's own: null passes for
// any property (Microsoft's examples send null for absent values), and
// properties the definition does not name pass (the service sends more
// than its definitions say, e.g. url and _links).

// specDir finds ado-rest-specs: ADO_REST_SPECS, else ../shared/ado-rest-specs
// from the repository root (how CI lays them out).
func specDir(t *testing.T) string {
	if d := os.Getenv("ADO_REST_SPECS"); d != "" {
		return d
	}
	dir, _ := os.Getwd()
	for dir != filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		dir = filepath.Dir(dir)
	}
	d := filepath.Join(filepath.Dir(dir), "shared", "ado-rest-specs")
	if _, err := os.Stat(d); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the REST specs are missing at %s: CI must place shared/ beside the repository", d)
		}
		t.Skipf("the REST specs are not at %s (set ADO_REST_SPECS to their folder); not validating", d)
	}
	return d
}

// specDoc is one OpenAPI 2.0 file.
type specDoc struct {
	Paths map[string]map[string]struct {
		Responses map[string]struct {
			Schema *schema `json:"schema"`
		} `json:"responses"`
	} `json:"paths"`
	Definitions map[string]*schema `json:"definitions"`
}

// stringForms are definitions the service writes as a string, not the
// object the definition describes (its JSON converters do so):
// IdentityDescriptor is "Microsoft.TeamFoundation.Identity;S-1-9-…".
var stringForms = map[string]bool{"IdentityDescriptor": true}

type schema struct {
	Ref                  string             `json:"$ref"`
	AllOf                []*schema          `json:"allOf"`
	Type                 string             `json:"type"`
	Enum                 []any              `json:"enum"`
	Required             []string           `json:"required"`
	Properties           map[string]*schema `json:"properties"`
	Items                *schema            `json:"items"`
	AdditionalProperties json.RawMessage    `json:"additionalProperties"`
}

func loadSpec(t *testing.T, path string) *specDoc {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d specDoc
	if err := json.Unmarshal(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &d
}

// validate appends to errs where v breaks s.
func (d *specDoc) validate(s *schema, v any, at string, errs *[]string, depth int) {
	if s == nil || v == nil || depth > 40 {
		return
	}
	if s.Ref != "" {
		name := strings.TrimPrefix(s.Ref, "#/definitions/")
		if _, ok := v.(string); ok && stringForms[name] {
			return
		}
		def, ok := d.Definitions[name]
		if !ok {
			*errs = append(*errs, fmt.Sprintf("%s: unknown definition %s", at, s.Ref))
			return
		}
		d.validate(def, v, at, errs, depth+1)
	}
	for _, sub := range s.AllOf {
		d.validate(sub, v, at, errs, depth+1)
	}
	bad := func(want string) { *errs = append(*errs, fmt.Sprintf("%s: want %s, got %T %v", at, want, v, v)) }
	typ := s.Type
	if typ == "" && s.Properties != nil {
		typ = "object"
	}
	if _, ok := v.(string); ok && typ == "" && len(s.Enum) > 0 {
		typ = "string" // the definitions give enums no type
	}
	switch typ {
	case "object":
		if s.Properties == nil && len(s.AdditionalProperties) == 0 && s.AllOf == nil && s.Ref == "" {
			return // C#'s object: any value
		}
		m, ok := v.(map[string]any)
		if !ok {
			bad("an object")
			return
		}
		for _, r := range s.Required {
			if _, ok := m[r]; !ok {
				*errs = append(*errs, fmt.Sprintf("%s: missing required %s", at, r))
			}
		}
		var extra *schema
		if len(s.AdditionalProperties) > 0 && s.AdditionalProperties[0] == '{' {
			_ = json.Unmarshal(s.AdditionalProperties, &extra)
		}
		for k, x := range m {
			if p, ok := s.Properties[k]; ok {
				d.validate(p, x, at+"."+k, errs, depth+1)
			} else if extra != nil {
				d.validate(extra, x, at+"."+k, errs, depth+1)
			}
		}
	case "array":
		list, ok := v.([]any)
		if !ok {
			bad("an array")
			return
		}
		for i, x := range list {
			d.validate(s.Items, x, fmt.Sprintf("%s[%d]", at, i), errs, depth+1)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			bad("a string")
			return
		}
		if len(s.Enum) > 0 && !strings.Contains(str, ",") { // flags enums join values with ", "
			found := false
			for _, e := range s.Enum {
				found = found || e == str
			}
			if !found {
				*errs = append(*errs, fmt.Sprintf("%s: %q is none of %v", at, str, s.Enum))
			}
		}
	case "integer", "number":
		if _, ok := v.(float64); !ok {
			bad("a number")
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			bad("a boolean")
		}
	}
}

// TestAnswersMatchMicrosoftsDefinitions calls every operation the project
// uses and validates the answer against its 200 response schema.
func TestAnswersMatchMicrosoftsDefinitions(t *testing.T) {
	dir := specDir(t)
	s := startSim(t, Options{})
	o := s.Org()
	o.mu.RLock()
	var user, group, entra, sp *Subject
	for _, sub := range o.subjects {
		switch {
		case sub.Deleted:
		case user == nil && sub.Kind == KindUser && sub.Ent != nil && sub.Type == "aad":
			user = sub
		case group == nil && sub.Type == "vssgp" && len(o.members[sub.seq]) > 0:
			group = sub
		case entra == nil && sub.Type == "aadgp":
			entra = sub
		case sp == nil && sub.Kind == KindServicePrincipal:
			sp = sub
		}
	}
	rule := o.groupRules[0]
	p := o.projects[0]
	ck := o.pipes().checks[0]
	ckRes := fmt.Sprintf(`[{"type":%q,"id":%q}]`, ck.ResType, ck.ResID)
	var team *Team
	for _, tm := range o.teams {
		if tm.ProjectID == p.ID {
			team = tm
			break
		}
	}
	o.mu.RUnlock()
	vssps, vsaex, audit, org := o.hostURL(hostVSSPS), o.hostURL(hostVSAEX), o.hostURL(hostAudit), o.hostURL(hostOrg)
	const gitNS = "2e9eb7ed-3c0a-47d4-87c1-0ffdd275fd87"
	ops := []struct {
		spec, method, path, url, body string
	}{
		{"graph/7.1/graph.json", "get", "/{organization}/_apis/graph/users", vssps + "/_apis/graph/users", ""},
		{"graph/7.1/graph.json", "get", "/{organization}/_apis/graph/groups", vssps + "/_apis/graph/groups", ""},
		{"graph/7.1/graph.json", "get", "/{organization}/_apis/graph/serviceprincipals", vssps + "/_apis/graph/serviceprincipals", ""},
		{"graph/7.1/graph.json", "get", "/{organization}/_apis/graph/users/{userDescriptor}", vssps + "/_apis/graph/users/" + user.Descriptor, ""},
		{"graph/7.1/graph.json", "get", "/{organization}/_apis/graph/groups/{groupDescriptor}", vssps + "/_apis/graph/groups/" + entra.Descriptor, ""},
		{"graph/7.1/graph.json", "get", "/{organization}/_apis/graph/serviceprincipals/{servicePrincipalDescriptor}", vssps + "/_apis/graph/serviceprincipals/" + sp.Descriptor, ""},
		{"graph/7.1/graph.json", "get", "/{organization}/_apis/graph/Memberships/{subjectDescriptor}", vssps + "/_apis/graph/Memberships/" + group.Descriptor + "?direction=down", ""},
		{"graph/7.1/graph.json", "get", "/{organization}/_apis/graph/membershipstates/{subjectDescriptor}", vssps + "/_apis/graph/membershipstates/" + user.Descriptor, ""},
		{"graph/7.1/graph.json", "get", "/{organization}/_apis/graph/storagekeys/{subjectDescriptor}", vssps + "/_apis/graph/storagekeys/" + user.Descriptor, ""},
		{"graph/7.1/graph.json", "get", "/{organization}/_apis/graph/descriptors/{storageKey}", vssps + "/_apis/graph/descriptors/" + user.ID, ""},
		{"graph/7.1/graph.json", "post", "/{organization}/_apis/graph/subjectlookup", vssps + "/_apis/graph/subjectlookup",
			fmt.Sprintf(`{"lookupKeys":[{"descriptor":%q},{"descriptor":%q},{"descriptor":%q}]}`, user.Descriptor, entra.Descriptor, sp.Descriptor)},
		{"ims/7.1/identities.json", "get", "/{organization}/_apis/identities", vssps + "/_apis/identities?subjectDescriptors=" + url.QueryEscape(group.Descriptor) + "&queryMembership=direct", ""},
		{"memberEntitlementManagement/7.1/memberEntitlementManagement.json", "get", "/{organization}/_apis/userentitlements", vsaex + "/_apis/userentitlements", ""},
		{"memberEntitlementManagement/7.1/memberEntitlementManagement.json", "get", "/{organization}/_apis/userentitlements/{userId}", vsaex + "/_apis/userentitlements/" + user.ID, ""},
		{"memberEntitlementManagement/7.1/memberEntitlementManagement.json", "get", "/{organization}/_apis/groupentitlements", vsaex + "/_apis/groupentitlements", ""},
		{"memberEntitlementManagement/7.1/memberEntitlementManagement.json", "get", "/{organization}/_apis/groupentitlements/{groupId}", vsaex + "/_apis/groupentitlements/" + rule.ID, ""},
		{"memberEntitlementManagement/7.1/memberEntitlementManagement.json", "get", "/{organization}/_apis/GroupEntitlements/{groupId}/members", vsaex + "/_apis/GroupEntitlements/" + rule.ID + "/members", ""},
		{"memberEntitlementManagement/7.1/memberEntitlementManagement.json", "get", "/{organization}/_apis/serviceprincipalentitlements/{servicePrincipalId}", vsaex + "/_apis/serviceprincipalentitlements/" + sp.ID, ""},
		{"core/7.1/core.json", "get", "/{organization}/_apis/projects", org + "/_apis/projects", ""},
		{"core/7.1/core.json", "get", "/{organization}/_apis/projects/{projectId}", org + "/_apis/projects/" + p.ID, ""},
		{"core/7.1/core.json", "get", "/{organization}/_apis/projects/{projectId}/teams", org + "/_apis/projects/" + p.ID + "/teams", ""},
		{"core/7.1/core.json", "get", "/{organization}/_apis/teams", org + "/_apis/teams", ""},
		{"core/7.1/core.json", "get", "/{organization}/_apis/projects/{projectId}/teams/{teamId}/members", org + "/_apis/projects/" + p.ID + "/teams/" + team.ID + "/members", ""},
		{"audit/7.1/audit.json", "get", "/{organization}/_apis/audit/auditlog", audit + "/_apis/audit/auditlog?batchSize=200", ""},
		{"security/7.1/security.json", "get", "/{organization}/_apis/securitynamespaces/{securityNamespaceId}", org + "/_apis/securitynamespaces", ""},
		{"security/7.1/security.json", "get", "/{organization}/_apis/accesscontrollists/{securityNamespaceId}", org + "/_apis/accesscontrollists/" + gitNS + "?includeExtendedInfo=true&recurse=true", ""},
		{"git/7.1/git.json", "get", "/{organization}/{project}/_apis/git/repositories", org + "/" + url.PathEscape(p.Name) + "/_apis/git/repositories", ""},
		{"approvalsAndChecks/7.1/pipelinesChecks.json", "post", "/{organization}/{project}/_apis/pipelines/checks/queryconfigurations",
			org + "/" + ck.ProjectID + "/_apis/pipelines/checks/queryconfigurations?$expand=settings", ckRes},
		{"approvalsAndChecks/7.1/pipelinesChecks.json", "get", "/{organization}/{project}/_apis/pipelines/checks/configurations",
			org + "/" + ck.ProjectID + "/_apis/pipelines/checks/configurations?resourceType=" + ck.ResType + "&resourceId=" + ck.ResID + "&$expand=settings", ""},
		{"approvalsAndChecks/7.1/pipelinesChecks.json", "get", "/{organization}/{project}/_apis/pipelines/checks/configurations/{id}",
			org + "/" + ck.ProjectID + "/_apis/pipelines/checks/configurations/" + fmt.Sprint(ck.ID), ""},
	}
	specs := map[string]*specDoc{}
	for _, op := range ops {
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			d := specs[op.spec]
			if d == nil {
				d = loadSpec(t, filepath.Join(dir, op.spec))
				specs[op.spec] = d
			}
			resp, ok := d.Paths[op.path][op.method].Responses["200"]
			if !ok || resp.Schema == nil {
				t.Fatalf("%s has no 200 schema for %s %s", op.spec, op.method, op.path)
			}
			method := strings.ToUpper(op.method)
			r, body := rawRequest{method: method, url: op.url, token: s.Credential("readwrite"), body: op.body}.send(t)
			if r.StatusCode != http.StatusOK {
				t.Fatalf("%s %s: %d %s", method, op.url, r.StatusCode, body)
			}
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("answer is not JSON: %v", err)
			}
			// Lists come wrapped ({"count", "value"}) where the definition
			// names the array.
			if m, ok := v.(map[string]any); ok && (resp.Schema.Type == "array" || (resp.Schema.Type == "object" && len(resp.Schema.AdditionalProperties) > 0)) {
				v = m["value"]
			}
			var errs []string
			d.validate(resp.Schema, v, "answer", &errs, 0)
			if len(errs) > 0 {
				t.Errorf("%d departures from %s, first: %s", len(errs), op.spec, strings.Join(errs[:min(len(errs), 5)], "; "))
			}
		})
	}
}

// The validator catches what it should: a wrong type, a value outside an
// enum, a missing required property, through $ref and allOf.
func TestSpecValidatorCatchesDepartures(t *testing.T) {
	d := &specDoc{Definitions: map[string]*schema{
		"Base":  {Type: "object", Required: []string{"id"}, Properties: map[string]*schema{"id": {Type: "string"}}},
		"Level": {Type: "object", Properties: map[string]*schema{"source": {Enum: []any{"none", "unknown", "groupRule"}}}},
		"Thing": {AllOf: []*schema{{Ref: "#/definitions/Base"}}, Type: "object", Properties: map[string]*schema{
			"level": {Ref: "#/definitions/Level"}, "count": {Type: "integer"}, "tags": {Type: "array", Items: &schema{Type: "string"}}}},
	}}
	for _, c := range []struct {
		json string
		want int
	}{
		{`{"id":"a","level":{"source":"unknown"},"count":2,"tags":["x"],"extra":1}`, 0},
		{`{"id":"a","level":{"source":""}}`, 1},
		{`{"level":null}`, 1},
		{`{"id":3,"count":"2","tags":[1]}`, 3},
	} {
		var v any
		_ = json.Unmarshal([]byte(c.json), &v)
		var errs []string
		d.validate(&schema{Ref: "#/definitions/Thing"}, v, "answer", &errs, 0)
		if len(errs) != c.want {
			t.Errorf("%s: %d departures %v, want %d", c.json, len(errs), errs, c.want)
		}
	}
}

// A service principal carries every property Microsoft's examples of one
// shows (GetServicePrincipal), directoryAlias among them: the definitions leave properties optional, so
// the schema check alone would not notice one gone. In every example of a
// service principal (GetServicePrincipal, GetAllServicePrincipals,
// GetAllMembers) the alias is its object id (originId).
func TestServicePrincipalsCarryWhatMicrosoftsExamplesShow(t *testing.T) {
	dir := specDir(t)
	b, err := os.ReadFile(filepath.Join(dir, "graph/7.1/httpExamples/ServicePrincipals/GetServicePrincipal.json"))
	if err != nil {
		t.Fatal(err)
	}
	var example struct {
		Responses map[string]struct {
			Body map[string]any `json:"body"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), &example); err != nil {
		t.Fatal(err)
	}
	want := example.Responses["200"].Body
	if len(want) == 0 || want["directoryAlias"] != want["originId"] {
		t.Fatalf("Microsoft's example is not as this test reads it: %v", want)
	}
	s := startSim(t, Options{})
	o := s.Org()
	o.mu.RLock()
	var sp *Subject
	for _, sub := range o.subjects {
		if !sub.Deleted && sub.Kind == KindServicePrincipal {
			sp = sub
			break
		}
	}
	o.mu.RUnlock()
	if sp == nil {
		t.Fatal("the simulated organization has no service principal")
	}
	r, body := rawRequest{method: http.MethodGet, url: o.hostURL(hostVSSPS) + "/_apis/graph/serviceprincipals/" + sp.Descriptor,
		token: s.Credential("readwrite")}.send(t)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("get service principal: %d %s", r.StatusCode, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("the simulator's service principal has no %q (Microsoft's example has it): %s", k, body)
		}
	}
	if got["directoryAlias"] != got["originId"] {
		t.Errorf("directoryAlias %v, want the object id %v as in Microsoft's examples", got["directoryAlias"], got["originId"])
	}
}

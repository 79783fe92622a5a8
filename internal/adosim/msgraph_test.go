package adosim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"
)

// mgCall sends one Microsoft Graph request with a bearer credential and
// decodes the JSON answer, if any, into out.
func mgCall(t *testing.T, s *Server, credential, method, path, body string, out any) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = s.MicrosoftGraphURL() + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Credential(credential))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp
}

// mgError is Microsoft Graph's error body.
type mgError struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			Date            string `json:"date"`
			RequestID       string `json:"request-id"`
			ClientRequestID string `json:"client-request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

func mgRef(id string) string {
	return fmt.Sprintf(`{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/%s"}`, id)
}

func mgWant(t *testing.T, what string, resp *http.Response, e mgError, status int, code string) {
	t.Helper()
	if resp.StatusCode != status || e.Error.Code != code {
		t.Errorf("%s: %d %q (%s), want %d %q", what, resp.StatusCode, e.Error.Code, e.Error.Message, status, code)
	}
	if e.Error.InnerError.RequestID == "" || e.Error.InnerError.ClientRequestID == "" || e.Error.InnerError.Date == "" {
		t.Errorf("%s: innerError %+v lacks date or request ids", what, e.Error.InnerError)
	}
}

func TestMicrosoftGraphAddAndRemoveMember(t *testing.T) {
	s := startSim(t, Options{})
	o := s.Org()
	var g, u *Subject
	for _, sub := range o.subjects {
		if sub.Type == "aadgp" && g == nil {
			g = sub
		}
	}
	for _, sub := range o.subjects {
		if sub.Type == "aad" && !sub.Deleted && !o.isMember(g, sub) {
			u = sub
			break
		}
	}
	gc, err := graph.NewClient(context.Background(), patConn(s, "readonly"))
	if err != nil {
		t.Fatal(err)
	}
	isMember := func() bool {
		t.Helper()
		err := gc.CheckMembershipExistence(context.Background(), graph.CheckMembershipExistenceArgs{SubjectDescriptor: &u.Descriptor, ContainerDescriptor: &g.Descriptor})
		if err != nil && clientStatus(err) != 404 {
			t.Fatalf("CheckMembershipExistence: %v", err)
		}
		return err == nil
	}
	o.mu.RLock()
	auditBefore := len(o.audit)
	o.mu.RUnlock()

	path := "/groups/" + g.OriginID + "/members/$ref"
	if resp := mgCall(t, s, "msgraph", http.MethodPost, path, mgRef(u.OriginID), nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("add: %d, want 204", resp.StatusCode)
	}
	if !isMember() {
		t.Fatalf("after the Graph add, Azure DevOps Graph does not show %s in %s", u.DisplayName, g.DisplayName)
	}
	var e mgError
	mgWant(t, "duplicate add", mgCall(t, s, "msgraph", http.MethodPost, path, mgRef(u.OriginID), &e), e, 400, "Request_BadRequest")
	if !strings.Contains(e.Error.Message, "already exist") {
		t.Errorf("duplicate add message %q", e.Error.Message)
	}

	e = mgError{}
	mgWant(t, "unknown object", mgCall(t, s, "msgraph", http.MethodPost, path, mgRef(uuid.NewString()), &e), e, 404, "Request_ResourceNotFound")
	e = mgError{}
	mgWant(t, "unknown group", mgCall(t, s, "msgraph", http.MethodPost, "/groups/"+uuid.NewString()+"/members/$ref", mgRef(u.OriginID), &e), e, 404, "Request_ResourceNotFound")
	e = mgError{}
	mgWant(t, "malformed body", mgCall(t, s, "msgraph", http.MethodPost, path, `{"@odata.id":`, &e), e, 400, "BadRequest")
	e = mgError{}
	mgWant(t, "reference that is not a directory object", mgCall(t, s, "msgraph", http.MethodPost, path, `{"@odata.id":"https://graph.microsoft.com/v1.0/me"}`, &e), e, 400, "Request_BadRequest")
	e = mgError{}
	resp := mgCall(t, s, "msgraph-noperm", http.MethodPost, path, mgRef(u.OriginID), &e)
	mgWant(t, "without GroupMember.ReadWrite.All", resp, e, 403, "Authorization_RequestDenied")
	if e.Error.Message != "Insufficient privileges to complete the operation." {
		t.Errorf("403 message %q", e.Error.Message)
	}

	del := "/groups/" + g.OriginID + "/members/" + u.OriginID + "/$ref"
	if resp := mgCall(t, s, "msgraph", http.MethodDelete, del, "", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("remove: %d, want 204", resp.StatusCode)
	}
	if isMember() {
		t.Errorf("after the Graph remove, Azure DevOps Graph still shows the membership")
	}
	e = mgError{}
	mgWant(t, "remove a non-member", mgCall(t, s, "msgraph", http.MethodDelete, del, "", &e), e, 404, "Request_ResourceNotFound")

	// Entra changes are not in the Azure DevOps Audit Log.
	o.mu.RLock()
	defer o.mu.RUnlock()
	if len(o.audit) != auditBefore {
		t.Errorf("Microsoft Graph changes wrote %d Azure DevOps audit entries, want none", len(o.audit)-auditBefore)
	}
}

func TestMicrosoftGraphListMembersPages(t *testing.T) {
	s := startSim(t, Options{})
	o := s.Org()
	o.mu.Lock()
	g := o.newGroup(nil, "sg-paging", "Synchronized from Microsoft Entra ID.", true)
	want := map[string]bool{}
	for i := range 250 {
		u := o.newUser(userKind{Type: "aad"}, fmt.Sprintf("Pager %03d", i), fmt.Sprintf("pager.%03d", i))
		u.Ent = &Entitlement{LastAccessed: time.Now()}
		o.link(g, u)
		want[u.OriginID] = true
	}
	sp := o.newServicePrincipal("deployer-paging", false)
	o.link(g, sp)
	want[sp.OriginID] = true
	o.mu.Unlock()

	type page struct {
		NextLink string `json:"@odata.nextLink"`
		Value    []struct {
			Type string `json:"@odata.type"`
			ID   string `json:"id"`
		} `json:"value"`
	}
	got := map[string]bool{}
	var sizes []int
	next := "/groups/" + g.OriginID + "/members?$top=100"
	for next != "" {
		var p page
		if resp := mgCall(t, s, "msgraph", http.MethodGet, next, "", &p); resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", next, resp.StatusCode)
		}
		for _, m := range p.Value {
			if got[m.ID] {
				t.Errorf("member %s on two pages", m.ID)
			}
			got[m.ID] = true
			if m.ID == sp.OriginID && m.Type != "#microsoft.graph.servicePrincipal" {
				t.Errorf("service principal typed %q", m.Type)
			}
		}
		sizes = append(sizes, len(p.Value))
		next = p.NextLink
		if len(sizes) > 10 {
			t.Fatal("paging does not end")
		}
	}
	if !slices.Equal(sizes, []int{100, 100, 51}) {
		t.Errorf("page sizes %v, want [100 100 51]", sizes)
	}
	if len(got) != len(want) {
		t.Errorf("listed %d members, want %d", len(got), len(want))
	}
	for id := range want {
		if !got[id] {
			t.Errorf("member %s not listed", id)
		}
	}

	var p page
	if resp := mgCall(t, s, "msgraph", http.MethodGet, "/groups/"+g.OriginID+"/members", "", &p); resp.StatusCode != 200 || len(p.Value) != 100 || p.NextLink == "" {
		t.Errorf("default page: %d, %d members, nextLink %q; want 100 and a nextLink", resp.StatusCode, len(p.Value), p.NextLink)
	}
	var e mgError
	mgWant(t, "$top=1000", mgCall(t, s, "msgraph", http.MethodGet, "/groups/"+g.OriginID+"/members?$top=1000", "", &e), e, 400, "Request_UnsupportedQuery")
	e = mgError{}
	mgWant(t, "list without GroupMember.Read.All", mgCall(t, s, "msgraph-noperm", http.MethodGet, "/groups/"+g.OriginID+"/members", "", &e), e, 403, "Authorization_RequestDenied")
}

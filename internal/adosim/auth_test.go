package adosim

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/audit"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"
)

func bearerConn(s *Server, token string) *azuredevops.Connection {
	return &azuredevops.Connection{AuthorizationString: "Bearer " + token, BaseUrl: s.URL(), SuppressFedAuthRedirect: true}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Now: runningClock()})
	o := s.Org()
	group := liveSubjects(o, ofType("vssgp"))[10]
	user := liveSubjects(o, ofType("aad"))[5]
	listUsers := func(conn *azuredevops.Connection) error {
		_, err := mustClient(t, graph.NewClient, conn).ListUsers(context.Background(), graph.ListUsersArgs{})
		return err
	}
	addMember := func(conn *azuredevops.Connection) error {
		_, err := mustClient(t, graph.NewClient, conn).AddMembership(context.Background(), graph.AddMembershipArgs{SubjectDescriptor: &user.Descriptor, ContainerDescriptor: &group.Descriptor})
		return err
	}
	queryLog := func(conn *azuredevops.Connection) error {
		_, err := mustClient(t, audit.NewClient, conn).QueryLog(context.Background(), audit.QueryLogArgs{})
		return err
	}
	createProject := func(conn *azuredevops.Connection) error {
		_, err := mustClient(t, core.NewClient, conn).QueueCreateProject(context.Background(), core.QueueCreateProjectArgs{ProjectToCreate: &core.TeamProject{Name: ptrTo("Never Made")}})
		return err
	}
	unknown := randomToken(32)
	tests := []struct {
		name    string
		conn    *azuredevops.Connection
		token   string // must never appear in an error
		call    func(*azuredevops.Connection) error
		status  int
		message string // part of the error message
	}{
		{"readonly PAT reads", patConn(s, "readonly"), s.Credential("readonly"), listUsers, 0, ""},
		{"readonly PAT reads the audit log", patConn(s, "readonly"), s.Credential("readonly"), queryLog, 0, ""},
		{"readwrite PAT writes", patConn(s, "readwrite"), s.Credential("readwrite"), addMember, 0, ""},
		{"bearer token reads", bearerConn(s, s.Credential("bearer")), s.Credential("bearer"), listUsers, 0, ""},
		{"bearer token writes", bearerConn(s, s.Credential("bearer")), s.Credential("bearer"), addMember, 0, ""},
		{"unknown PAT", azuredevops.NewPatConnection(s.URL(), unknown), unknown, listUsers, http.StatusUnauthorized, "TF400813"},
		{"expired PAT", patConn(s, "expired"), s.Credential("expired"), listUsers, http.StatusUnauthorized, "expired"},
		{"PAT presented as bearer", bearerConn(s, s.Credential("readonly")), s.Credential("readonly"), listUsers, http.StatusUnauthorized, "TF400813"},
		{"bearer token presented as PAT", azuredevops.NewPatConnection(s.URL(), s.Credential("bearer")), s.Credential("bearer"), listUsers, http.StatusUnauthorized, "TF400813"},
		{"no credential", azuredevops.NewAnonymousConnection(s.URL()), "", listUsers, http.StatusUnauthorized, "TF400813"},
		{"no audit scope", patConn(s, "noaudit"), s.Credential("noaudit"), queryLog, http.StatusForbidden, "vso.auditlog"},
		{"readonly writes a membership", patConn(s, "readonly"), s.Credential("readonly"), addMember, http.StatusForbidden, "vso.graph_manage"},
		{"readonly creates a project", patConn(s, "readonly"), s.Credential("readonly"), createProject, http.StatusForbidden, "vso.project_manage"},
		{"Microsoft Graph token on Azure DevOps", bearerConn(s, s.Credential("msgraph")), s.Credential("msgraph"), listUsers, http.StatusForbidden, "vso.graph"},
	}
	before := s.Stats().Faults
	var want401, want403 int64
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(tc.conn)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			wantStatus(t, err, tc.status, tc.name)
			if _, ok := err.(azuredevops.WrappedError); !ok {
				t.Errorf("error is %T, want azuredevops.WrappedError (a JSON body)", err)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not mention %q", err, tc.message)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Errorf("error %q contains the credential", err)
			}
			if tc.status == http.StatusUnauthorized {
				want401++
			} else {
				want403++
			}
		})
	}
	after := s.Stats().Faults
	if after["auth_401"]-before["auth_401"] != want401 || after["auth_403"]-before["auth_403"] != want403 {
		t.Errorf("Stats().Faults counted %d 401s and %d 403s, want %d and %d", after["auth_401"]-before["auth_401"], after["auth_403"]-before["auth_403"], want401, want403)
	}

	t.Run("raw headers", func(t *testing.T) {
		resp, body := rawRequest{url: s.URL() + "/_apis/projects", token: "nope"}.send(t)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("unknown PAT: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if strings.Contains(string(body), "nope") {
			t.Fatalf("401 body repeats the credential: %s", body)
		}
		resp, _ = rawRequest{url: s.URL() + "/_apis/projects", token: s.Credential("bearer"), bearer: true}.send(t)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("bearer: %d", resp.StatusCode)
		}
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/_apis/projects", nil)
		req.Header.Set("Accept", "application/json;api-version=7.1")
		req.Header.Set("Authorization", "Basic %%%not-base64")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("malformed Basic header: %d", r.StatusCode)
		}
	})
	t.Run("discovery needs no credential", func(t *testing.T) {
		resp, _ := rawRequest{method: http.MethodOptions, url: s.URL() + "/_apis", version: "-"}.send(t)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("anonymous OPTIONS: %d", resp.StatusCode)
		}
	})
}

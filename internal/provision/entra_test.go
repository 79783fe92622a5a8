package provision

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// entraMembers lists direct memberships of Entra users in Entra groups:
// member, principal name, group, group principal name.
func (e *env) entraMembers() [][]string {
	return e.query(`SELECT m.member, a.principal_name, m.container, g.principal_name FROM memberships m
		JOIN accounts a ON a.descriptor = m.member AND ` + at("a") + `
		JOIN groups g ON g.descriptor = m.container AND ` + at("g") + `
		WHERE ` + at("m") + ` AND a.subject_type = 'aad' AND g.subject_type = 'aadgp' ORDER BY 3, 1`)
}

// entraLive signs in as an app of the simulated Entra tenant through
// azidentity (client secret) and connects to Azure DevOps and Microsoft
// Graph with its tokens.
func (e *env) entraLive(app adosim.EntraApp) *Live {
	e.t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.sim.EntraCertPEM())
	cred, err := azidentity.NewClientSecretCredential(e.sim.TenantID(), app.ClientID, app.Secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: e.sim.EntraAuthorityHost()},
			Transport: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ado, err := collect.Dial(e.ctx, e.sim.URL(), collect.Credential{Tokens: collect.EntraTokens(cred)}, collect.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	graph, err := collect.DialMSGraph(e.sim.MicrosoftGraphURL(), collect.EntraTokensFor(cred, collect.MSGraphScope), collect.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	return &Live{ADO: ado, Graph: graph}
}

// Entra groups: with a PAT their memberships are reported as no-ops
// (managed in Entra ID) without a call; with an Entra app holding
// GroupMember.ReadWrite.All they change through Microsoft Graph; without
// the permission, the one-line error names it before anything changes.
func TestEntraGroupMemberships(t *testing.T) {
	t.Parallel()
	writer := adosim.EntraApp{ClientID: "0c0a0000-0000-4000-8000-000000000001", Secret: "w", GraphRoles: []string{"GroupMember.ReadWrite.All"}}
	reader := adosim.EntraApp{ClientID: "0c0a0000-0000-4000-8000-000000000002", Secret: "r", GraphRoles: []string{"GroupMember.Read.All"}}
	none := adosim.EntraApp{ClientID: "0c0a0000-0000-4000-8000-000000000003", Secret: "n", GraphRoles: []string{"User.Read.All"}}
	e := newEnv(t, adosim.Options{EntraApps: []adosim.EntraApp{writer, reader, none}})
	if err := e.sim.StartEntra(""); err != nil {
		t.Fatal(err)
	}
	em := e.entraMembers()
	if len(em) < 2 {
		t.Fatalf("Entra memberships: %v", em)
	}
	d := e.mustRead(e.planCSV("plan.csv", planHeader,
		[]string{"revoke", em[0][1], em[0][3], "", "", "a@b.example", ""},
		[]string{"revoke", em[1][1], em[1][3], "", "", "a@b.example", ""}))

	t.Run("PAT: a no-op", func(t *testing.T) {
		before := e.sim.Stats().Requests
		p := e.mustBuild(d, Options{})
		if states(p)[StateNoop] != 2 || !strings.Contains(p.Actions[0].Note, "membership managed in Entra ID") {
			t.Fatalf("plan %+v", p.Actions[0])
		}
		res := e.apply(p)
		after := e.sim.Stats().Requests
		if res.Counts[snapshot.JournalNoop] != 2 || after["msgraph.members.remove"] != before["msgraph.members.remove"] ||
			after["graph.memberships.check"] != before["graph.memberships.check"] {
			t.Fatalf("noop outcomes %+v; calls made", res.Outcomes)
		}
		j, _ := e.st.Journal(e.ctx, p.ID)
		if len(j) != 2 || j[0].Status != snapshot.JournalNoop || !strings.Contains(j[0].Error, "managed in Entra ID") {
			t.Fatalf("journal %+v", j)
		}
		if !e.isMember(em[0][0], em[0][2]) {
			t.Fatal("a no-op changed the membership")
		}
	})
	t.Run("Graph without GroupMember.ReadWrite.All", func(t *testing.T) {
		live := e.entraLive(reader)
		p, err := Build(e.ctx, e.st, d, live, Options{Me: e.me()})
		if err != nil {
			t.Fatal(err)
		}
		err = live.CheckWriteAccess(e.ctx, p)
		if !errors.Is(err, collect.ErrMissingGraphPermission) || err.Error() != "missing Microsoft Graph application permission GroupMember.ReadWrite.All (with admin consent)" {
			t.Fatalf("write check: %v", err)
		}
		// Without any group permission, even the live read says so.
		_, err = Build(e.ctx, e.st, d, e.entraLive(none), Options{Me: e.me()})
		if !errors.Is(err, collect.ErrMissingGraphPermission) {
			t.Fatalf("read without permission: %v", err)
		}
		if !e.isMember(em[0][0], em[0][2]) {
			t.Fatal("the membership changed")
		}
	})
	t.Run("Graph with GroupMember.ReadWrite.All", func(t *testing.T) {
		live := e.entraLive(writer)
		p, err := Build(e.ctx, e.st, d, live, Options{Me: e.me()})
		if err != nil {
			t.Fatal(err)
		}
		if states(p)[StateApply] != 2 {
			t.Fatalf("plan %+v", p.Actions)
		}
		if err := live.CheckWriteAccess(e.ctx, p); err != nil {
			t.Fatal(err)
		}
		// One of them is removed in Entra ID before apply gets to it: not
		// being a member any more counts as done.
		if _, _, err := live.Graph.RemoveGroupMember(e.ctx, groupOrigin(e, em[1][2]), accountOrigin(e, em[1][0])); err != nil {
			t.Fatal(err)
		}
		before := e.sim.Stats().Requests["msgraph.members.remove"]
		res, err := (&Applier{Store: e.st, Live: live, Backoff: time.Millisecond}).Apply(e.ctx, p)
		if err != nil || res.Counts[snapshot.JournalDone] != 2 {
			t.Fatalf("apply through Graph: %+v %v", res, err)
		}
		if n := e.sim.Stats().Requests["msgraph.members.remove"] - before; n != 2 {
			t.Fatalf("%d Graph removals", n)
		}
		for _, m := range em[:2] {
			if e.isMember(m[0], m[2]) {
				t.Errorf("%s is still in %s", m[1], m[3])
			}
		}
		checks, err := live.Verify(e.ctx, p)
		if err != nil || len(checks) != 2 || !checks[0].OK {
			t.Fatalf("verify %+v %v", checks, err)
		}
	})
}

func groupOrigin(e *env, d string) string {
	return e.query(`SELECT origin_id FROM groups WHERE descriptor = :v AND `+atRun, d)[0][0]
}

func accountOrigin(e *env, d string) string {
	return e.query(`SELECT origin_id FROM accounts WHERE descriptor = :v AND `+atRun, d)[0][0]
}

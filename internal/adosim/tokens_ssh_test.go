package adosim

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/delegatedauthorization"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/tokenadmin"
)

// SSH keys: fewer than tokens, some of leavers, long or no expiry; listed
// only with isPublic=true, with the fields of the spec's SessionToken (the
// recorded example's, isPublic true); revoked only with isPublic=true.
func TestSSHKeysThroughTokenAdmin(t *testing.T) {
	s := startSim(t, Options{Now: runningClock()})
	ctx := context.Background()
	o := s.Org()
	tk := mustClient(t, tokenadmin.NewClient, patConn(s, "readwrite"))
	var keys, pats, leavers, never int
	var holder *Subject
	for _, p := range o.pipes().pats {
		if !p.SSH {
			pats++
			continue
		}
		keys++
		holder = p.Owner
		if p.Owner.DeletedOrigin || p.Owner.Ent.Status == "disabled" {
			leavers++
		}
		if p.ValidTo.Equal(sshNever) {
			never++
		}
		if p.Value != "" || !strings.HasPrefix(p.PublicKey, "ssh-ed25519 ") {
			t.Fatalf("SSH key %s: value %q, public key %q", p.AuthorizationID, p.Value, p.PublicKey)
		}
	}
	if keys == 0 || keys >= pats || never == 0 {
		t.Fatalf("%d SSH keys (%d without expiry, %d of leavers) beside %d tokens: want fewer keys than tokens, some without expiry", keys, never, leavers, pats)
	}
	mine := func(public bool) []delegatedauthorization.SessionToken {
		page, err := tk.ListPersonalAccessTokens(ctx, tokenadmin.ListPersonalAccessTokensArgs{SubjectDescriptor: &holder.Descriptor, IsPublic: &public})
		if err != nil {
			t.Fatal(err)
		}
		return *page.Value
	}
	want := 0
	for _, p := range o.pipes().pats {
		if p.SSH && p.Owner == holder {
			want++
		}
	}
	got := mine(true)
	if len(got) != want {
		t.Fatalf("isPublic=true listed %d, holder has %d SSH keys", len(got), want)
	}
	for _, k := range got {
		if k.IsPublic == nil || !*k.IsPublic || k.PublicData == nil || k.Token != nil {
			t.Fatalf("SSH key answered as %+v", k)
		}
	}
	for _, p := range mine(false) {
		if *p.IsPublic {
			t.Fatal("isPublic=false listed an SSH key")
		}
	}

	// The answer has every field the spec's recorded example has.
	b, err := os.ReadFile(filepath.Join(specDir(t), "tokenAdmin/7.1/httpExamples/personalAccessTokens/GetPersonalAccessTokensForAUserInYourOrganization.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ex struct {
		Responses map[string]struct {
			Body struct{ Value []map[string]any } `json:"body"`
		} `json:"responses"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(string(b), "\ufeff")), &ex); err != nil {
		t.Fatal(err)
	}
	resp, body := rawRequest{url: o.hostURL(hostVSSPS) + "/_apis/tokenadmin/personalaccesstokens/" + holder.Descriptor + "?isPublic=true", token: s.Credential("readwrite")}.send(t)
	var raw struct{ Value []map[string]any }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &raw) != nil || len(raw.Value) == 0 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	exKeys, gotKeys := keysOf(ex.Responses["200"].Body.Value[0]), keysOf(raw.Value[0])
	slices.Sort(exKeys)
	slices.Sort(gotKeys)
	if !slices.Equal(exKeys, gotKeys) {
		t.Errorf("an SSH key has fields %v, the example's tokens %v", gotKeys, exKeys)
	}
	if resp, _ := (rawRequest{url: o.hostURL(hostVSSPS) + "/_apis/tokenadmin/personalaccesstokens/" + holder.Descriptor + "?isPublic=maybe", token: s.Credential("readwrite")}).send(t); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("isPublic=maybe: %d, want 400", resp.StatusCode)
	}

	// Revoked only as what it is.
	id := got[0].AuthorizationId
	revoke := func(public bool) {
		if err := tk.RevokeAuthorizations(ctx, tokenadmin.RevokeAuthorizationsArgs{Revocations: &[]tokenadmin.TokenAdminRevocation{{AuthorizationId: id}}, IsPublic: &public}); err != nil {
			t.Fatal(err)
		}
	}
	revoke(false)
	if len(mine(true)) != want {
		t.Fatal("a revocation without isPublic=true revoked an SSH key")
	}
	revoke(true)
	if len(mine(true)) != want-1 || !auditHas(o, "Token.SshRevokeEvent") {
		t.Fatal("a revocation with isPublic=true did not revoke the SSH key, or wrote no Token.SshRevokeEvent")
	}
}

// The Audit Log action ids of SSH keys are Microsoft's: Token.SshCreateEvent
// and Token.SshRevokeEvent ("SSH Key "{DisplayName}" was created/revoked"),
// in the Token area of the auditing events list
// (https://learn.microsoft.com/azure/devops/organizations/audit/auditing-events,
// MicrosoftDocs/azure-devops-docs docs/organizations/audit/auditing-events.md).
// The entries carry the owner's id (UserId), as the tokens' do.
func TestSSHKeyMutationsWriteTokenEntries(t *testing.T) {
	s := startSim(t, Options{Now: runningClock()})
	for kind, action := range map[string]string{"ssh.create": "Token.SshCreateEvent", "ssh.revoke": "Token.SshRevokeEvent"} {
		res, err := s.Mutate(MutateRequest{Count: 1, Seed: 3, Kinds: []string{kind}})
		if err != nil || len(res.Applied) != 1 || res.Applied[0].ActionID != action {
			t.Fatalf("%s: %v %+v", kind, err, res)
		}
		if !auditHas(s.Org(), action) {
			t.Errorf("%s wrote no %s", kind, action)
		}
	}
	o := s.Org()
	o.mu.RLock()
	defer o.mu.RUnlock()
	for _, e := range o.audit {
		if strings.HasPrefix(e.ActionID, "Token.Ssh") {
			b, _ := json.Marshal(e.Data)
			if !strings.Contains(string(b), `"UserId"`) {
				t.Errorf("%s carries no UserId: %s", e.ActionID, b)
			}
		}
	}
}

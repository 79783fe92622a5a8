package adosim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// entraOptions are the client options azidentity needs to use the
// simulated identity platform: its authority host, a transport that
// trusts its certificate, and no instance discovery (which would ask
// login.microsoftonline.com about the authority).
func entraOptions(t *testing.T, s *Server) azcore.ClientOptions {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.EntraCertPEM()) {
		t.Fatal("the identity platform's certificate does not parse")
	}
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.EntraAuthorityHost()},
		Transport: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	}
}

func startEntraSim(t *testing.T, apps ...EntraApp) *Server {
	t.Helper()
	s := startSim(t, Options{Now: runningClock(), EntraApps: apps})
	if err := s.StartEntra(""); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.EntraAuthorityHost(), "https://127.0.0.1:") {
		t.Fatalf("authority host %q", s.EntraAuthorityHost())
	}
	return s
}

func token(t *testing.T, cred azcore.TokenCredential, scope string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	return tok.Token, err
}

// The Entra paths are exercised through azidentity itself: a client
// secret and a workload identity (federated token file) sign in, and the
// tokens they get work against Azure DevOps and Microsoft Graph with the
// permissions the app was granted, and no more.
func TestEntraTokensThroughAzidentity(t *testing.T) {
	t.Parallel()
	writer := EntraApp{ClientID: "11111111-1111-1111-1111-111111111111", Secret: "s3cret", GraphRoles: []string{"GroupMember.ReadWrite.All"}}
	reader := EntraApp{ClientID: "22222222-2222-2222-2222-222222222222", Secret: "other", DevOpsScopes: readScopes, GraphRoles: []string{"User.Read.All"}}
	workload := EntraApp{ClientID: "33333333-3333-3333-3333-333333333333",
		Federated: &FederatedCredential{Issuer: "https://oidc.example/cluster", Subject: "system:serviceaccount:ops:exporter"}}
	s := startEntraSim(t, writer, reader, workload)
	opts := entraOptions(t, s)
	devops := AzureDevOpsResource + "/.default"
	graphScope := MicrosoftGraphResource + "/.default"

	secretCred := func(app EntraApp, secret string) azcore.TokenCredential {
		c, err := azidentity.NewClientSecretCredential(s.TenantID(), app.ClientID, secret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// Client secret: an Azure DevOps token that reads and writes.
	adoTok, err := token(t, secretCred(writer, writer.Secret), devops)
	if err != nil {
		t.Fatalf("client secret token: %v", err)
	}
	if resp, _ := (rawRequest{url: s.org.hostURL(hostVSSPS) + "/_apis/graph/users", token: adoTok, bearer: true}).send(t); resp.StatusCode != 200 {
		t.Fatalf("Azure DevOps with the app's token: %d", resp.StatusCode)
	}

	// A wrong secret fails in azidentity with the platform's AADSTS code.
	if _, err := token(t, secretCred(writer, "wrong"), devops); err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("wrong secret: %v", err)
	}
	// A resource the platform does not know is refused.
	if _, err := token(t, secretCred(writer, writer.Secret), "https://storage.azure.com/.default"); err == nil || !strings.Contains(err.Error(), "AADSTS1002012") {
		t.Fatalf("unknown resource: %v", err)
	}

	// Microsoft Graph: with GroupMember.ReadWrite.All a member is added;
	// without it, Graph's 403.
	o := s.Org()
	groups := liveSubjects(o, ofType("aadgp"))
	users := liveSubjects(o, func(x *Subject) bool { return x.Type == "aad" && x.Kind == KindUser })
	g, u := groups[0], users[len(users)-1]
	o.mu.Lock()
	o.RemoveEntraMember(g, u)
	o.mu.Unlock()
	addRef := `{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/` + u.OriginID + `"}`
	graphTok, err := token(t, secretCred(writer, writer.Secret), graphScope)
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := (rawRequest{method: "POST", url: s.MicrosoftGraphURL() + "/groups/" + g.OriginID + "/members/$ref", token: graphTok, bearer: true, body: addRef}).send(t); resp.StatusCode != 204 {
		t.Fatalf("add with GroupMember.ReadWrite.All: %d %s", resp.StatusCode, body)
	}
	weakTok, err := token(t, secretCred(reader, reader.Secret), graphScope)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := (rawRequest{method: "DELETE", url: s.MicrosoftGraphURL() + "/groups/" + g.OriginID + "/members/" + u.OriginID + "/$ref", token: weakTok, bearer: true}).send(t)
	if resp.StatusCode != 403 || !strings.Contains(string(body), "Authorization_RequestDenied") {
		t.Fatalf("remove without GroupMember.ReadWrite.All: %d %s", resp.StatusCode, body)
	}
	// The read-only app's Azure DevOps token cannot write.
	readTok, _ := token(t, secretCred(reader, reader.Secret), devops)
	resp, _ = (rawRequest{method: "PUT", url: s.org.hostURL(hostVSSPS) + "/_apis/graph/memberships/" + u.Descriptor + "/" + g.Descriptor, token: readTok, bearer: true}).send(t)
	if resp.StatusCode != 403 {
		t.Fatalf("a membership write with a read-only token: %d", resp.StatusCode)
	}

	// Workload identity: the federated token file is the client assertion.
	file := filepath.Join(t.TempDir(), "token")
	os.WriteFile(file, []byte(FederatedToken(workload.Federated.Issuer, workload.Federated.Subject, "", time.Now().Add(time.Hour))), 0o600)
	wl, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientOptions: opts, ClientID: workload.ClientID, TenantID: s.TenantID(), TokenFilePath: file, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	wlTok, err := token(t, wl, devops)
	if err != nil {
		t.Fatalf("workload identity token: %v", err)
	}
	if resp, _ := (rawRequest{url: s.org.hostURL(hostVSSPS) + "/_apis/graph/groups", token: wlTok, bearer: true}).send(t); resp.StatusCode != 200 {
		t.Fatalf("Azure DevOps with the workload identity's token: %d", resp.StatusCode)
	}
	// A federated token of another subject is not trusted.
	os.WriteFile(file, []byte(FederatedToken(workload.Federated.Issuer, "system:serviceaccount:ops:intruder", "", time.Now().Add(time.Hour))), 0o600)
	wl2, _ := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientOptions: opts, ClientID: workload.ClientID, TenantID: s.TenantID(), TokenFilePath: file, DisableInstanceDiscovery: true})
	if _, err := token(t, wl2, devops); err == nil || !strings.Contains(err.Error(), "AADSTS70021") {
		t.Fatalf("federated token of another subject: %v", err)
	}

	// Tokens expire on the simulated clock.
	s.Advance(2 * time.Hour)
	if resp, _ := (rawRequest{url: s.org.hostURL(hostVSSPS) + "/_apis/graph/users", token: adoTok, bearer: true}).send(t); resp.StatusCode != 401 {
		t.Fatalf("an expired token: %d", resp.StatusCode)
	}
}

// AZURE_AUTHORITY_HOST reaches the platform the way deployments set it:
// DefaultAzureCredential's environment credential, from variables alone.
func TestEntraAuthorityHostFromEnvironment(t *testing.T) {
	app := DefaultEntraApp()
	s := startEntraSim(t, app)
	t.Setenv("AZURE_AUTHORITY_HOST", s.EntraAuthorityHost())
	t.Setenv("AZURE_TENANT_ID", s.TenantID())
	t.Setenv("AZURE_CLIENT_ID", app.ClientID)
	t.Setenv("AZURE_CLIENT_SECRET", app.Secret)
	opts := entraOptions(t, s)
	opts.Cloud = cloud.Configuration{} // from the environment
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := token(t, cred, AzureDevOpsResource+"/.default"); err != nil {
		t.Fatalf("DefaultAzureCredential through AZURE_AUTHORITY_HOST: %v", err)
	}
	if n := s.Stats().Requests["entra.token"]; n != 1 {
		t.Fatalf("token requests %d, want 1", n)
	}
}

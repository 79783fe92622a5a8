package collect

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/tokenadmin"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

func countRows(t testing.TB, st *snapshot.Store, tbl *snapshot.Table, keep func(snapshot.Row) bool) int {
	t.Helper()
	n := 0
	if err := st.Current(context.Background(), tbl, func(r snapshot.Row) error {
		if keep == nil || keep(r) {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// A full sync reads every pipeline resource and token the organization
// holds; requests grow with projects and resources; a token revoked is
// gone after the next (incremental) sync.
func TestPipelinesFullThenRevoked(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec, Seed: 3})
	c := dial(t, sim, "readwrite")
	st := openStore(t)
	run := syncMode(t, c, st, "full")
	want := sim.PipelineCounts()
	for _, x := range []struct {
		tbl  *snapshot.Table
		want int
	}{
		{snapshot.ServiceConnections, want.Connections}, {snapshot.VariableGroups, want.VariableGroups},
		{snapshot.Environments, want.Environments}, {snapshot.AgentQueues, want.Queues}, {snapshot.AgentPools, want.Pools},
		{snapshot.PersonalAccessTokens, want.Tokens},
	} {
		if got := countRows(t, st, x.tbl, nil); got != x.want || got == 0 {
			t.Errorf("%s: %d rows, the organization holds %d", x.tbl.Name, got, x.want)
		}
	}
	// Every project resource has its pipeline permissions; every variable
	// group and environment its creator's Administrator role.
	resources := want.Connections + want.VariableGroups + want.Environments + want.Queues
	if got := countRows(t, st, snapshot.PipelinePermissions, nil); got != resources {
		t.Errorf("pipeline permissions: %d rows for %d resources", got, resources)
	}
	if got := countRows(t, st, snapshot.ResourceRoles, func(r snapshot.Row) bool { return r[5] == int64(0) }); got < want.VariableGroups+want.Environments {
		t.Errorf("%d assigned roles for %d variable groups and environments", got, want.VariableGroups+want.Environments)
	}
	// Four lists per project, two reads per resource, the pools and their
	// roles; never a read per user and resource.
	projects := countRows(t, st, snapshot.Projects, nil)
	pipeReqs := run.RequestsByArea["serviceendpoint"] + run.RequestsByArea["distributedtask"] + run.RequestsByArea["pipelines"] + run.RequestsByArea["securityroles"]
	if max := int64(4*projects + 2*resources + 1 + want.Pools); pipeReqs > max {
		t.Errorf("pipeline areas took %d requests, want at most %d (%v)", pipeReqs, max, run.RequestsByArea)
	}

	// Revoke one token through the v7 client; the next sync sees it gone.
	var owner, id string
	st.Current(context.Background(), snapshot.PersonalAccessTokens, func(r snapshot.Row) error {
		if r[2] == TokenKindPAT {
			owner, id = r[0].(string), r[1].(string)
		}
		return nil
	})
	tk, err := tokenadmin.NewClient(context.Background(), azuredevops.NewPatConnection(sim.URL(), sim.Credential("readwrite")))
	if err != nil {
		t.Fatal(err)
	}
	u := mustUUID(t, id)
	if err := tk.RevokeAuthorizations(context.Background(), tokenadmin.RevokeAuthorizationsArgs{Revocations: &[]tokenadmin.TokenAdminRevocation{{AuthorizationId: &u}}}); err != nil {
		t.Fatal(err)
	}
	inc := syncMode(t, c, st, "incremental")
	if n := countRows(t, st, snapshot.PersonalAccessTokens, func(r snapshot.Row) bool { return r[1] == id }); n != 0 {
		t.Fatalf("token %s of %s still current after revocation (note %q)", id, owner, inc.Note)
	}
	if inc.RequestsByArea["tokenadmin"] == 0 || inc.RequestsByArea["tokenadmin"] > 3 {
		t.Errorf("the incremental run re-read tokens with %d requests (%v)", inc.RequestsByArea["tokenadmin"], inc.RequestsByArea)
	}
}

// A credential without the scopes of some kinds reads the rest and says
// which scope each kind needs; what it could not read is left as it was.
func TestPipelinesMissingScopesWarn(t *testing.T) {
	t.Parallel()
	narrow := []string{"vso.graph", "vso.memberentitlementmanagement", "vso.project", "vso.code", "vso.auditlog", "vso.identity", "vso.profile",
		"vso.variablegroups_read", "vso.environment_manage", "vso.agentpools", "vso.build"}
	creds := append(adosim.DefaultCredentials(), adosim.Credential{Name: "narrow", Token: "narrow-pat-0123456789abcdef", Scopes: narrow})
	sim := startSim(t, adosim.Options{Spec: &propertySpec, Seed: 4, Credentials: creds})
	st := openStore(t)
	syncMode(t, dial(t, sim, "readwrite"), st, "full")
	before := countRows(t, st, snapshot.ServiceConnections, nil)
	tokens := countRows(t, st, snapshot.PersonalAccessTokens, nil)
	c, err := Dial(context.Background(), sim.URL(), Credential{PAT: "narrow-pat-0123456789abcdef"}, Options{Retry: RetryPolicy{BaseDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	run := syncMode(t, c, st, "full")
	for _, want := range []string{"vso.serviceendpoint", "Service Connections", "vso.tokenadministration", "Token Administration"} {
		if !strings.Contains(run.Note, want) {
			t.Errorf("note %q does not name %s", run.Note, want)
		}
	}
	if got := countRows(t, st, snapshot.ServiceConnections, nil); got != before {
		t.Errorf("connections unreadable: %d rows, were %d (should be left as they were)", got, before)
	}
	if got := countRows(t, st, snapshot.PersonalAccessTokens, nil); got != tokens {
		t.Errorf("tokens unreadable: %d rows, were %d", got, tokens)
	}
	if got, want := countRows(t, st, snapshot.VariableGroups, nil), sim.PipelineCounts().VariableGroups; got != want {
		t.Errorf("variable groups: %d rows, want %d: the readable kinds must still be read", got, want)
	}
}

// No secret the simulator holds (connection credential, secret variable,
// token value) reaches the store, its WAL or its journal.
func TestPipelinesStoreHoldsNoSecret(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Spec: &propertySpec, Seed: 6})
	dir := t.TempDir()
	st, err := snapshot.Open(context.Background(), filepath.Join(dir, "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, sim, "readwrite")
	syncMode(t, c, st, "full")
	sim.Mutate(adosim.MutateRequest{Count: 20, Seed: 3, Kinds: []string{"vargroup.secret", "pat.create", "endpoint.create"}})
	syncMode(t, c, st, "incremental")
	st.Close()
	secrets := sim.Secrets()
	if len(secrets) < 10 {
		t.Fatalf("only %d secrets planted", len(secrets))
	}
	assertNoSecrets(t, dir, secrets)
}

// assertNoSecrets searches every file under dir for the secrets.
func assertNoSecrets(t testing.TB, dir string, secrets []string) {
	t.Helper()
	files := 0
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the secret %q", path, s)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("searched %d files: %v", files, err)
	}
}

func mustUUID(t testing.TB, s string) uuid.UUID {
	t.Helper()
	u, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

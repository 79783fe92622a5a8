package export

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/git"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/identity"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/security"
	"github.com/xuri/excelize/v2"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/safecsv"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// A packet carries the entries and the effective permissions, and the
// three permission findings: who can get around a repository's controls,
// entries given to accounts directly, entries of identities not in the
// organization.
func TestPacketPermissions(t *testing.T) {
	ctx := context.Background()
	sim, err := adosim.New(adosim.Options{Preset: "small", Seed: 9, GeneratedAt: genTime})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	conn := azuredevops.NewPatConnection(sim.URL(), sim.Credential("readwrite"))
	gc, _ := graph.NewClient(ctx, conn)
	users, err := gc.ListUsers(ctx, graph.ListUsersArgs{SubjectTypes: &[]string{"aad"}})
	if err != nil {
		t.Fatal(err)
	}
	user := (*users.GraphUsers)[1]
	ims, _ := identity.NewClient(ctx, conn)
	ids, err := ims.ReadIdentities(ctx, identity.ReadIdentitiesArgs{SubjectDescriptors: user.Descriptor})
	if err != nil {
		t.Fatal(err)
	}
	gitc, _ := git.NewClient(ctx, conn)
	repos, err := gitc.GetRepositories(ctx, git.GetRepositoriesArgs{})
	if err != nil {
		t.Fatal(err)
	}
	repo := (*repos)[0]
	token := "repoV2/" + repo.Project.Id.String() + "/" + repo.Id.String()
	ghost := "Microsoft.IdentityModel.Claims.ClaimsIdentity;72f988bf-86f1-41af-91ab-2d7cd011db47\\left@example.com"
	sec := security.NewClient(ctx, conn)
	gitNS := uuid.MustParse("2e9eb7ed-3c0a-47d4-87c1-0ffdd275fd87")
	for _, d := range []string{*(*ids)[0].Descriptor, ghost} {
		body := map[string]any{"token": token, "merge": true, "accessControlEntries": []map[string]any{{"descriptor": d, "allow": 8, "deny": 0}}}
		if _, err := sec.SetAccessControlEntries(ctx, security.SetAccessControlEntriesArgs{SecurityNamespaceId: &gitNS, Container: body}); err != nil {
			t.Fatal(err)
		}
	}
	// A collection administrator denied ForcePush on the repository.
	admin := collectionAdmin(t, ctx, gc)
	adminIDs, err := ims.ReadIdentities(ctx, identity.ReadIdentitiesArgs{SubjectDescriptors: &admin})
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"token": token, "merge": true, "accessControlEntries": []map[string]any{{"descriptor": *(*adminIDs)[0].Descriptor, "allow": 0, "deny": 8}}}
	if _, err := sec.SetAccessControlEntries(ctx, security.SetAccessControlEntriesArgs{SecurityNamespaceId: &gitNS, Container: body}); err != nil {
		t.Fatal(err)
	}
	st, err := snapshot.Open(ctx, filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := collect.Dial(ctx, sim.URL(), collect.Credential{PAT: sim.Credential("readwrite")}, collect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := collect.Sync(ctx, c, st, collect.SyncOptions{Permissions: true}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := ExportPacket(ctx, st, NewLocalSink(dir), PacketOptions{Formats: []string{"csv", "xlsx"}}); err != nil {
		t.Fatal(err)
	}
	rows := func(name string) [][]string {
		raw, err := os.ReadFile(filepath.Join(dir, name+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			for i := range r {
				r[i] = safecsv.Unescape(r[i])
			}
		}
		return recs
	}
	at := func(header []string, col string) int { return slices.Index(header, col) }

	eff := rows("effective_permissions")
	h := eff[0]
	found, adminDenied := false, false
	for _, r := range eff[1:] {
		if r[at(h, "token")] != token || r[at(h, "permission")] != "ForcePush" {
			continue
		}
		switch r[at(h, "subject_descriptor")] {
		case *user.Descriptor:
			found = r[at(h, "decision")] == "allow" && r[at(h, "via")] == "direct" && r[at(h, "resource_kind")] == "repository" &&
				r[at(h, "admin_override_possible")] == "false"
		case admin:
			adminDenied = r[at(h, "decision")] == "deny" && r[at(h, "admin_override_possible")] == "true"
		}
	}
	if !found {
		t.Errorf("effective_permissions has no direct ForcePush of %s on %s (admin_override_possible false)", *user.DisplayName, token)
	}
	if !adminDenied {
		t.Errorf("effective_permissions has no ForcePush of collection administrator %s on %s denied with admin_override_possible", admin, token)
	}
	if len(eff) < 100 {
		t.Errorf("effective_permissions has %d rows: the defaults alone give every project member some", len(eff)-1)
	}
	// A packet lists the privileged permissions; with AllPermissions (and in
	// the warehouse) every one.
	for _, r := range eff[1:] {
		if !privilegedPermission(r[at(h, "namespace")], r[at(h, "permission")]) {
			t.Fatalf("the packet lists %s on %s, not a privileged permission", r[at(h, "permission")], r[at(h, "namespace")])
		}
	}
	all := t.TempDir()
	if _, err := ExportPacket(ctx, st, NewLocalSink(all), PacketOptions{Options: Options{AllPermissions: true}, Formats: []string{"csv"}}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(all, "effective_permissions.csv"))
	if n := bytes.Count(raw, []byte("\n")) - 1; n <= len(eff)-1 || !bytes.Contains(raw, []byte(",GenericRead,")) {
		t.Errorf("with every permission: %d rows (privileged only: %d), GenericRead listed: %v", n, len(eff)-1, bytes.Contains(raw, []byte(",GenericRead,")))
	}

	perms := rows("permissions")
	h = perms[0]
	var ghostRow []string
	for _, r := range perms[1:] {
		if r[at(h, "identity")] == ghost {
			ghostRow = r
		}
	}
	if ghostRow == nil || ghostRow[at(h, "known")] != "false" || ghostRow[at(h, "allow")] != "ForcePush" {
		t.Errorf("the entry of an identity not in the organization: %q", ghostRow)
	}

	kinds := map[string]int{}
	fs := rows("findings")
	for _, r := range fs[1:] {
		kinds[r[0]]++
		if r[0] == FindRepoPrivileged && strings.Contains(r[6], "ForcePush") && !strings.Contains(r[6], "ForcePush on ") {
			t.Errorf("repository finding without its repository: %q", r[6])
		}
	}
	for _, k := range []string{FindRepoPrivileged, FindDirectUser, FindUnknownIdentity} {
		if kinds[k] == 0 {
			t.Errorf("no %s finding (findings: %v)", k, kinds)
		}
	}

	wb, err := excelize.OpenFile(filepath.Join(dir, "packet.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	for _, sheet := range []string{"permissions", "effective_permissions"} {
		header, err := wb.GetRows(sheet)
		if err != nil || len(header) == 0 || !slices.Contains(header[0], DecisionColumn) {
			t.Errorf("sheet %s: no Decision column (%v)", sheet, err)
		}
	}
}

// collectionAdmin is a user who is a direct member of the organization's
// Project Collection Administrators.
func collectionAdmin(t *testing.T, ctx context.Context, gc graph.Client) string {
	t.Helper()
	groups, err := gc.ListGroups(ctx, graph.ListGroupsArgs{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range *groups.GraphGroups {
		if *g.DisplayName != "Project Collection Administrators" || *g.PrincipalName != `[fabrikam]\Project Collection Administrators` {
			continue
		}
		down := graph.GraphTraversalDirectionValues.Down
		ms, err := gc.ListMemberships(ctx, graph.ListMembershipsArgs{SubjectDescriptor: g.Descriptor, Direction: &down})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range *ms {
			if strings.HasPrefix(*m.MemberDescriptor, "aad.") {
				return *m.MemberDescriptor
			}
		}
	}
	t.Fatal("no user in Project Collection Administrators")
	return ""
}

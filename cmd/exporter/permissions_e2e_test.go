package main

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/git"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/identity"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/security"

	"github.com/ado-access/ado-access/internal/adosim"
)

// The auditor's questions at the command line: who can force-push to a
// repository, what one account may do, and what changed.
func TestShowPermissionsWhoCanAndDiff(t *testing.T) {
	sim, env := simEnv(t, adosim.Options{Preset: "small"})
	env["ADO_PAT"] = sim.Credential("readwrite") // ACLs need Security (Manage)
	ctx := context.Background()
	conn := azuredevops.NewPatConnection(sim.URL(), sim.Credential("readwrite"))
	gc, _ := git.NewClient(ctx, conn)
	repos, err := gc.GetRepositories(ctx, git.GetRepositoriesArgs{})
	if err != nil {
		t.Fatal(err)
	}
	repo := (*repos)[0]
	token := "repoV2/" + repo.Project.Id.String() + "/" + repo.Id.String()
	grc, _ := graph.NewClient(ctx, conn)
	users, err := grc.ListUsers(ctx, graph.ListUsersArgs{SubjectTypes: &[]string{"aad"}})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	code, out, errs := cli(t, env, "show", "who-can", "ForcePush", "--repo", *repo.Project.Name+"/"+*repo.Name)
	if code != 0 || !strings.Contains(out, "Project Administrators") {
		t.Fatalf("who-can before the entry: exit %d %q %s", code, out, errs)
	}
	// Someone who cannot force-push yet, with a plain name.
	var user graph.GraphUser
	for _, u := range *users.GraphUsers {
		if n := *u.DisplayName; strings.Trim(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ") == "" && !strings.Contains(out, n) {
			user = u
			break
		}
	}
	ims, _ := identity.NewClient(ctx, conn)
	ids, err := ims.ReadIdentities(ctx, identity.ReadIdentitiesArgs{SubjectDescriptors: user.Descriptor})
	if err != nil {
		t.Fatal(err)
	}

	sec := security.NewClient(ctx, conn)
	gitNS := uuid.MustParse("2e9eb7ed-3c0a-47d4-87c1-0ffdd275fd87")
	body := map[string]any{"token": token, "merge": true, "accessControlEntries": []map[string]any{{"descriptor": *(*ids)[0].Descriptor, "allow": 8 | 128, "deny": 0}}}
	if _, err := sec.SetAccessControlEntries(ctx, security.SetAccessControlEntriesArgs{SecurityNamespaceId: &gitNS, Container: body}); err != nil {
		t.Fatal(err)
	}
	code, out, errs = cli(t, env, "sync")
	if code != 0 || !strings.Contains(out, "incremental") {
		t.Fatalf("second sync: exit %d %q %s", code, out, errs)
	}

	code, out, errs = cli(t, env, "show", "who-can", "ForcePush", "--repo", *repo.Name)
	if code != 0 || !strings.Contains(out, *user.DisplayName) || !strings.Contains(out, "direct") {
		t.Fatalf("who-can ForcePush: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = cli(t, env, "show", "permissions", "--subject", *user.PrincipalName, "--permission", "PolicyExempt", "--format", "csv")
	if code != 0 || !strings.Contains(out, "PolicyExempt,allow,"+token) {
		t.Fatalf("show permissions --subject: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = cli(t, env, "diff", "--kind", "permissions", "--format", "csv")
	if code != 0 || !strings.Contains(out, "permission_gained") || !strings.Contains(out, "ForcePush") || strings.Contains(out, "permission_lost") {
		t.Fatalf("diff --kind permissions: exit %d\n%s%s", code, out, errs)
	}
	// Bad input is one clear line.
	if code, _, errs = cli(t, env, "show", "who-can", "Teleport", "--repo", *repo.Name); code != 2 || !strings.Contains(errs, "Teleport") {
		t.Fatalf("an unknown permission: exit %d %s", code, errs)
	}
	if code, _, errs = cli(t, env, "show", "who-can", "ForcePush"); code != 2 || !strings.Contains(errs, "--repo") {
		t.Fatalf("who-can without --repo: exit %d %s", code, errs)
	}
}

// A member of Project Collection Administrators denied a permission is not
// shown as one who cannot: who-can lists them, deny*, with a legend, and
// show permissions' CSV says admin_override_possible; an account denied it
// who is not an administrator stays out of who-can.
func TestShowPermissionsMarkACollectionAdministratorDenied(t *testing.T) {
	sim, env := simEnv(t, adosim.Options{Preset: "small"})
	env["ADO_PAT"] = sim.Credential("readwrite")
	ctx := context.Background()
	conn := azuredevops.NewPatConnection(sim.URL(), sim.Credential("readwrite"))
	gc, _ := git.NewClient(ctx, conn)
	repos, err := gc.GetRepositories(ctx, git.GetRepositoriesArgs{})
	if err != nil {
		t.Fatal(err)
	}
	repo := (*repos)[0]
	token := "repoV2/" + repo.Project.Id.String() + "/" + repo.Id.String()
	grc, _ := graph.NewClient(ctx, conn)
	groups, err := grc.ListGroups(ctx, graph.ListGroupsArgs{})
	if err != nil {
		t.Fatal(err)
	}
	admins := map[string]bool{}
	for _, g := range *groups.GraphGroups {
		if *g.PrincipalName == `[fabrikam]\Project Collection Administrators` {
			down := graph.GraphTraversalDirectionValues.Down
			ms, err := grc.ListMemberships(ctx, graph.ListMembershipsArgs{SubjectDescriptor: g.Descriptor, Direction: &down})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range *ms {
				admins[*m.MemberDescriptor] = true
			}
		}
	}
	users, err := grc.ListUsers(ctx, graph.ListUsersArgs{SubjectTypes: &[]string{"aad"}})
	if err != nil {
		t.Fatal(err)
	}
	var admin, plain *graph.GraphUser
	for _, u := range *users.GraphUsers {
		switch {
		case admins[*u.Descriptor] && admin == nil:
			admin = &u
		case !admins[*u.Descriptor] && plain == nil && *u.MetaType == "member":
			plain = &u
		}
	}
	if admin == nil || plain == nil {
		t.Fatalf("no collection administrator (%v) or other user (%v)", admin, plain)
	}
	ims, _ := identity.NewClient(ctx, conn)
	sec := security.NewClient(ctx, conn)
	gitNS := uuid.MustParse("2e9eb7ed-3c0a-47d4-87c1-0ffdd275fd87")
	for _, u := range []*graph.GraphUser{admin, plain} {
		ids, err := ims.ReadIdentities(ctx, identity.ReadIdentitiesArgs{SubjectDescriptors: u.Descriptor})
		if err != nil {
			t.Fatal(err)
		}
		body := map[string]any{"token": token, "merge": true, "accessControlEntries": []map[string]any{{"descriptor": *(*ids)[0].Descriptor, "allow": 0, "deny": 8}}}
		if _, err := sec.SetAccessControlEntries(ctx, security.SetAccessControlEntriesArgs{SecurityNamespaceId: &gitNS, Container: body}); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	repoName := *repo.Project.Name + "/" + *repo.Name

	code, out, errs := cli(t, env, "show", "who-can", "ForcePush", "--repo", repoName)
	var adminLine string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, *admin.DisplayName+" ") {
			adminLine = l
		}
		if strings.HasPrefix(l, *plain.DisplayName+" ") {
			t.Errorf("who-can lists %s, denied and no administrator: %q", *plain.DisplayName, l)
		}
	}
	if code != 0 || !strings.Contains(adminLine, " deny* ") || !strings.Contains(errs, "deny*: denied, but a member of Project Collection Administrators") {
		t.Fatalf("who-can: exit %d, the administrator's line %q\n%s%s", code, adminLine, out, errs)
	}
	for _, who := range []*graph.GraphUser{admin, plain} {
		code, out, errs = cli(t, env, "show", "permissions", "--subject", *who.PrincipalName, "--permission", "ForcePush", "--repo", repoName, "--format", "csv")
		lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(out, "\r\n", "\n")), "\n")
		if code != 0 || !strings.HasSuffix(lines[0], ",via,admin_override_possible") || len(lines) < 2 {
			t.Fatalf("show permissions --subject %s: exit %d\n%s%s", *who.DisplayName, code, out, errs)
		}
		wantFlag := map[bool]string{true: ",true", false: ",false"}[who == admin]
		var row string
		for _, l := range lines[1:] {
			if strings.Contains(l, ",ForcePush,deny,"+token) {
				row = l
			}
		}
		if !strings.HasSuffix(row, wantFlag) {
			t.Errorf("show permissions --subject %s: ForcePush row %q, want it to end %s\n%s", *who.DisplayName, row, wantFlag, out)
		}
	}
}

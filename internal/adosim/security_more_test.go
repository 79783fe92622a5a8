package adosim

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/security"
)

// Every namespace the service lists, with unique ids and well-formed
// actions; the ones a client asks for by id come back alone.
func TestSecurityNamespaceCatalog(t *testing.T) {
	s := startSim(t, Options{})
	c := secClient(s, "readwrite")
	all, err := c.QuerySecurityNamespaces(context.Background(), security.QuerySecurityNamespacesArgs{})
	if err != nil {
		t.Fatal(err)
	}
	if len(*all) < 60 {
		t.Fatalf("%d namespaces, want the service's (60 or more)", len(*all))
	}
	ids := map[string]bool{}
	for _, ns := range *all {
		id := ns.NamespaceId.String()
		if ids[id] {
			t.Errorf("namespace %s listed twice", id)
		}
		ids[id] = true
		seen := 0
		for _, a := range *ns.Actions {
			if b := *a.Bit; b <= 0 || b&(b-1) != 0 || b&seen != 0 || *a.Name == "" || a.NamespaceId.String() != id {
				t.Errorf("%s: bad action %+v", *ns.Name, a)
			}
			seen |= *a.Bit
		}
	}
	for _, want := range []string{"d34d3680-dfe5-4cc6-a949-7d9c68f73cba", "b7e84409-6553-448a-bbb2-af228e07cbeb", "7c7d32f7-0e86-4cd6-892e-b35dbba870bd"} {
		one, err := c.QuerySecurityNamespaces(context.Background(), security.QuerySecurityNamespacesArgs{SecurityNamespaceId: imsPtr(uuid.MustParse(want))})
		if err != nil || len(*one) != 1 || one == nil {
			t.Errorf("namespace %s: %v", want, err)
		}
	}
	wit := (*all)[slices.IndexFunc(*all, func(ns security.SecurityNamespaceDescription) bool {
		return *ns.Name == "WorkItemTrackingAdministration"
	})]
	if *wit.StructureValue != 0 || *wit.SeparatorValue != "\x00" {
		t.Errorf("WorkItemTrackingAdministration: structure %d separator %q, want the example's 0 and NUL", *wit.StructureValue, *wit.SeparatorValue)
	}
}

// Inheritance off, set through SetAccessControlLists: the token keeps only
// its own entries, the list answers inheritPermissions false, and the
// service's evaluation stops there. RemovePermission clears bits.
func TestSecurityInheritanceOffAndRemovePermission(t *testing.T) {
	s := startSim(t, Options{})
	o := s.Org()
	c := secClient(s, "readwrite")
	ctx := context.Background()
	p := o.projects[0]
	var repo *Repo
	for _, r := range o.repos {
		if r.ProjectID == p.ID {
			repo = r
			break
		}
	}
	repoToken := "repoV2/" + p.ID + "/" + repo.ID
	branch := BranchToken(repoToken, repo.DefaultBranch)
	if !strings.HasSuffix(BranchToken(repoToken, "refs/heads/main"), "/refs/heads/6d00610069006e00") {
		t.Fatalf("branch token %s", BranchToken(repoToken, "refs/heads/main"))
	}
	contributors := o.projectGroup(p, "Contributors")
	member := o.directMembers(contributors)[0]
	gitNS := uuid.MustParse(nsGit)
	has := func(token string, bit int) bool {
		t.Helper()
		no := false
		cc := security.NewClient(ctx, azuredevops.NewPatConnection(s.URL(), s.ActAs(member.Descriptor)))
		got, err := cc.HasPermissions(ctx, security.HasPermissionsArgs{SecurityNamespaceId: &gitNS, Permissions: &bit, Tokens: &token, AlwaysAllowAdministrators: &no})
		if err != nil {
			t.Fatal(err)
		}
		return (*got)[0]
	}
	if !has(branch, 4) {
		t.Fatalf("a Contributor cannot contribute to the default branch")
	}
	owner := o.admin.Legacy
	value := []any{map[string]any{"token": branch, "inheritPermissions": false,
		"acesDictionary": map[string]any{owner: map[string]any{"descriptor": owner, "allow": 4, "deny": 0}}}}
	n := 1
	if err := c.SetAccessControlLists(ctx, security.SetAccessControlListsArgs{SecurityNamespaceId: &gitNS,
		AccessControlLists: &azuredevops.VssJsonCollectionWrapper{Count: &n, Value: &value}}); err != nil {
		t.Fatal(err)
	}
	if has(branch, 4) || !has(repoToken, 4) {
		t.Errorf("with inheritance off the branch still grants Contribute to a Contributor (or the repository lost it)")
	}
	acl := secACL(t, c, nsGit, branch, false, false)[branch]
	if acl.InheritPermissions == nil || *acl.InheritPermissions || len(*acl.AcesDictionary) != 1 {
		t.Errorf("branch ACL %+v, want inheritance off and one entry", acl)
	}
	if len(secAudit(o, "Security.ModifyAccessControlLists", branch)) != 1 {
		t.Errorf("no Security.ModifyAccessControlLists entry for %s", branch)
	}

	bits := 4
	e, err := c.RemovePermission(ctx, security.RemovePermissionArgs{SecurityNamespaceId: &gitNS, Permissions: &bits, Descriptor: &owner, Token: &branch})
	if err != nil || *e.Allow != 0 {
		t.Fatalf("RemovePermission: %+v %v", e, err)
	}
	if got := secAudit(o, "Security.ResetPermission", branch); len(got) != 1 || got[0].Data["SubjectDescriptor"] != owner || got[0].Data["ChangedPermission"] != "Contribute" {
		t.Errorf("Security.ResetPermission entries %+v", got)
	}
	// The ACL stays while inheritance is off, with no entries.
	if acl := secACL(t, c, nsGit, branch, false, false)[branch]; acl.Token == nil || len(*acl.AcesDictionary) != 0 {
		t.Errorf("after the reset: %+v", acl)
	}
	removed, err := c.RemoveAccessControlLists(ctx, security.RemoveAccessControlListsArgs{SecurityNamespaceId: &gitNS, Tokens: &branch})
	if err != nil || !*removed || !has(branch, 4) {
		t.Errorf("RemoveAccessControlLists: %v %v; inheritance should be back", removed, err)
	}
}

// The batch evaluation answers as HasPermissions does.
func TestSecurityPermissionEvaluationBatch(t *testing.T) {
	s := startSim(t, Options{})
	c := secClient(s, "readwrite")
	no := false
	batch := security.PermissionEvaluationBatch{AlwaysAllowAdministrators: &no, Evaluations: &[]security.PermissionEvaluation{
		{SecurityNamespaceId: imsPtr(uuid.MustParse(nsGit)), Token: imsPtr("repoV2"), Permissions: imsPtr(2)},
		{SecurityNamespaceId: imsPtr(uuid.MustParse(nsGit)), Token: imsPtr("repoV2"), Permissions: imsPtr(128)},
	}}
	got, err := c.HasPermissionsBatch(context.Background(), security.HasPermissionsBatchArgs{EvalBatch: &batch})
	if err != nil {
		t.Fatal(err)
	}
	if ev := *got.Evaluations; len(ev) != 2 || !*ev[0].Value || *ev[1].Value {
		t.Errorf("batch %+v: want Read allowed and Bypass policies not (PCA holds no PolicyExempt by default)", ev)
	}
}

package diff

import (
	"strings"
	"testing"

	vgraph "github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"
)

const buildQueue = 128 // the Build namespace's QueueBuilds

// A member of Project Collection Administrators (here through a nested
// group) denied a permission in another group keeps the deny, marked
// AdminOverridePossible; a member of that group who is not an
// administrator, and every allowed permission, are not marked; nor are
// the cases Microsoft says the membership does not bypass (pipelines).
func TestPermissionsMarkDeniesThatACollectionAdministratorMayOverride(t *testing.T) {
	t.Parallel()
	w := newPermWorld(t)
	admin, plain := w.users[7], w.users[8]
	pca := w.collectionAdmins()
	nested := w.group("Nested Admins", admin)
	if _, err := w.graph.AddMembership(w.ctx, vgraph.AddMembershipArgs{SubjectDescriptor: &nested, ContainerDescriptor: &pca}); err != nil {
		t.Fatal(err)
	}
	restricted := w.group("No Force Push", admin, plain)
	repo := RepoToken(w.project, w.repo)
	w.set(nsGit, repo, w.legacy(restricted), gitPolicyExempt, gitForcePush)
	w.set(nsBuild, w.project, w.legacy(restricted), 0, buildQueue)
	run := w.sync()

	for _, c := range []struct {
		account, who string
		override     bool
	}{{admin, "the administrator", true}, {plain, "the other member", false}} {
		got := w.effective(run, c.account, repo)
		if p, ok := got[repo+" ForcePush"]; !ok || !p.Deny || p.AdminOverridePossible != c.override || p.Identity.Descriptor != restricted {
			t.Errorf("%s: ForcePush %+v, want denied through No Force Push, AdminOverridePossible %v", c.who, p, c.override)
		}
		if p, ok := got[repo+" PolicyExempt"]; !ok || p.Deny || p.AdminOverridePossible {
			t.Errorf("%s: PolicyExempt %+v, want allowed and not marked", c.who, p)
		}
		var queue *EffectivePermission
		f := PermissionFilter{Tokens: map[string][]string{nsBuild: {w.project}}, Subject: c.account, Permission: "QueueBuilds", IncludeDeny: true}
		err := EffectivePermissions(w.ctx, w.st, run, f, func(p EffectivePermission) error { queue = &p; return nil })
		if err != nil || queue == nil || !queue.Deny || queue.AdminOverridePossible {
			t.Errorf("%s: QueueBuilds %+v (%v), want denied and not marked (pipelines: Microsoft says no bypass)", c.who, queue, err)
		}
	}
}

// collectionAdmins is the descriptor of the organization's Project
// Collection Administrators.
func (w *permWorld) collectionAdmins() string {
	w.t.Helper()
	groups, err := w.graph.ListGroups(w.ctx, vgraph.ListGroupsArgs{})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, g := range *groups.GraphGroups {
		if *g.DisplayName == "Project Collection Administrators" && strings.HasPrefix(*g.PrincipalName, "[fabrikam]") {
			return *g.Descriptor
		}
	}
	w.t.Fatal("no Project Collection Administrators")
	return ""
}

package adosim

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/security"
)

func secClient(s *Server, credential string) security.Client {
	return security.NewClient(context.Background(), patConn(s, credential))
}

// secACL queries one namespace and returns the ACLs by token.
func secACL(t *testing.T, c security.Client, ns, token string, extended, recurse bool, descriptors ...string) map[string]security.AccessControlList {
	t.Helper()
	args := security.QueryAccessControlListsArgs{SecurityNamespaceId: imsPtr(uuid.MustParse(ns)), IncludeExtendedInfo: &extended, Recurse: &recurse}
	if token != "" {
		args.Token = &token
	}
	if len(descriptors) > 0 {
		args.Descriptors = imsPtr(strings.Join(descriptors, ","))
	}
	acls, err := c.QueryAccessControlLists(context.Background(), args)
	if err != nil {
		t.Fatalf("QueryAccessControlLists(%s, %q): %v", ns, token, err)
	}
	out := map[string]security.AccessControlList{}
	for _, a := range *acls {
		out[*a.Token] = a
	}
	return out
}

// secACE returns the entry of descriptor in an ACL, or fails.
func secACE(t *testing.T, acl security.AccessControlList, descriptor string) security.AccessControlEntry {
	t.Helper()
	e, ok := (*acl.AcesDictionary)[descriptor]
	if !ok {
		t.Fatalf("ACL %s has no entry for %s", *acl.Token, descriptor)
	}
	return e
}

func secSet(t *testing.T, c security.Client, ns, token string, merge bool, descriptor string, allow, deny int) security.AccessControlEntry {
	t.Helper()
	body := map[string]any{"token": token, "merge": merge, "accessControlEntries": []map[string]any{{"descriptor": descriptor, "allow": allow, "deny": deny}}}
	set, err := c.SetAccessControlEntries(context.Background(), security.SetAccessControlEntriesArgs{SecurityNamespaceId: imsPtr(uuid.MustParse(ns)), Container: body})
	if err != nil {
		t.Fatalf("SetAccessControlEntries(%s): %v", token, err)
	}
	if len(*set) != 1 {
		t.Fatalf("SetAccessControlEntries answered %d entries, want 1", len(*set))
	}
	return (*set)[0]
}

func secHas(t *testing.T, c security.Client, ns string, perms int, alwaysAdmin bool, tokens ...string) []bool {
	t.Helper()
	got, err := c.HasPermissions(context.Background(), security.HasPermissionsArgs{
		SecurityNamespaceId: imsPtr(uuid.MustParse(ns)), Permissions: &perms, Tokens: imsPtr(strings.Join(tokens, ",")), AlwaysAllowAdministrators: &alwaysAdmin,
	})
	if err != nil {
		t.Fatalf("HasPermissions: %v", err)
	}
	return *got
}

// secAudit returns the audit entries of an action on a token.
func secAudit(o *Org, action, token string) []*AuditEntry {
	o.mu.RLock()
	defer o.mu.RUnlock()
	var out []*AuditEntry
	for _, e := range o.audit {
		if e.ActionID == action && e.Data["Token"] == token {
			out = append(out, e)
		}
	}
	return out
}

func TestSecurityNamespaces(t *testing.T) {
	s := startSim(t, Options{})
	c := secClient(s, "readwrite")
	all, err := c.QuerySecurityNamespaces(context.Background(), security.QuerySecurityNamespacesArgs{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]security.SecurityNamespaceDescription{}
	for _, ns := range *all {
		byID[ns.NamespaceId.String()] = ns
	}
	for id, want := range map[string]struct {
		name, sep string
		action    string
		bit       int
	}{
		nsProject:    {"Project", ":", "GENERIC_READ", 1},
		nsGit:        {"Git Repositories", "/", "ManagePermissions", 8192},
		nsBuild:      {"Build", "/", "AdministerBuildPermissions", 16384},
		nsRelease:    {"ReleaseManagement", "/", "AdministerReleasePermissions", 512},
		nsIdentity:   {"Identity", `\`, "ManageMembership", 8},
		nsCSS:        {"CSS", ":", "WORK_ITEM_WRITE", 32},
		nsIteration:  {"Iteration", ":", "CREATE_CHILDREN", 4},
		nsEndpoints:  {"ServiceEndpoints", "/", "Administer", 2},
		nsCollection: {"Collection", "/", "CREATE_PROJECTS", 4},
	} {
		ns, ok := byID[id]
		if !ok {
			t.Errorf("namespace %s (%s) missing", want.name, id)
			continue
		}
		if *ns.Name != want.name || *ns.SeparatorValue != want.sep || *ns.ElementLength != -1 {
			t.Errorf("namespace %s: name %q separator %q elementLength %d", id, *ns.Name, *ns.SeparatorValue, *ns.ElementLength)
		}
		i := slices.IndexFunc(*ns.Actions, func(a security.ActionDefinition) bool { return *a.Name == want.action })
		if i < 0 || *(*ns.Actions)[i].Bit != want.bit || (*ns.Actions)[i].NamespaceId.String() != id {
			t.Errorf("namespace %s: action %s missing or not bit %d", want.name, want.action, want.bit)
		}
	}
	one, err := c.QuerySecurityNamespaces(context.Background(), security.QuerySecurityNamespacesArgs{SecurityNamespaceId: imsPtr(uuid.MustParse(nsGit))})
	if err != nil || len(*one) != 1 || *(*one)[0].Name != "Git Repositories" {
		t.Errorf("one namespace: %+v, %v", one, err)
	}
	_, err = secClient(s, "readonly").QuerySecurityNamespaces(context.Background(), security.QuerySecurityNamespacesArgs{})
	if clientStatus(err) != 403 || !strings.Contains(err.Error(), "vso.security_manage") {
		t.Errorf("readonly credential: %v, want 403 for vso.security_manage", err)
	}
}

func TestSecurityDefaultACLsAndInheritance(t *testing.T) {
	s := startSim(t, Options{})
	o := s.Org()
	c := secClient(s, "readwrite")
	p := o.projects[0]
	var repo *Repo
	for _, r := range o.repos {
		if r.ProjectID == p.ID {
			repo = r
			break
		}
	}
	admins, contributors, readers := o.projectGroup(p, "Project Administrators"), o.projectGroup(p, "Contributors"), o.projectGroup(p, "Readers")
	git := securityNamespaces[slices.IndexFunc(securityNamespaces, func(ns *securityNamespace) bool { return ns.id == nsGit })]
	read, contribute, forcePush := git.bits("GenericRead"), git.bits("GenericContribute"), git.bits("ForcePush")
	projectToken, repoToken := "repoV2/"+p.ID, "repoV2/"+p.ID+"/"+repo.ID

	// Defaults on the project's repositories token, named by legacy descriptors.
	acls := secACL(t, c, nsGit, projectToken, false, false)
	if len(acls) != 1 {
		t.Fatalf("project token: %d ACLs, want 1", len(acls))
	}
	acl := acls[projectToken]
	contributorBits := *secACE(t, acl, contributors.Legacy).Allow
	if contributorBits&(read|contribute) != read|contribute {
		t.Errorf("Contributors allow %d, want Read and Contribute", contributorBits)
	}
	if got := *secACE(t, acl, readers.Legacy).Allow; got != read {
		t.Errorf("Readers allow %d, want Read only (%d)", got, read)
	}
	if got := *secACE(t, acl, admins.Legacy).Allow; got&git.bits("ManagePermissions") == 0 {
		t.Errorf("Project Administrators allow %d, want Manage permissions", got)
	}
	if secACE(t, acl, contributors.Legacy).ExtendedInfo != nil {
		t.Errorf("extendedInfo sent without includeExtendedInfo")
	}

	// A repository inherits from its project and from the root.
	acl = secACL(t, c, nsGit, repoToken, true, false)[repoToken]
	e := secACE(t, acl, contributors.Legacy)
	if *e.Allow != 0 || e.ExtendedInfo.InheritedAllow == nil || *e.ExtendedInfo.InheritedAllow != contributorBits || *e.ExtendedInfo.EffectiveAllow != contributorBits {
		t.Errorf("repository, Contributors: allow %d extended %+v, want inherited and effective %d", *e.Allow, e.ExtendedInfo, contributorBits)
	}
	if e := secACE(t, acl, o.pca.Legacy); e.ExtendedInfo.InheritedAllow == nil || *e.ExtendedInfo.InheritedAllow&read == 0 {
		t.Errorf("repository, PCA: extended %+v, want Read inherited from repoV2", e.ExtendedInfo)
	}

	// An explicit deny on the repository overrides what it inherits.
	before := len(secAudit(o, "Security.ModifyPermission", repoToken))
	set := secSet(t, c, nsGit, repoToken, false, contributors.Legacy, 0, contribute)
	if *set.Deny != contribute || *set.Allow != 0 {
		t.Errorf("set answered allow %d deny %d", *set.Allow, *set.Deny)
	}
	e = secACE(t, secACL(t, c, nsGit, repoToken, true, false)[repoToken], contributors.Legacy)
	if *e.Deny != contribute || *e.ExtendedInfo.EffectiveAllow != contributorBits&^contribute || *e.ExtendedInfo.EffectiveDeny != contribute ||
		*e.ExtendedInfo.InheritedAllow != contributorBits&^contribute {
		t.Errorf("after deny: deny %d extended %+v, want effective allow %d, effective deny %d", *e.Deny, *e.ExtendedInfo, contributorBits&^contribute, contribute)
	}
	entries := secAudit(o, "Security.ModifyPermission", repoToken)
	if len(entries) != before+1 {
		t.Fatalf("%d Security.ModifyPermission entries for %s, want %d", len(entries), repoToken, before+1)
	}
	d := entries[len(entries)-1].Data
	if d["NamespaceId"] != nsGit || d["NamespaceName"] != "Git Repositories" || d["SubjectDescriptor"] != contributors.Legacy ||
		d["ChangedPermission"] != "Contribute" || d["PermissionModifiedTo"] != "Deny" || entries[len(entries)-1].ProjectID != p.ID {
		t.Errorf("audit data %v (project %s)", d, entries[len(entries)-1].ProjectID)
	}

	// The most specific setting wins: deny on the project, allow on the repository.
	secSet(t, c, nsGit, projectToken, true, readers.Legacy, 0, forcePush)
	secSet(t, c, nsGit, repoToken, false, readers.Legacy, forcePush, 0)
	e = secACE(t, secACL(t, c, nsGit, repoToken, true, false)[repoToken], readers.Legacy)
	if *e.ExtendedInfo.EffectiveAllow != read|forcePush || e.ExtendedInfo.EffectiveDeny != nil {
		t.Errorf("Readers on the repository: %+v, want allow Read and Force push, no deny", *e.ExtendedInfo)
	}
	e = secACE(t, secACL(t, c, nsGit, projectToken, false, false)[projectToken], readers.Legacy)
	if *e.Allow != read || *e.Deny != forcePush {
		t.Errorf("merge kept allow %d deny %d, want %d and %d", *e.Allow, *e.Deny, read, forcePush)
	}

	// recurse adds the repository, which now holds entries of its own.
	if got := secACL(t, c, nsGit, projectToken, false, true); len(got) != 2 || got[repoToken].Token == nil {
		t.Errorf("recurse: tokens %v, want the project and the repository", secKeys(got))
	}
	if got := secACL(t, c, nsGit, projectToken, false, false); len(got) != 1 {
		t.Errorf("without recurse: tokens %v, want the project only", secKeys(got))
	}

	// A descriptor filter answers that descriptor's entry on every ACL.
	filtered := secACL(t, c, nsGit, "", false, false, readers.Legacy)
	if len(filtered) < len(o.projects)+1 {
		t.Errorf("namespace listing: %d ACLs, want the root and every project", len(filtered))
	}
	for token, a := range filtered {
		if len(*a.AcesDictionary) != 1 {
			t.Errorf("filtered ACL %s has %d entries, want only Readers", token, len(*a.AcesDictionary))
		}
	}

	// Removing entries: the API's own, then a default one.
	rm := func(token, descriptor string) bool {
		t.Helper()
		ok, err := c.RemoveAccessControlEntries(context.Background(), security.RemoveAccessControlEntriesArgs{SecurityNamespaceId: imsPtr(uuid.MustParse(nsGit)), Token: &token, Descriptors: &descriptor})
		if err != nil {
			t.Fatalf("RemoveAccessControlEntries: %v", err)
		}
		return *ok
	}
	if !rm(repoToken, contributors.Legacy) || rm(repoToken, contributors.Legacy) {
		t.Errorf("removing an entry twice should answer true, then false")
	}
	if _, ok := (*secACL(t, c, nsGit, repoToken, false, false)[repoToken].AcesDictionary)[contributors.Legacy]; ok {
		t.Errorf("removed entry still listed")
	}
	removed := secAudit(o, "Security.RemovePermission", repoToken)
	if len(removed) != 1 || removed[0].Category != "remove" || !slices.Contains(removed[0].Data["Identities"].([]string), contributors.Legacy) {
		t.Errorf("Security.RemovePermission entries: %+v", removed)
	}
	if !rm(projectToken, readers.Legacy) {
		t.Errorf("removing the default Readers entry answered false")
	}
	e = secACE(t, secACL(t, c, nsGit, repoToken, true, false)[repoToken], readers.Legacy)
	if *e.ExtendedInfo.EffectiveAllow != forcePush {
		t.Errorf("Readers keep %d on the repository, want only their explicit Force push (%d)", *e.ExtendedInfo.EffectiveAllow, forcePush)
	}

	_, err := secClient(s, "readonly").QueryAccessControlLists(context.Background(), security.QueryAccessControlListsArgs{SecurityNamespaceId: imsPtr(uuid.MustParse(nsGit))})
	if clientStatus(err) != 403 {
		t.Errorf("readonly credential: %v, want 403", err)
	}
	_, err = c.QueryAccessControlLists(context.Background(), security.QueryAccessControlListsArgs{SecurityNamespaceId: imsPtr(uuid.New())})
	if clientStatus(err) != 404 {
		t.Errorf("unknown namespace: %v, want 404", err)
	}
	_, err = c.SetAccessControlEntries(context.Background(), security.SetAccessControlEntriesArgs{SecurityNamespaceId: imsPtr(uuid.MustParse(nsGit)),
		Container: map[string]any{"token": repoToken, "accessControlEntries": []map[string]any{{"descriptor": contributors.Descriptor, "allow": 2}}}})
	if clientStatus(err) != 400 {
		t.Errorf("an entry naming a subject descriptor: %v, want 400 (entries take legacy descriptors)", err)
	}
}

func secKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestSecurityTeamAdministratorsAndPermissions(t *testing.T) {
	s := startSim(t, Options{})
	o := s.Org()
	c := secClient(s, "readwrite")

	// Team administrators are entries on the team's group in Identity.
	var team *Team
	for _, tm := range o.teams {
		if len(tm.Admins) > 0 {
			team = tm
			break
		}
	}
	token := team.ProjectID + `\` + team.ID
	acl := secACL(t, c, nsIdentity, token, false, false)[token]
	for seq := range team.Admins {
		if got := *secACE(t, acl, o.subjects[seq].Legacy).Allow; got != 31 {
			t.Errorf("team administrator %s allow %d, want 31", o.subjects[seq].DisplayName, got)
		}
	}

	// HasPermissions evaluates for the caller, the organization's admin, a
	// Project Collection Administrator.
	p := o.projects[0]
	repoToken := "repoV2/" + p.ID + "/" + o.repos[0].ID
	if got := secHas(t, c, nsGit, 2, false, "repoV2", repoToken); !slices.Equal(got, []bool{true, true}) {
		t.Fatalf("HasPermissions Read = %v, want true on both tokens", got)
	}
	// A deny to one of the caller's groups wins over allows from the others.
	secSet(t, c, nsGit, repoToken, false, o.pca.Legacy, 0, 2)
	if got := secHas(t, c, nsGit, 2, false, "repoV2", repoToken); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("after denying PCA Read on the repository: %v, want [true false]", got)
	}
	if got := secHas(t, c, nsGit, 2, true, repoToken); !slices.Equal(got, []bool{true}) {
		t.Errorf("alwaysAllowAdministrators: %v, want [true]", got)
	}
}

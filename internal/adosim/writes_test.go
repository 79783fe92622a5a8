package adosim

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/audit"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/git"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/licensing"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/memberentitlementmanagement"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/webapi"
)

// auditFinder finds the audit entries written since it was made, through
// the real v7 Audit Log client.
type auditFinder struct {
	t    *testing.T
	ac   audit.Client
	seen map[string]bool
}

func newAuditFinder(t *testing.T, ac audit.Client) *auditFinder {
	f := &auditFinder{t: t, ac: ac, seen: map[string]bool{}}
	for _, e := range auditLog(t, ac, 1000, nil, nil) {
		f.seen[*e.Id] = true
	}
	return f
}

// fresh returns the entries not seen before, newest first, and marks them seen.
func (f *auditFinder) fresh() []audit.DecoratedAuditLogEntry {
	f.t.Helper()
	var out []audit.DecoratedAuditLogEntry
	for _, e := range auditLog(f.t, f.ac, 50, nil, nil) {
		if !f.seen[*e.Id] {
			f.seen[*e.Id] = true
			out = append(out, e)
		}
	}
	return out
}

// expect checks that exactly the given actions were written since the
// last call, and returns the entry of the first one.
func (f *auditFinder) expect(actions ...string) audit.DecoratedAuditLogEntry {
	f.t.Helper()
	got := f.fresh()
	var ids []string
	for i := len(got) - 1; i >= 0; i-- { // oldest first, the order they were written
		ids = append(ids, *got[i].ActionId)
	}
	if strings.Join(ids, " ") != strings.Join(actions, " ") {
		f.t.Fatalf("audit entries written: %v, want %v", ids, actions)
	}
	if len(got) == 0 {
		return audit.DecoratedAuditLogEntry{}
	}
	return got[len(got)-1]
}

// wantData checks an entry's data keys and values ("" accepts any value).
func wantData(t *testing.T, e audit.DecoratedAuditLogEntry, want map[string]string) {
	t.Helper()
	if e.Data == nil {
		t.Fatalf("%s entry has no data", *e.ActionId)
	}
	for k, v := range want {
		got, ok := (*e.Data)[k]
		if !ok {
			t.Errorf("%s entry lacks data key %s: %v", *e.ActionId, k, *e.Data)
			continue
		}
		if s, _ := got.(string); v != "" && s != v {
			t.Errorf("%s entry: data %s is %v, want %q", *e.ActionId, k, got, v)
		}
	}
	if e.Timestamp == nil || e.CorrelationId == nil || e.ActorUserId == nil || e.Category == nil || e.Area == nil || e.ScopeId == nil {
		t.Errorf("%s entry lacks timestamp, correlation, actor, category, area or scope: %+v", *e.ActionId, e)
	}
}

func TestGraphWritesAreAudited(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Now: runningClock()})
	conn := patConn(s, "readwrite")
	gc := mustClient(t, graph.NewClient, conn)
	af := newAuditFinder(t, mustClient(t, audit.NewClient, conn))
	o := s.Org()
	ctx := context.Background()
	p := liveProjects(o)[0]
	user := liveSubjects(o, func(s *Subject) bool { return s.Type == "aad" && len(o.memberOf[s.seq]) > 0 })[3]
	base := s.Stats().Counts

	// A group in a project, created by scope descriptor.
	scope := p.ScopeDescriptor()
	g, err := gc.CreateGroupVsts(ctx, graph.CreateGroupVstsArgs{ScopeDescriptor: &scope, CreationContext: &graph.GraphGroupVstsCreationContext{
		DisplayName: ptrTo("Release Approvers"), Description: ptrTo("People who approve releases."),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if *g.PrincipalName != "["+p.Name+`]\Release Approvers` || !strings.HasPrefix(*g.Descriptor, "vssgp.") {
		t.Fatalf("created group %s %s", *g.PrincipalName, *g.Descriptor)
	}
	e := af.expect("Group.CreateGroups")
	wantData(t, e, map[string]string{"GroupName": *g.PrincipalName})
	if e.ProjectId == nil || e.ProjectId.String() != p.ID || *e.Category != "create" {
		t.Errorf("create group entry: project %v, category %v", e.ProjectId, *e.Category)
	}
	inScope, _ := listGroupsAll(t, gc, graph.ListGroupsArgs{ScopeDescriptor: &scope})
	if !anyMatch(inScope, func(x graph.GraphGroup) bool { return *x.Descriptor == *g.Descriptor }) {
		t.Errorf("the new group is not listed in its project's scope")
	}
	_, err = gc.CreateGroupVsts(ctx, graph.CreateGroupVstsArgs{ScopeDescriptor: &scope, CreationContext: &graph.GraphGroupVstsCreationContext{DisplayName: ptrTo("Release Approvers")}})
	wantStatus(t, err, http.StatusConflict, "a second group of the same name")

	// An organization-level group, nested in another at creation.
	parent := liveSubjects(o, func(s *Subject) bool { return s.Type == "vssgp" && s.ProjectID == "" && !s.Builtin })[0]
	og, err := gc.CreateGroupVsts(ctx, graph.CreateGroupVstsArgs{GroupDescriptors: &[]string{parent.Descriptor}, CreationContext: &graph.GraphGroupVstsCreationContext{DisplayName: ptrTo("Org Wide")}})
	if err != nil {
		t.Fatal(err)
	}
	af.expect("Group.CreateGroups", "Group.UpdateGroupMembership.Add")
	if *og.PrincipalName != "["+o.Name+`]\Org Wide` {
		t.Errorf("organization group principal name %s", *og.PrincipalName)
	}

	// Membership add and remove, with identity ids in the data.
	_, err = gc.AddMembership(ctx, graph.AddMembershipArgs{SubjectDescriptor: &user.Descriptor, ContainerDescriptor: g.Descriptor})
	if err != nil {
		t.Fatal(err)
	}
	wantData(t, af.expect("Group.UpdateGroupMembership.Add"), map[string]string{"MemberId": user.ID, "GroupId": o.byDescriptor[*g.Descriptor].ID, "GroupName": *g.PrincipalName, "MemberDisplayName": user.DisplayName, "Updates": ""})
	down, err := gc.ListMemberships(ctx, graph.ListMembershipsArgs{SubjectDescriptor: g.Descriptor, Direction: &graph.GraphTraversalDirectionValues.Down})
	if err != nil || len(*down) != 1 || *(*down)[0].MemberDescriptor != user.Descriptor {
		t.Fatalf("members of the new group: %v, %v", down, err)
	}
	// Adding it again changes nothing and writes nothing.
	if _, err := gc.AddMembership(ctx, graph.AddMembershipArgs{SubjectDescriptor: &user.Descriptor, ContainerDescriptor: g.Descriptor}); err != nil {
		t.Fatal(err)
	}
	af.expect()
	if err := gc.RemoveMembership(ctx, graph.RemoveMembershipArgs{SubjectDescriptor: &user.Descriptor, ContainerDescriptor: g.Descriptor}); err != nil {
		t.Fatal(err)
	}
	wantData(t, af.expect("Group.UpdateGroupMembership.Remove"), map[string]string{"MemberId": user.ID, "GroupId": o.byDescriptor[*g.Descriptor].ID})
	err = gc.CheckMembershipExistence(ctx, graph.CheckMembershipExistenceArgs{SubjectDescriptor: &user.Descriptor, ContainerDescriptor: g.Descriptor})
	wantStatus(t, err, http.StatusNotFound, "check a removed membership")
	err = gc.RemoveMembership(ctx, graph.RemoveMembershipArgs{SubjectDescriptor: &user.Descriptor, ContainerDescriptor: g.Descriptor})
	wantStatus(t, err, http.StatusNotFound, "remove a missing membership")
	entra := liveSubjects(o, ofType("aadgp"))[0]
	_, err = gc.AddMembership(ctx, graph.AddMembershipArgs{SubjectDescriptor: &user.Descriptor, ContainerDescriptor: &entra.Descriptor})
	wantStatus(t, err, http.StatusBadRequest, "add to an Entra group")
	_, err = gc.AddMembership(ctx, graph.AddMembershipArgs{SubjectDescriptor: g.Descriptor, ContainerDescriptor: &user.Descriptor})
	wantStatus(t, err, http.StatusBadRequest, "add to a user")
	af.expect()

	// Rename, then delete with a member in it.
	if _, err := gc.AddMembership(ctx, graph.AddMembershipArgs{SubjectDescriptor: &user.Descriptor, ContainerDescriptor: g.Descriptor}); err != nil {
		t.Fatal(err)
	}
	af.expect("Group.UpdateGroupMembership.Add")
	renamed, err := gc.UpdateGroup(ctx, graph.UpdateGroupArgs{GroupDescriptor: g.Descriptor, PatchDocument: &[]webapi.JsonPatchOperation{
		{Op: &webapi.OperationValues.Replace, Path: ptrTo("/displayName"), Value: "Release Approvers (EU)"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if *renamed.DisplayName != "Release Approvers (EU)" {
		t.Fatalf("renamed group is %q", *renamed.DisplayName)
	}
	wantData(t, af.expect("Group.UpdateGroups.Modify"), map[string]string{"GroupId": o.byDescriptor[*g.Descriptor].ID})
	got, err := gc.GetGroup(ctx, graph.GetGroupArgs{GroupDescriptor: g.Descriptor})
	if err != nil || *got.DisplayName != "Release Approvers (EU)" || *got.PrincipalName != "["+p.Name+`]\Release Approvers (EU)` {
		t.Fatalf("group after rename: %v, %v", got, err)
	}
	if err := gc.DeleteGroup(ctx, graph.DeleteGroupArgs{GroupDescriptor: g.Descriptor}); err != nil {
		t.Fatal(err)
	}
	wantData(t, af.expect("Group.UpdateGroups.Delete"), map[string]string{"GroupId": o.byDescriptor[*g.Descriptor].ID})
	_, err = gc.GetGroup(ctx, graph.GetGroupArgs{GroupDescriptor: g.Descriptor})
	wantStatus(t, err, http.StatusNotFound, "get a deleted group")
	ups, err := gc.ListMemberships(ctx, graph.ListMembershipsArgs{SubjectDescriptor: &user.Descriptor})
	if err != nil || anyMatch(*ups, func(m graph.GraphMembership) bool { return *m.ContainerDescriptor == *g.Descriptor }) {
		t.Fatalf("the user is still a member of the deleted group: %v", err)
	}
	builtin := o.pca.Descriptor
	err = gc.DeleteGroup(ctx, graph.DeleteGroupArgs{GroupDescriptor: &builtin})
	wantStatus(t, err, http.StatusBadRequest, "delete a built-in group")
	af.expect()

	after := s.Stats().Counts
	if after.Groups != base.Groups+1 || after.Memberships != base.Memberships+1 {
		t.Errorf("after the writes: %d groups, %d memberships; want %d and %d", after.Groups, after.Memberships, base.Groups+1, base.Memberships+1)
	}

	// A user materialized by principal name, straight into a group, then removed.
	const upn = "grace.hopper@contoso.example"
	nu, err := gc.CreateUserUserPrincipalName(ctx, graph.CreateUserUserPrincipalNameArgs{
		CreationContext: &graph.GraphUserPrincipalNameCreationContext{PrincipalName: ptrTo(upn)}, GroupDescriptors: &[]string{parent.Descriptor},
	})
	if err != nil {
		t.Fatal(err)
	}
	if *nu.PrincipalName != upn || *nu.MailAddress != upn || *nu.DirectoryAlias != "grace.hopper" {
		t.Fatalf("created user %s, mail %s, alias %s", *nu.PrincipalName, *nu.MailAddress, *nu.DirectoryAlias)
	}
	wantData(t, af.expect("Licensing.Assigned", "Group.UpdateGroupMembership.Add"), map[string]string{"UserIdentifier": upn})
	again, err := gc.CreateUserUserPrincipalName(ctx, graph.CreateUserUserPrincipalNameArgs{CreationContext: &graph.GraphUserPrincipalNameCreationContext{PrincipalName: ptrTo(upn)}})
	if err != nil || *again.Descriptor != *nu.Descriptor {
		t.Fatalf("materializing the same user again: %v, %v", again, err)
	}
	af.expect()
	if err := gc.DeleteUser(ctx, graph.DeleteUserArgs{UserDescriptor: nu.Descriptor}); err != nil {
		t.Fatal(err)
	}
	wantData(t, af.expect("Licensing.Removed"), map[string]string{"UserIdentifier": upn})
	_, err = gc.GetUser(ctx, graph.GetUserArgs{UserDescriptor: nu.Descriptor})
	wantStatus(t, err, http.StatusNotFound, "get a removed user")
}

func anyMatch[T any](items []T, ok func(T) bool) bool {
	for _, it := range items {
		if ok(it) {
			return true
		}
	}
	return false
}

func TestEntitlementWritesAreAudited(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Now: runningClock()})
	conn := patConn(s, "readwrite")
	mc := mustClient(t, memberentitlementmanagement.NewClient, conn)
	gc := mustClient(t, graph.NewClient, conn)
	af := newAuditFinder(t, mustClient(t, audit.NewClient, conn))
	ctx := context.Background()
	base := s.Stats().Counts

	const upn = "ada.lovelace@contoso.example"
	added, err := mc.AddUserEntitlement(ctx, memberentitlementmanagement.AddUserEntitlementArgs{UserEntitlement: &memberentitlementmanagement.UserEntitlement{
		AccessLevel: &licensing.AccessLevel{AccountLicenseType: &licensing.AccountLicenseTypeValues.Stakeholder},
		User:        &graph.GraphUser{PrincipalName: ptrTo(upn), SubjectKind: ptrTo("user")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !*added.IsSuccess || added.UserEntitlement == nil || *added.UserEntitlement.User.PrincipalName != upn {
		t.Fatalf("add user entitlement: %+v", added)
	}
	id := *added.UserEntitlement.Id
	wantData(t, af.expect("Licensing.Assigned"), map[string]string{"AccessLevel": "Stakeholder", "UserIdentifier": upn})
	got, err := mc.GetUserEntitlement(ctx, memberentitlementmanagement.GetUserEntitlementArgs{UserId: &id})
	if err != nil || *got.AccessLevel.AccountLicenseType != licensing.AccountLicenseTypeValues.Stakeholder || !got.LastAccessedDate.Time.IsZero() {
		t.Fatalf("the new entitlement: %+v, %v", got, err)
	}
	gu, err := gc.GetUser(ctx, graph.GetUserArgs{UserDescriptor: got.User.Descriptor})
	if err != nil || *gu.PrincipalName != upn || *gu.MailAddress != upn {
		t.Fatalf("the new user in Graph: %+v, %v", gu, err)
	}
	again, err := mc.AddUserEntitlement(ctx, memberentitlementmanagement.AddUserEntitlementArgs{UserEntitlement: &memberentitlementmanagement.UserEntitlement{
		AccessLevel: &licensing.AccessLevel{AccountLicenseType: &licensing.AccountLicenseTypeValues.Express},
		User:        &graph.GraphUser{PrincipalName: ptrTo(upn), SubjectKind: ptrTo("user")},
	}})
	if err != nil || *again.IsSuccess {
		t.Fatalf("adding the same user again: %+v, %v", again, err)
	}
	af.expect()

	patched, err := mc.UpdateUserEntitlement(ctx, memberentitlementmanagement.UpdateUserEntitlementArgs{UserId: &id, Document: &[]webapi.JsonPatchOperation{{
		Op: &webapi.OperationValues.Replace, Path: ptrTo("/accessLevel"),
		Value: licensing.AccessLevel{AccountLicenseType: &licensing.AccountLicenseTypeValues.Express, LicensingSource: &licensing.LicensingSourceValues.Account},
	}}})
	if err != nil || !*patched.IsSuccess || *patched.UserEntitlement.AccessLevel.AccountLicenseType != licensing.AccountLicenseTypeValues.Express {
		t.Fatalf("update user entitlement: %+v, %v", patched, err)
	}
	wantData(t, af.expect("Licensing.Modified"), map[string]string{"PreviousAccessLevel": "Stakeholder", "AccessLevel": "Basic", "UserIdentifier": upn})
	_, err = mc.UpdateUserEntitlement(ctx, memberentitlementmanagement.UpdateUserEntitlementArgs{UserId: &id, Document: &[]webapi.JsonPatchOperation{{
		Op: &webapi.OperationValues.Replace, Path: ptrTo("/accessLevel"), Value: map[string]string{"accountLicenseType": "platinum"},
	}}})
	wantStatus(t, err, http.StatusBadRequest, "an unknown license")
	_, err = mc.UpdateUserEntitlement(ctx, memberentitlementmanagement.UpdateUserEntitlementArgs{UserId: &id, Document: &[]webapi.JsonPatchOperation{{
		Op: &webapi.OperationValues.Replace, Path: ptrTo("/extensions"), Value: []string{},
	}}})
	wantStatus(t, err, http.StatusBadRequest, "patching extensions")
	af.expect()

	if err := mc.DeleteUserEntitlement(ctx, memberentitlementmanagement.DeleteUserEntitlementArgs{UserId: &id}); err != nil {
		t.Fatal(err)
	}
	wantData(t, af.expect("Licensing.Removed"), map[string]string{"AccessLevel": "Basic", "UserIdentifier": upn})
	_, err = mc.GetUserEntitlement(ctx, memberentitlementmanagement.GetUserEntitlementArgs{UserId: &id})
	wantStatus(t, err, http.StatusNotFound, "the removed entitlement")
	err = mc.DeleteUserEntitlement(ctx, memberentitlementmanagement.DeleteUserEntitlementArgs{UserId: &id})
	wantStatus(t, err, http.StatusNotFound, "removing it twice")
	if after := s.Stats().Counts; after.Entitlements != base.Entitlements || after.Users != base.Users {
		t.Errorf("after add and remove: %d entitlements, %d users; want %d and %d", after.Entitlements, after.Users, base.Entitlements, base.Users)
	}
}

// An account added with project entitlements joins those projects' built-in
// groups in the same request (the access-request case).
func TestAddAccountWithProjectGroups(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Now: runningClock()})
	conn := patConn(s, "readwrite")
	mc := mustClient(t, memberentitlementmanagement.NewClient, conn)
	gc := mustClient(t, graph.NewClient, conn)
	af := newAuditFinder(t, mustClient(t, audit.NewClient, conn))
	ctx := context.Background()
	o := s.Org()
	p := liveProjects(o)[0]
	pid := uuid.MustParse(p.ID)
	entitle := func(upn string, types ...memberentitlementmanagement.GroupType) (*memberentitlementmanagement.UserEntitlementsPostResponse, error) {
		var pes []memberentitlementmanagement.ProjectEntitlement
		for _, gt := range types {
			pes = append(pes, memberentitlementmanagement.ProjectEntitlement{
				Group: &memberentitlementmanagement.Group{GroupType: &gt}, ProjectRef: &memberentitlementmanagement.ProjectRef{Id: &pid}})
		}
		return mc.AddUserEntitlement(ctx, memberentitlementmanagement.AddUserEntitlementArgs{UserEntitlement: &memberentitlementmanagement.UserEntitlement{
			AccessLevel:         &licensing.AccessLevel{AccountLicenseType: &licensing.AccountLicenseTypeValues.Express},
			User:                &graph.GraphUser{PrincipalName: ptrTo(upn), SubjectKind: ptrTo("user")},
			ProjectEntitlements: &pes,
		}})
	}
	added, err := entitle("grace.hopper@fabrikam.example", memberentitlementmanagement.GroupTypeValues.ProjectContributor, memberentitlementmanagement.GroupTypeValues.ProjectReader)
	if err != nil || !*added.IsSuccess {
		t.Fatalf("add with project groups: %+v, %v", added, err)
	}
	af.expect("Licensing.Assigned", "Group.UpdateGroupMembership.Add", "Group.UpdateGroupMembership.Add")
	up := graph.GraphTraversalDirectionValues.Up
	ms, err := gc.ListMemberships(ctx, graph.ListMembershipsArgs{SubjectDescriptor: added.UserEntitlement.User.Descriptor, Direction: &up})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{o.projectGroup(p, "Contributors").Descriptor: true, o.projectGroup(p, "Readers").Descriptor: true}
	if len(*ms) != 2 || !want[*(*ms)[0].ContainerDescriptor] || !want[*(*ms)[1].ContainerDescriptor] {
		t.Fatalf("memberships of the new account: %+v", *ms)
	}
	// A group type that is not a built-in project group refuses the whole
	// request: no account is added.
	before := s.Stats().Counts.Users
	_, err = entitle("alan.turing@fabrikam.example", memberentitlementmanagement.GroupTypeValues.Custom)
	wantStatus(t, err, http.StatusBadRequest, "a custom group type")
	if s.Stats().Counts.Users != before {
		t.Fatal("a refused request added the account")
	}
	af.expect()
}

func TestProjectTeamAndRepositoryWritesAreAudited(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Now: runningClock()})
	conn := patConn(s, "readwrite")
	cc := mustClient(t, core.NewClient, conn)
	gitc := mustClient(t, git.NewClient, conn)
	gc := mustClient(t, graph.NewClient, conn)
	af := newAuditFinder(t, mustClient(t, audit.NewClient, conn))
	ctx := context.Background()
	base := s.Stats().Counts

	op, err := cc.QueueCreateProject(ctx, core.QueueCreateProjectArgs{ProjectToCreate: &core.TeamProject{
		Name: ptrTo("Apollo"), Description: ptrTo("Moonshot"), Visibility: &core.ProjectVisibilityValues.Public,
		Capabilities: &map[string]map[string]string{
			"versioncontrol":  {"sourceControlType": "Git"},
			"processTemplate": {"templateTypeId": "6b724908-ef14-45cf-84f8-768b5384da45"}, // Scrum
		},
	}})
	if err != nil || op.Id == nil {
		t.Fatalf("queue create project: %v, %v", op, err)
	}
	created := af.expect("Project.CreateCompleted", "Group.UpdateGroupMembership.Add")
	wantData(t, created, map[string]string{"ProjectName": "Apollo", "ProjectVisibility": "Public", "ProcessTemplate": "Scrum", "ProjectId": ""})
	p, err := cc.GetProject(ctx, core.GetProjectArgs{ProjectId: ptrTo("Apollo")})
	if err != nil || string(*p.Visibility) != "public" || *p.Description != "Moonshot" {
		t.Fatalf("the new project: %+v, %v", p, err)
	}
	if (*created.Data)["ProjectId"] != p.Id.String() || created.ProjectId.String() != p.Id.String() {
		t.Errorf("create entry names project %v, want %s", (*created.Data)["ProjectId"], p.Id)
	}
	projects, _ := allProjects(t, cc, nil)
	if !anyMatch(projects, func(x core.TeamProjectReference) bool { return *x.Name == "Apollo" }) {
		t.Errorf("the new project is not listed")
	}
	scope := makeDescriptor("scp", p.Id.String())
	groups, _ := listGroupsAll(t, gc, graph.ListGroupsArgs{ScopeDescriptor: &scope})
	if len(groups) != len(defaultProjectGroups)+1 {
		t.Errorf("the new project has %d groups, want its %d defaults and the team's", len(groups), len(defaultProjectGroups))
	}
	_, err = cc.QueueCreateProject(ctx, core.QueueCreateProjectArgs{ProjectToCreate: &core.TeamProject{Name: ptrTo("apollo")}})
	wantStatus(t, err, http.StatusConflict, "a second project of the same name")
	af.expect()

	team, err := cc.CreateTeam(ctx, core.CreateTeamArgs{ProjectId: ptrTo("Apollo"), Team: &core.WebApiTeam{Name: ptrTo("Guidance"), Description: ptrTo("GNC")}})
	if err != nil {
		t.Fatal(err)
	}
	wantData(t, af.expect("Group.CreateGroups"), map[string]string{"GroupName": `[Apollo]\Guidance`})
	teams, err := cc.GetTeams(ctx, core.GetTeamsArgs{ProjectId: ptrTo(p.Id.String())})
	if err != nil || len(*teams) != 2 || !anyMatch(*teams, func(x core.WebApiTeam) bool { return *x.Id == *team.Id }) {
		t.Fatalf("teams of the new project: %v, %v", teams, err)
	}

	repo, err := gitc.CreateRepository(ctx, git.CreateRepositoryArgs{Project: ptrTo("Apollo"), GitRepositoryToCreate: &git.GitRepositoryCreateOptions{Name: ptrTo("flight-software")}})
	if err != nil {
		t.Fatal(err)
	}
	wantData(t, af.expect("Git.RepositoryCreated"), map[string]string{"RepoId": repo.Id.String(), "RepoName": "flight-software", "ProjectName": "Apollo"})
	repos, err := gitc.GetRepositories(ctx, git.GetRepositoriesArgs{Project: ptrTo("Apollo")})
	if err != nil || len(*repos) != 2 {
		t.Fatalf("repositories of the new project: %v, %v", repos, err)
	}
	_, err = gitc.CreateRepository(ctx, git.CreateRepositoryArgs{Project: ptrTo("Apollo"), GitRepositoryToCreate: &git.GitRepositoryCreateOptions{Name: ptrTo("flight-software")}})
	wantStatus(t, err, http.StatusConflict, "a second repository of the same name")
	if err := gitc.DeleteRepository(ctx, git.DeleteRepositoryArgs{Project: ptrTo("Apollo"), RepositoryId: repo.Id}); err != nil {
		t.Fatal(err)
	}
	wantData(t, af.expect("Git.RepositoryDeleted"), map[string]string{"RepoId": repo.Id.String(), "RepoName": "flight-software"})
	_, err = gitc.GetRepository(ctx, git.GetRepositoryArgs{RepositoryId: ptrTo(repo.Id.String())})
	wantStatus(t, err, http.StatusNotFound, "get a deleted repository")

	if _, err := cc.QueueDeleteProject(ctx, core.QueueDeleteProjectArgs{ProjectId: p.Id}); err != nil {
		t.Fatal(err)
	}
	wantData(t, af.expect("Project.SoftDeleteCompleted"), map[string]string{"ProjectId": p.Id.String(), "ProjectName": "Apollo"})
	_, err = cc.GetProject(ctx, core.GetProjectArgs{ProjectId: ptrTo("Apollo")})
	wantStatus(t, err, http.StatusNotFound, "get a deleted project")
	_, err = gitc.GetRepositories(ctx, git.GetRepositoriesArgs{Project: ptrTo(p.Id.String())})
	wantStatus(t, err, http.StatusNotFound, "repositories of a deleted project")
	_, err = cc.QueueDeleteProject(ctx, core.QueueDeleteProjectArgs{ProjectId: ptrTo(uuid.New())})
	wantStatus(t, err, http.StatusNotFound, "delete an unknown project")

	after := s.Stats().Counts
	if after.Projects != base.Projects || after.Teams != base.Teams || after.Repositories != base.Repositories || after.Groups != base.Groups {
		t.Errorf("after create and delete: %+v, want the counts of before %+v", after, base)
	}
}

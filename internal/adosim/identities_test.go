package adosim

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/identity"
)

func imsClient(t testing.TB, s *Server, credential string) identity.Client {
	t.Helper()
	c, err := identity.NewClient(context.Background(), patConn(s, credential))
	if err != nil {
		t.Fatalf("identity client: %v", err)
	}
	return c
}

// batch reads identities by subject descriptor through IdentityBatch.
func imsBatch(t testing.TB, c identity.Client, q identity.QueryMembership, subs ...*Subject) []identity.Identity {
	t.Helper()
	var ds []string
	for _, s := range subs {
		ds = append(ds, s.Descriptor)
	}
	ids, err := c.ReadIdentityBatch(context.Background(), identity.ReadIdentityBatchArgs{BatchInfo: &identity.IdentityBatchInfo{SubjectDescriptors: &ds, QueryMembership: &q}})
	if err != nil {
		t.Fatalf("ReadIdentityBatch(%s): %v", q, err)
	}
	if len(*ids) != len(subs) {
		t.Fatalf("ReadIdentityBatch(%s): %d identities for %d descriptors", q, len(*ids), len(subs))
	}
	return *ids
}

func imsLegacy(subs []*Subject) []string {
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = s.Legacy
	}
	return out
}

func imsSorted(v []string) []string {
	out := slices.Clone(v)
	slices.Sort(out)
	return out
}

func TestIdentitiesReadByEachKind(t *testing.T) {
	s := startSim(t, Options{})
	o := s.Org()
	c := imsClient(t, s, "readonly")
	ctx := context.Background()
	user, group := o.admin, o.pca

	check := func(what string, ids *[]identity.Identity, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(*ids) != 3 {
			t.Fatalf("%s: %d identities, want 3 (two found, one null)", what, len(*ids))
		}
		u, g, missing := (*ids)[0], (*ids)[1], (*ids)[2]
		if u.Id == nil || u.Id.String() != user.ID || *u.Descriptor != user.Legacy || *u.SubjectDescriptor != user.Descriptor {
			t.Errorf("%s: user = %v %v %v, want %s %s %s", what, u.Id, imsDeref(u.Descriptor), imsDeref(u.SubjectDescriptor), user.ID, user.Legacy, user.Descriptor)
		}
		if u.IsContainer != nil && *u.IsContainer {
			t.Errorf("%s: user is a container", what)
		}
		if g.Id == nil || g.Id.String() != group.ID || !*g.IsContainer || *g.Descriptor != group.Legacy {
			t.Errorf("%s: group = %+v, want %s", what, g, group.Legacy)
		}
		if *g.ProviderDisplayName != group.PrincipalName {
			t.Errorf("%s: group providerDisplayName %q, want %q", what, *g.ProviderDisplayName, group.PrincipalName)
		}
		if missing.Id != nil || missing.Descriptor != nil {
			t.Errorf("%s: unknown identity answered %+v, want null", what, missing)
		}
		props, _ := g.Properties.(map[string]any)
		if cls, _ := props["SchemaClassName"].(map[string]any); cls["$value"] != "Group" || cls["$type"] != "System.String" {
			t.Errorf("%s: group SchemaClassName = %v", what, props["SchemaClassName"])
		}
		if scope, _ := props["ScopeId"].(map[string]any); scope["$value"] != o.ID {
			t.Errorf("%s: PCA ScopeId = %v, want the organization %s", what, props["ScopeId"], o.ID)
		}
	}

	ids, err := c.ReadIdentities(ctx, identity.ReadIdentitiesArgs{Descriptors: imsPtr(strings.Join([]string{user.Legacy, group.Legacy, "Microsoft.TeamFoundation.Identity;S-1-9-0"}, ","))})
	check("by descriptors", ids, err)
	// Storage keys work with and without dashes, as in the service's example.
	ids, err = c.ReadIdentities(ctx, identity.ReadIdentitiesArgs{IdentityIds: imsPtr(user.ID + "," + strings.ReplaceAll(group.ID, "-", "") + "," + uuid.NewString())})
	check("by identityIds", ids, err)
	ids, err = c.ReadIdentities(ctx, identity.ReadIdentitiesArgs{SubjectDescriptors: imsPtr(user.Descriptor + "," + group.Descriptor + ",aad.bm9ib2R5")})
	check("by subjectDescriptors", ids, err)

	one, err := c.ReadIdentity(ctx, identity.ReadIdentityArgs{IdentityId: &group.ID})
	if err != nil || one.Id == nil || one.Id.String() != group.ID {
		t.Fatalf("ReadIdentity: %+v, %v", one, err)
	}
	_, err = c.ReadIdentity(ctx, identity.ReadIdentityArgs{IdentityId: imsPtr(uuid.NewString())})
	if clientStatus(err) != 404 {
		t.Errorf("ReadIdentity of an unknown id: %v, want 404", err)
	}

	// A removed identity answers null like an unknown one.
	o.mu.Lock()
	gone := o.subjects[slices.IndexFunc(o.subjects, func(x *Subject) bool { return x.Type == "aad" && x != user && !x.Deleted })]
	if err := o.RemoveUser(user, gone); err != nil {
		t.Fatal(err)
	}
	o.mu.Unlock()
	ids, err = c.ReadIdentities(ctx, identity.ReadIdentitiesArgs{IdentityIds: &gone.ID})
	if err != nil || len(*ids) != 1 || (*ids)[0].Id != nil {
		t.Errorf("removed user: %+v, %v, want [null]", ids, err)
	}

	// Search, as in the service's examples.
	ids, err = c.ReadIdentities(ctx, identity.ReadIdentitiesArgs{SearchFilter: imsPtr("General"), FilterValue: imsPtr("Project Collection Valid Users")})
	if err != nil || len(*ids) != 1 || (*ids)[0].Id.String() != o.pcvu.ID {
		t.Errorf("search PCVU by name: %+v, %v", ids, err)
	}
	ids, err = c.ReadIdentities(ctx, identity.ReadIdentitiesArgs{SearchFilter: imsPtr("MailAddress"), FilterValue: imsPtr(strings.ToUpper(user.Mail))})
	if err != nil || len(*ids) != 1 || (*ids)[0].Id.String() != user.ID {
		t.Errorf("search by mail: %+v, %v", ids, err)
	}
	_, err = c.ReadIdentities(ctx, identity.ReadIdentitiesArgs{SearchFilter: imsPtr("Nickname"), FilterValue: imsPtr("x")})
	if clientStatus(err) != 400 {
		t.Errorf("unknown searchFilter: %v, want 400", err)
	}
	_, err = c.ReadIdentities(ctx, identity.ReadIdentitiesArgs{})
	if clientStatus(err) != 400 {
		t.Errorf("no keys: %v, want 400", err)
	}
}

func imsDeref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func imsPtr[T any](v T) *T { return &v }

func TestIdentityBatchDirectAndExpanded(t *testing.T) {
	s := startSim(t, Options{})
	o := s.Org()
	c := imsClient(t, s, "readonly")

	// outer ⊃ {u1, inner}; inner ⊃ {u2}.
	o.mu.Lock()
	outer := o.newGroup(nil, "Outer", "", false)
	inner := o.newGroup(nil, "Inner", "", false)
	u1 := o.newUser(userKind{Type: "aad"}, "User One", "user.one")
	u2 := o.newUser(userKind{Type: "msa"}, "User Two", "user.two")
	o.link(outer, u1)
	o.link(outer, inner)
	o.link(inner, u2)
	o.mu.Unlock()

	ids := imsBatch(t, c, identity.QueryMembershipValues.None, outer)
	if len(*ids[0].Members) != 0 || len(*ids[0].MemberOf) != 0 {
		t.Errorf("None: members %v memberOf %v, want both empty", *ids[0].Members, *ids[0].MemberOf)
	}

	ids = imsBatch(t, c, identity.QueryMembershipValues.Direct, outer, inner, u2)
	if got, want := imsSorted(*ids[0].Members), imsSorted(imsLegacy([]*Subject{u1, inner})); !slices.Equal(got, want) {
		t.Errorf("Direct members of outer = %v, want the legacy descriptors %v", got, want)
	}
	if got := *ids[0].MemberIds; len(got) != 2 || !slices.ContainsFunc(got, func(id uuid.UUID) bool { return id.String() == inner.ID }) {
		t.Errorf("Direct memberIds of outer = %v, want u1 and inner", got)
	}
	if got := *ids[1].MemberOf; !slices.Equal(got, []string{outer.Legacy}) {
		t.Errorf("Direct memberOf of inner = %v, want [%s]", got, outer.Legacy)
	}
	if got := *ids[2].MemberOf; !slices.Equal(got, []string{inner.Legacy}) {
		t.Errorf("Direct memberOf of u2 = %v, want only inner (not outer)", got)
	}
	if len(*ids[2].Members) != 0 {
		t.Errorf("a user has members: %v", *ids[2].Members)
	}

	ids = imsBatch(t, c, identity.QueryMembershipValues.Expanded, outer, u2)
	if got, want := imsSorted(*ids[0].Members), imsSorted(imsLegacy([]*Subject{u1, inner, u2})); !slices.Equal(got, want) {
		t.Errorf("Expanded members of outer = %v, want %v", got, want)
	}
	if got, want := imsSorted(*ids[1].MemberOf), imsSorted(imsLegacy([]*Subject{inner, outer})); !slices.Equal(got, want) {
		t.Errorf("Expanded memberOf of u2 = %v, want %v", got, want)
	}
	ids = imsBatch(t, c, identity.QueryMembershipValues.ExpandedDown, outer)
	if len(*ids[0].Members) != 3 || len(*ids[0].MemberOf) != 0 {
		t.Errorf("ExpandedDown: members %v memberOf %v, want 3 members and no containers", *ids[0].Members, *ids[0].MemberOf)
	}

	// Every preset carries a cycle (Cycle A ⊃ Cycle B ⊃ Cycle A): expanding
	// it terminates and lists each identity once.
	var a, b *Subject
	for _, sub := range o.subjects {
		switch sub.DisplayName {
		case "Cycle A":
			a = sub
		case "Cycle B":
			b = sub
		}
	}
	// Above the cycle, so that the walk meets the cycle away from its start.
	o.mu.Lock()
	above := o.newGroup(nil, "Above The Cycle", "", false)
	o.link(above, a)
	o.mu.Unlock()
	done := make(chan []identity.Identity, 1)
	go func() { done <- imsBatch(t, c, identity.QueryMembershipValues.Expanded, a, above) }()
	select {
	case ids = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("expanding a membership cycle did not finish")
	}
	members := *ids[0].Members
	if !slices.Contains(members, b.Legacy) || slices.Contains(members, a.Legacy) {
		t.Errorf("Expanded members of Cycle A = %v, want Cycle B and not Cycle A itself", members)
	}
	for i, m := range [][]string{members, *ids[1].Members} {
		if len(m) != len(slices.Compact(imsSorted(m))) {
			t.Errorf("Expanded members %d repeat: %v", i, m)
		}
	}
	if !slices.Contains(*ids[1].Members, a.Legacy) || !slices.Contains(*ids[1].Members, b.Legacy) {
		t.Errorf("Expanded members above the cycle = %v, want both cycle groups", *ids[1].Members)
	}
}

// TestIdentityEntraGroupCaveat reproduces what the service does to Entra
// groups: only signed-in members, at most 99 (vsts-rest-api-specs #459),
// while an Azure DevOps group of the same size answers completely.
func TestIdentityEntraGroupCaveat(t *testing.T) {
	s := startSim(t, Options{})
	o := s.Org()
	c := imsClient(t, s, "readonly")

	o.mu.Lock()
	entra := o.newGroup(nil, "sg-large", "Synchronized from Microsoft Entra ID.", true)
	local := o.newGroup(nil, "Large Local Group", "", false)
	var signedIn, never []*Subject
	for i := range 160 {
		u := o.newUser(userKind{Type: "aad"}, fmt.Sprintf("Member %03d", i), fmt.Sprintf("member.%03d", i))
		u.Ent = &Entitlement{AccountLicenseType: "express", Status: "active"}
		if i%10 == 3 { // 16 users that never signed in, spread through the list
			never = append(never, u)
		} else {
			u.Ent.LastAccessed = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
			signedIn = append(signedIn, u)
		}
		o.link(entra, u)
		o.link(local, u)
	}
	o.mu.Unlock()

	ids := imsBatch(t, c, identity.QueryMembershipValues.Direct, entra, local, signedIn[10], signedIn[120], never[0])
	got := *ids[0].Members
	if want := imsLegacy(signedIn[:99]); !slices.Equal(got, want) {
		t.Fatalf("Entra group lists %d members, want the first 99 signed-in ones (of %d signed in, %d never)", len(got), len(signedIn), len(never))
	}
	for _, u := range never {
		if slices.Contains(got, u.Legacy) {
			t.Errorf("never-signed-in %s listed", u.DisplayName)
		}
	}
	if n := len(*ids[1].Members); n != 160 {
		t.Errorf("Azure DevOps group lists %d members, want all 160", n)
	}
	if !slices.Contains(*ids[2].MemberOf, entra.Legacy) {
		t.Errorf("a listed member does not list the Entra group in memberOf: %v", *ids[2].MemberOf)
	}
	for i, u := range []identity.Identity{ids[3], ids[4]} {
		if slices.Contains(*u.MemberOf, entra.Legacy) || !slices.Contains(*u.MemberOf, local.Legacy) {
			t.Errorf("member %d cut from the Entra group's list: memberOf %v, want the local group only", i, *u.MemberOf)
		}
	}
}

func TestIdentityBatchLimitsAndScope(t *testing.T) {
	creds := append(DefaultCredentials(), Credential{Name: "graph-only", Token: "graphonlytoken", Scopes: []string{"vso.graph"}})
	s := startSim(t, Options{Credentials: creds})
	c := imsClient(t, s, "readonly")
	ctx := context.Background()

	many := make([]string, imsMaxBatch+1)
	for i := range many {
		many[i] = fmt.Sprintf("Microsoft.TeamFoundation.Identity;S-1-9-%d", i)
	}
	_, err := c.ReadIdentityBatch(ctx, identity.ReadIdentityBatchArgs{BatchInfo: &identity.IdentityBatchInfo{Descriptors: &many}})
	if clientStatus(err) != 400 || !strings.Contains(err.Error(), "TF400049") {
		t.Errorf("batch of %d: %v, want 400 TF400049", len(many), err)
	}
	many = many[:imsMaxBatch]
	ids, err := c.ReadIdentityBatch(ctx, identity.ReadIdentityBatchArgs{BatchInfo: &identity.IdentityBatchInfo{Descriptors: &many}})
	if err != nil || len(*ids) != imsMaxBatch {
		t.Errorf("batch of %d unknown descriptors: %d identities, %v; want %d nulls", imsMaxBatch, len(*ids), err, imsMaxBatch)
	}

	noScope := imsClient(t, s, "graph-only")
	_, err = noScope.ReadIdentities(ctx, identity.ReadIdentitiesArgs{SubjectDescriptors: &s.Org().admin.Descriptor})
	if clientStatus(err) != 403 || !strings.Contains(err.Error(), "vso.identity") {
		t.Errorf("credential without vso.identity: %v, want 403 naming the scope", err)
	}
}

// TestIdentityBatchListsEveryGroup reads every group's direct members of a
// medium organization in batches of 500 and checks them against the model:
// exactly, for Azure DevOps groups; never more than the model, for Entra
// groups.
func TestIdentityBatchListsEveryGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("medium organization")
	}
	s := startSim(t, Options{Preset: "medium"})
	o := s.Org()
	c := imsClient(t, s, "readonly")
	var groups []*Subject
	for _, sub := range o.subjects {
		if sub.IsGroup() && !sub.Deleted {
			groups = append(groups, sub)
		}
	}
	gotTotal, wantTotal, entraCut := 0, 0, 0
	for start := 0; start < len(groups); start += imsMaxBatch {
		part := groups[start:min(start+imsMaxBatch, len(groups))]
		ids := imsBatch(t, c, identity.QueryMembershipValues.Direct, part...)
		for i, g := range part {
			got, want := *ids[i].Members, imsLegacy(o.directMembers(g))
			if *ids[i].SubjectDescriptor != g.Descriptor {
				t.Fatalf("answer %d is %s, want %s: not in request order", start+i, *ids[i].SubjectDescriptor, g.Descriptor)
			}
			if g.Type == "aadgp" {
				if len(got) > len(want) || len(got) > imsEntraMemberCap {
					t.Errorf("Entra group %s: %d members listed, model has %d", g.DisplayName, len(got), len(want))
				}
				entraCut += len(want) - len(got)
				continue
			}
			if !slices.Equal(imsSorted(got), imsSorted(want)) {
				t.Errorf("group %s: %d members listed, model has %d", g.PrincipalName, len(got), len(want))
			}
			gotTotal += len(got)
			wantTotal += len(want)
		}
	}
	if gotTotal != wantTotal || wantTotal == 0 {
		t.Errorf("Azure DevOps groups: %d direct memberships listed, model has %d", gotTotal, wantTotal)
	}
	if entraCut == 0 {
		t.Errorf("no Entra group member was left out; the medium preset has never-signed-in users, so some should be")
	}
	t.Logf("%d groups, %d memberships of Azure DevOps groups, %d Entra memberships not listed", len(groups), gotTotal, entraCut)
}

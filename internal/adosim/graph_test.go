package adosim

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"
)

// liveSubjects returns the live subjects that keep accepts, in seq order.
func liveSubjects(o *Org, keep func(*Subject) bool) []*Subject {
	o.mu.RLock()
	defer o.mu.RUnlock()
	var out []*Subject
	for _, s := range o.subjects {
		if !s.Deleted && keep(s) {
			out = append(out, s)
		}
	}
	return out
}

func ofType(types ...string) func(*Subject) bool {
	return func(s *Subject) bool { return slices.Contains(types, s.Type) }
}

// checkPages verifies the Graph paging contract: full pages of 500 but the
// last, and the last one alone without a continuation token.
func checkPages(t *testing.T, what string, sizes []int) {
	t.Helper()
	for i, n := range sizes {
		if i < len(sizes)-1 && n != graphPageSize {
			t.Errorf("%s: page %d has %d items, want %d (pages %v)", what, i, n, graphPageSize, sizes)
		}
		if n > graphPageSize {
			t.Errorf("%s: page %d has %d items, more than %d", what, i, n, graphPageSize)
		}
	}
}

func listUsersAll(t *testing.T, gc graph.Client, args graph.ListUsersArgs) ([]graph.GraphUser, []int) {
	t.Helper()
	var all []graph.GraphUser
	var sizes []int
	for {
		page, err := gc.ListUsers(context.Background(), args)
		if err != nil {
			t.Fatalf("list users page %d: %v", len(sizes), err)
		}
		all = append(all, *page.GraphUsers...)
		sizes = append(sizes, len(*page.GraphUsers))
		if tok := (*page.ContinuationToken)[0]; tok != "" {
			args.ContinuationToken = &tok
			continue
		}
		return all, sizes
	}
}

func listGroupsAll(t *testing.T, gc graph.Client, args graph.ListGroupsArgs) ([]graph.GraphGroup, []int) {
	t.Helper()
	var all []graph.GraphGroup
	var sizes []int
	for {
		page, err := gc.ListGroups(context.Background(), args)
		if err != nil {
			t.Fatalf("list groups page %d: %v", len(sizes), err)
		}
		all = append(all, *page.GraphGroups...)
		sizes = append(sizes, len(*page.GraphGroups))
		if tok := (*page.ContinuationToken)[0]; tok != "" {
			args.ContinuationToken = &tok
			continue
		}
		return all, sizes
	}
}

// descriptorsOf returns the descriptors of subjects, failing on duplicates.
func descriptorSet[T any](t *testing.T, what string, items []T, desc func(T) *string) map[string]bool {
	t.Helper()
	set := make(map[string]bool, len(items))
	for _, it := range items {
		d := desc(it)
		if d == nil || *d == "" {
			t.Fatalf("%s: an item has no descriptor", what)
		}
		if set[*d] {
			t.Fatalf("%s: descriptor %s listed twice", what, *d)
		}
		set[*d] = true
	}
	return set
}

func subjectDescriptors(subs []*Subject) map[string]bool {
	set := make(map[string]bool, len(subs))
	for _, s := range subs {
		set[s.Descriptor] = true
	}
	return set
}

func sameSet(t *testing.T, what string, got, want map[string]bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d, want %d", what, len(got), len(want))
	}
	n := 0
	for k := range want {
		if !got[k] {
			if n++; n <= 3 {
				t.Errorf("%s: missing %s", what, k)
			}
		}
	}
	for k := range got {
		if !want[k] {
			if n++; n <= 6 {
				t.Errorf("%s: unexpected %s", what, k)
			}
		}
	}
}

func TestGraphListUsersPagesThroughMedium(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Preset: "medium"})
	gc := mustClient(t, graph.NewClient, patConn(s, "readonly"))
	counts := s.Stats().Counts
	o := s.Org()
	tests := []struct {
		name  string
		types []string
		want  []*Subject
		count int // from Stats().Counts when it covers the case, else -1
	}{
		{"no filter", nil, liveSubjects(o, func(s *Subject) bool { return s.Kind == KindUser }), counts.Users + counts.ServiceAccounts},
		{"aad", []string{"aad"}, liveSubjects(o, ofType("aad")), -1},
		{"msa", []string{"msa"}, liveSubjects(o, ofType("msa")), -1},
		{"svc", []string{"svc"}, liveSubjects(o, ofType("svc")), counts.ServiceAccounts},
		{"aad,msa", []string{"aad", "msa"}, liveSubjects(o, ofType("aad", "msa")), counts.Users},
		{"upper case", []string{"AAD", "MSA"}, liveSubjects(o, ofType("aad", "msa")), counts.Users},
		{"unknown type", []string{"imp"}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := graph.ListUsersArgs{}
			if tc.types != nil {
				args.SubjectTypes = &tc.types
			}
			users, sizes := listUsersAll(t, gc, args)
			checkPages(t, tc.name, sizes)
			if tc.count >= 0 && len(users) != tc.count {
				t.Errorf("listed %d users, Stats().Counts says %d", len(users), tc.count)
			}
			got := descriptorSet(t, tc.name, users, func(u graph.GraphUser) *string { return u.Descriptor })
			sameSet(t, "users "+tc.name, got, subjectDescriptors(tc.want))
			for _, u := range users {
				if u.SubjectKind == nil || *u.SubjectKind != "user" {
					t.Fatalf("user %s has subjectKind %v", *u.Descriptor, u.SubjectKind)
				}
			}
		})
	}
	if counts.Users+counts.ServiceAccounts <= 2*graphPageSize {
		t.Fatalf("medium has %d users: too few to turn pages", counts.Users)
	}

	t.Run("display names survive JSON", func(t *testing.T) {
		t.Parallel()
		users, _ := listUsersAll(t, gc, graph.ListUsersArgs{})
		byDesc := map[string]string{}
		for _, u := range users {
			byDesc[*u.Descriptor] = *u.DisplayName
		}
		hostileSeen := 0
		for _, u := range liveSubjects(o, func(s *Subject) bool { return s.Kind == KindUser }) {
			if byDesc[u.Descriptor] != u.DisplayName {
				t.Errorf("user %s: display name %q, want %q", u.Descriptor, byDesc[u.Descriptor], u.DisplayName)
			}
			if slices.Contains(hostileNames, u.DisplayName) {
				hostileSeen++
			}
		}
		if hostileSeen < len(hostileNames) {
			t.Errorf("only %d users carry hostile display names, want all %d", hostileSeen, len(hostileNames))
		}
	})
}

func TestGraphListGroupsAndServicePrincipals(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Preset: "medium"})
	gc := mustClient(t, graph.NewClient, patConn(s, "readonly"))
	counts := s.Stats().Counts
	o := s.Org()
	o.mu.RLock()
	p := o.projects[1] // a project with a non-Latin name
	o.mu.RUnlock()
	orgScope := makeDescriptor("scp", o.ID)
	isGroup := func(s *Subject) bool { return s.Kind == KindGroup }
	tests := []struct {
		name  string
		scope string
		types []string
		want  []*Subject
	}{
		{"all", "", nil, liveSubjects(o, isGroup)},
		{"vssgp", "", []string{"vssgp"}, liveSubjects(o, ofType("vssgp"))},
		{"aadgp", "", []string{"aadgp"}, liveSubjects(o, ofType("aadgp"))},
		{"both types", "", []string{"vssgp", "aadgp"}, liveSubjects(o, isGroup)},
		{"organization scope", orgScope, nil, liveSubjects(o, func(s *Subject) bool { return isGroup(s) && s.ProjectID == "" })},
		{"project scope", p.ScopeDescriptor(), nil, liveSubjects(o, func(s *Subject) bool { return isGroup(s) && s.ProjectID == p.ID })},
		{"project scope, vssgp", p.ScopeDescriptor(), []string{"vssgp"}, liveSubjects(o, func(s *Subject) bool { return isGroup(s) && s.ProjectID == p.ID })},
		{"project scope, aadgp", p.ScopeDescriptor(), []string{"aadgp"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := graph.ListGroupsArgs{}
			if tc.scope != "" {
				args.ScopeDescriptor = &tc.scope
			}
			if tc.types != nil {
				args.SubjectTypes = &tc.types
			}
			groups, sizes := listGroupsAll(t, gc, args)
			checkPages(t, tc.name, sizes)
			got := descriptorSet(t, tc.name, groups, func(g graph.GraphGroup) *string { return g.Descriptor })
			sameSet(t, "groups "+tc.name, got, subjectDescriptors(tc.want))
			for _, g := range groups {
				if *g.SubjectKind != "group" || g.PrincipalName == nil || !strings.HasPrefix(*g.PrincipalName, "[") {
					t.Fatalf("group %s: subjectKind %q, principalName %v", *g.Descriptor, *g.SubjectKind, g.PrincipalName)
				}
			}
		})
	}
	t.Run("all equals Stats", func(t *testing.T) {
		t.Parallel()
		groups, sizes := listGroupsAll(t, gc, graph.ListGroupsArgs{})
		if len(groups) != counts.Groups || len(sizes) < 3 {
			t.Errorf("listed %d groups in %d pages, Stats().Counts.Groups is %d", len(groups), len(sizes), counts.Groups)
		}
	})
	t.Run("project scopes partition project groups", func(t *testing.T) {
		t.Parallel()
		o.mu.RLock()
		projects := slices.Clone(o.projects)
		o.mu.RUnlock()
		orgGroups, _ := listGroupsAll(t, gc, graph.ListGroupsArgs{ScopeDescriptor: &orgScope})
		total := len(orgGroups)
		for _, p := range projects[:10] {
			sd := p.ScopeDescriptor()
			gs, _ := listGroupsAll(t, gc, graph.ListGroupsArgs{ScopeDescriptor: &sd})
			total += len(gs)
			if len(gs) < len(defaultProjectGroups)+1 {
				t.Errorf("project %s: %d groups, want at least its %d default groups and a team", p.Name, len(gs), len(defaultProjectGroups))
			}
		}
		if total > counts.Groups {
			t.Errorf("scoped lists add up to %d groups, more than the %d there are", total, counts.Groups)
		}
	})
	t.Run("service principals", func(t *testing.T) {
		t.Parallel()
		var all []graph.GraphServicePrincipal
		args := graph.ListServicePrincipalsArgs{}
		for {
			page, err := gc.ListServicePrincipals(context.Background(), args)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, *page.GraphServicePrincipals...)
			tok := (*page.ContinuationToken)[0]
			if tok == "" {
				break
			}
			args.ContinuationToken = &tok
		}
		if len(all) != counts.ServicePrincipals {
			t.Errorf("listed %d service principals, Stats says %d", len(all), counts.ServicePrincipals)
		}
		for _, sp := range all {
			if *sp.SubjectKind != "servicePrincipal" || !strings.HasPrefix(*sp.Descriptor, "aadsp.") || sp.ApplicationId == nil {
				t.Errorf("service principal %s: kind %s, applicationId %v", *sp.Descriptor, *sp.SubjectKind, sp.ApplicationId)
			}
		}
		got := descriptorSet(t, "service principals", all, func(sp graph.GraphServicePrincipal) *string { return sp.Descriptor })
		sameSet(t, "service principals", got, subjectDescriptors(liveSubjects(o, ofType("aadsp"))))
	})
	t.Run("bad scopes", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			scope  string
			status int
		}{
			{makeDescriptor("scp", uuid.NewString()), http.StatusNotFound},
			{"vssgp.notascope", http.StatusBadRequest},
			{"garbage", http.StatusBadRequest},
		} {
			_, err := gc.ListGroups(context.Background(), graph.ListGroupsArgs{ScopeDescriptor: &tc.scope})
			wantStatus(t, err, tc.status, "list groups in scope "+tc.scope)
		}
	})
	t.Run("token of another list", func(t *testing.T) {
		t.Parallel()
		page, err := gc.ListUsers(context.Background(), graph.ListUsersArgs{})
		if err != nil {
			t.Fatal(err)
		}
		tok := (*page.ContinuationToken)[0]
		_, err = gc.ListGroups(context.Background(), graph.ListGroupsArgs{ContinuationToken: &tok})
		wantStatus(t, err, http.StatusBadRequest, "list groups with a users token")
		bad := "not-a-token"
		_, err = gc.ListUsers(context.Background(), graph.ListUsersArgs{ContinuationToken: &bad})
		wantStatus(t, err, http.StatusBadRequest, "list users with a malformed token")
	})
}

type memberEdge struct{ container, member string }

// TestGraphMembershipsMatchStats lists the direct memberships of every
// group, down (its members) and up (the groups it is in), and of a sample
// of users and every service principal up, and checks that both directions
// agree and add up to the edges the generator made.
func TestGraphMembershipsMatchStats(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Preset: "medium"})
	gc := mustClient(t, graph.NewClient, patConn(s, "readonly"))
	want := s.Stats().Counts.Memberships
	users, _ := listUsersAll(t, gc, graph.ListUsersArgs{})
	groups, _ := listGroupsAll(t, gc, graph.ListGroupsArgs{})
	var subjects, groupDescs []string
	for _, g := range groups {
		subjects = append(subjects, *g.Descriptor)
		groupDescs = append(groupDescs, *g.Descriptor)
	}
	sampled := map[string]bool{}
	for i := 0; i < len(users); i += 25 {
		subjects = append(subjects, *users[i].Descriptor)
		sampled[*users[i].Descriptor] = true
	}
	for _, sp := range liveSubjects(s.Org(), ofType("aadsp")) {
		subjects = append(subjects, sp.Descriptor)
		sampled[sp.Descriptor] = true
	}

	walk := func(descs []string, dir graph.GraphTraversalDirection) map[memberEdge]bool {
		var mu sync.Mutex
		edges := map[memberEdge]bool{}
		work := make(chan string)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for d := range work {
					ms, err := gc.ListMemberships(context.Background(), graph.ListMembershipsArgs{SubjectDescriptor: &d, Direction: &dir})
					if err != nil {
						errs <- fmt.Errorf("memberships %s of %s: %w", dir, d, err)
						continue
					}
					mu.Lock()
					for _, m := range *ms {
						e := memberEdge{*m.ContainerDescriptor, *m.MemberDescriptor}
						if (dir == graph.GraphTraversalDirectionValues.Down && e.container != d) || (dir == graph.GraphTraversalDirectionValues.Up && e.member != d) {
							errs <- fmt.Errorf("memberships %s of %s lists %v", dir, d, e)
						}
						if edges[e] {
							errs <- fmt.Errorf("membership %v listed twice", e)
						}
						edges[e] = true
					}
					mu.Unlock()
				}
			}()
		}
		for _, d := range descs {
			work <- d
		}
		close(work)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		return edges
	}
	down := walk(groupDescs, graph.GraphTraversalDirectionValues.Down)
	up := walk(subjects, graph.GraphTraversalDirectionValues.Up)
	if len(down) != want {
		t.Errorf("memberships down over %d groups: %d, Stats().Counts.Memberships: %d", len(groupDescs), len(down), want)
	}
	isGroup := map[string]bool{}
	for _, g := range groupDescs {
		isGroup[g] = true
	}
	wantUp := 0
	for e := range down {
		if isGroup[e.member] || sampled[e.member] {
			wantUp++
			if !up[e] {
				t.Fatalf("membership %v is listed down but not up", e)
			}
		}
	}
	if len(up) != wantUp || wantUp < len(groupDescs)/10 {
		t.Errorf("memberships up over %d subjects: %d, down lists %d of theirs", len(subjects), len(up), wantUp)
	}

	t.Run("direction defaults to up", func(t *testing.T) {
		d := users[25].Descriptor
		ms, err := gc.ListMemberships(context.Background(), graph.ListMembershipsArgs{SubjectDescriptor: d})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for e := range up {
			if e.member == *d {
				n++
			}
		}
		if len(*ms) != n || n == 0 {
			t.Errorf("memberships of %s without direction: %d, up: %d", *d, len(*ms), n)
		}
	})
	t.Run("bad arguments", func(t *testing.T) {
		d := groupDescs[0]
		_, err := gc.ListMemberships(context.Background(), graph.ListMembershipsArgs{SubjectDescriptor: &d, Depth: ptrTo(2)})
		wantStatus(t, err, http.StatusBadRequest, "depth 2")
		dir := graph.GraphTraversalDirection("sideways")
		_, err = gc.ListMemberships(context.Background(), graph.ListMembershipsArgs{SubjectDescriptor: &d, Direction: &dir})
		wantStatus(t, err, http.StatusBadRequest, "direction sideways")
		missing := makeDescriptor("aad", uuid.NewString())
		_, err = gc.ListMemberships(context.Background(), graph.ListMembershipsArgs{SubjectDescriptor: &missing})
		wantStatus(t, err, http.StatusNotFound, "unknown subject")
	})
	t.Run("check existence", func(t *testing.T) {
		for e := range down {
			err := gc.CheckMembershipExistence(context.Background(), graph.CheckMembershipExistenceArgs{SubjectDescriptor: &e.member, ContainerDescriptor: &e.container})
			if err != nil {
				t.Fatalf("check existing membership %v: %v", e, err)
			}
			m, err := gc.GetMembership(context.Background(), graph.GetMembershipArgs{SubjectDescriptor: &e.member, ContainerDescriptor: &e.container})
			if err != nil || *m.ContainerDescriptor != e.container || *m.MemberDescriptor != e.member {
				t.Fatalf("get membership %v: %v %v", e, m, err)
			}
			// The reverse edge of a non-cycle membership does not exist.
			if !down[memberEdge{e.member, e.container}] {
				err = gc.CheckMembershipExistence(context.Background(), graph.CheckMembershipExistenceArgs{SubjectDescriptor: &e.container, ContainerDescriptor: &e.member})
				wantStatus(t, err, http.StatusNotFound, "check reversed membership")
			}
			break
		}
	})
}

func TestGraphDescriptorsAndStorageKeys(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	gc := mustClient(t, graph.NewClient, patConn(s, "readonly"))
	o := s.Org()
	for _, typ := range []string{"aad", "msa", "svc", "aadsp", "vssgp", "aadgp"} {
		subs := liveSubjects(o, ofType(typ))
		if len(subs) == 0 {
			t.Fatalf("the small preset has no %s subject", typ)
		}
		for _, sub := range []*Subject{subs[0], subs[len(subs)-1]} {
			t.Run(typ+" "+sub.Descriptor, func(t *testing.T) {
				key, err := gc.GetStorageKey(context.Background(), graph.GetStorageKeyArgs{SubjectDescriptor: &sub.Descriptor})
				if err != nil {
					t.Fatal(err)
				}
				if key.Value.String() != sub.ID {
					t.Fatalf("storage key %s, want %s", key.Value, sub.ID)
				}
				desc, err := gc.GetDescriptor(context.Background(), graph.GetDescriptorArgs{StorageKey: key.Value})
				if err != nil {
					t.Fatal(err)
				}
				if *desc.Value != sub.Descriptor {
					t.Fatalf("descriptor of %s: %s, want %s", key.Value, *desc.Value, sub.Descriptor)
				}
				if !strings.HasPrefix(*desc.Value, typ+".") {
					t.Fatalf("descriptor %s lacks prefix %s", *desc.Value, typ)
				}
			})
		}
	}
	t.Run("not found", func(t *testing.T) {
		_, err := gc.GetDescriptor(context.Background(), graph.GetDescriptorArgs{StorageKey: ptrTo(uuid.New())})
		wantStatus(t, err, http.StatusNotFound, "descriptor of an unknown storage key")
		missing := makeDescriptor("aad", uuid.NewString())
		_, err = gc.GetStorageKey(context.Background(), graph.GetStorageKeyArgs{SubjectDescriptor: &missing})
		wantStatus(t, err, http.StatusNotFound, "storage key of an unknown descriptor")
		bad := "aad.!!!"
		_, err = gc.GetStorageKey(context.Background(), graph.GetStorageKeyArgs{SubjectDescriptor: &bad})
		wantStatus(t, err, http.StatusBadRequest, "storage key of a malformed descriptor")
	})
	t.Run("get by kind", func(t *testing.T) {
		u := liveSubjects(o, ofType("aad"))[0]
		g := liveSubjects(o, ofType("vssgp"))[0]
		sp := liveSubjects(o, ofType("aadsp"))[0]
		if got, err := gc.GetUser(context.Background(), graph.GetUserArgs{UserDescriptor: &u.Descriptor}); err != nil || *got.PrincipalName != u.PrincipalName {
			t.Errorf("get user: %v, %v", got, err)
		}
		if got, err := gc.GetGroup(context.Background(), graph.GetGroupArgs{GroupDescriptor: &g.Descriptor}); err != nil || *got.DisplayName != g.DisplayName {
			t.Errorf("get group: %v, %v", got, err)
		}
		if got, err := gc.GetServicePrincipal(context.Background(), graph.GetServicePrincipalArgs{ServicePrincipalDescriptor: &sp.Descriptor}); err != nil || got.ApplicationId == nil || *got.ApplicationId != sp.ApplicationID {
			t.Errorf("get service principal: %v, %v", got, err)
		}
		_, err := gc.GetUser(context.Background(), graph.GetUserArgs{UserDescriptor: &g.Descriptor})
		wantStatus(t, err, http.StatusNotFound, "get a group as a user")
		_, err = gc.GetGroup(context.Background(), graph.GetGroupArgs{GroupDescriptor: &u.Descriptor})
		wantStatus(t, err, http.StatusNotFound, "get a user as a group")
	})
}

func TestGraphLookupSubjects(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	gc := mustClient(t, graph.NewClient, patConn(s, "readonly"))
	subs := liveSubjects(s.Org(), func(*Subject) bool { return true })
	var keys []graph.GraphSubjectLookupKey
	for _, sub := range subs {
		keys = append(keys, graph.GraphSubjectLookupKey{Descriptor: &sub.Descriptor})
	}
	missing := makeDescriptor("aad", uuid.NewString())
	keys = append(keys, graph.GraphSubjectLookupKey{Descriptor: &missing})
	got, err := gc.LookupSubjects(context.Background(), graph.LookupSubjectsArgs{SubjectLookup: &graph.GraphSubjectLookup{LookupKeys: &keys}})
	if err != nil {
		t.Fatal(err)
	}
	if len(*got) != len(subs) {
		t.Errorf("looked up %d subjects, got %d back", len(subs), len(*got))
	}
	if _, ok := (*got)[missing]; ok {
		t.Errorf("an unknown descriptor was answered")
	}
	for _, sub := range subs {
		g, ok := (*got)[sub.Descriptor]
		if !ok {
			t.Errorf("subject %s missing from the lookup", sub.Descriptor)
			continue
		}
		if *g.SubjectKind != sub.Kind.String() || *g.DisplayName != sub.DisplayName || *g.Descriptor != sub.Descriptor {
			t.Errorf("lookup of %s: kind %s name %q", sub.Descriptor, *g.SubjectKind, *g.DisplayName)
		}
	}
	t.Run("too many", func(t *testing.T) {
		many := make([]graph.GraphSubjectLookupKey, 1001)
		for i := range many {
			many[i] = graph.GraphSubjectLookupKey{Descriptor: &subs[i%len(subs)].Descriptor}
		}
		_, err := gc.LookupSubjects(context.Background(), graph.LookupSubjectsArgs{SubjectLookup: &graph.GraphSubjectLookup{LookupKeys: &many}})
		wantStatus(t, err, http.StatusBadRequest, "lookup of 1001 subjects")
	})
}

package adosim

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/memberentitlementmanagement"
)

var (
	userEntitlementsLocation = uuid.MustParse("387f832c-dbf2-4643-88e9-c1aa94dbb737")
	groupMembersLocation     = uuid.MustParse("45a36e53-5286-4518-aa72-2d29f7acc5d8")
)

// entitlementPage is the body of SearchUserEntitlements, with the
// continuation token the v7 model leaves out.
type entitlementPage struct {
	Members           []memberentitlementmanagement.UserEntitlement `json:"members"`
	ContinuationToken *string                                       `json:"continuationToken"`
	TotalCount        int                                           `json:"totalCount"`
}

// rawEntitlementClient is the azuredevops.Client behind the v7
// entitlement client, for the calls whose paging the v7 models drop.
func rawEntitlementClient(t testing.TB, conn *azuredevops.Connection) (memberentitlementmanagement.Client, *azuredevops.Client) {
	t.Helper()
	mc := mustClient(t, memberentitlementmanagement.NewClient, conn)
	return mc, &mc.(*memberentitlementmanagement.ClientImpl).Client
}

// searchEntitlementPage asks for one page of user entitlements.
func searchEntitlementPage(ctx context.Context, c *azuredevops.Client, query url.Values) (entitlementPage, error) {
	var page entitlementPage
	resp, err := c.Send(ctx, http.MethodGet, userEntitlementsLocation, "7.1-preview.3", nil, query, nil, "", "application/json", nil)
	if err != nil {
		return page, err
	}
	err = c.UnmarshalBody(resp, &page)
	return page, err
}

// searchEntitlements pages through every user entitlement matching
// filter, in orderBy order.
func searchEntitlements(t testing.TB, c *azuredevops.Client, filter, orderBy string) ([]memberentitlementmanagement.UserEntitlement, []int) {
	t.Helper()
	q := url.Values{}
	if filter != "" {
		q.Set("$filter", filter)
	}
	if orderBy != "" {
		q.Set("$orderBy", orderBy)
	}
	var all []memberentitlementmanagement.UserEntitlement
	var sizes []int
	total := -1
	for {
		page, err := searchEntitlementPage(context.Background(), c, q)
		if err != nil {
			t.Fatalf("search user entitlements (filter %q) page %d: %v", filter, len(sizes), err)
		}
		if total >= 0 && page.TotalCount != total {
			t.Fatalf("totalCount changed between pages: %d, then %d", total, page.TotalCount)
		}
		total = page.TotalCount
		all = append(all, page.Members...)
		sizes = append(sizes, len(page.Members))
		if page.ContinuationToken == nil || *page.ContinuationToken == "" {
			break
		}
		q.Set("continuationToken", *page.ContinuationToken)
	}
	if len(all) != total {
		t.Fatalf("paged %d entitlements, totalCount says %d", len(all), total)
	}
	for i, n := range sizes {
		if n > entitlementPageSize || (i < len(sizes)-1 && n != entitlementPageSize) {
			t.Fatalf("page %d has %d entitlements (pages %v)", i, n, sizes)
		}
	}
	return all, sizes
}

func entitledUsers(o *Org, keep func(*Subject) bool) []*Subject {
	return liveSubjects(o, func(s *Subject) bool { return s.Kind == KindUser && s.Ent != nil && keep(s) })
}

func entitlementIDs(t testing.TB, es []memberentitlementmanagement.UserEntitlement) map[string]bool {
	t.Helper()
	set := map[string]bool{}
	for _, e := range es {
		if e.Id == nil || e.User == nil || e.AccessLevel == nil {
			t.Fatalf("entitlement without id, user or access level: %+v", e)
		}
		if set[e.Id.String()] {
			t.Fatalf("entitlement %s listed twice", e.Id)
		}
		set[e.Id.String()] = true
	}
	return set
}

func subjectIDs(subs []*Subject) map[string]bool {
	set := map[string]bool{}
	for _, s := range subs {
		set[s.ID] = true
	}
	return set
}

func TestEntitlementSearchPagesThroughMedium(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Preset: "medium"})
	mc, raw := rawEntitlementClient(t, patConn(s, "readonly"))
	o := s.Org()
	want := s.Stats().Counts.Entitlements

	t.Run("all", func(t *testing.T) {
		t.Parallel()
		all, sizes := searchEntitlements(t, raw, "", "")
		if len(all) != want || len(sizes) < 10 {
			t.Fatalf("paged %d entitlements in %d pages, Stats().Counts.Entitlements is %d", len(all), len(sizes), want)
		}
		sameSet(t, "entitlements", entitlementIDs(t, all), subjectIDs(entitledUsers(o, func(*Subject) bool { return true })))
		for _, e := range all {
			u := o.byID[e.Id.String()]
			if *e.User.Descriptor != u.Descriptor || string(*e.AccessLevel.AccountLicenseType) != u.Ent.AccountLicenseType ||
				string(*e.AccessLevel.Status) != u.Ent.Status || *e.AccessLevel.LicenseDisplayName != u.Ent.LicenseDisplayName() {
				t.Fatalf("entitlement %s: %+v does not match the user %+v", e.Id, *e.AccessLevel, *u.Ent)
			}
			if u.Ent.LastAccessed.IsZero() != e.LastAccessedDate.Time.IsZero() || !e.DateCreated.Time.Equal(u.Ent.DateCreated) {
				t.Fatalf("entitlement %s: dates %v / %v, want %v / %v", e.Id, e.LastAccessedDate, e.DateCreated, u.Ent.LastAccessed, u.Ent.DateCreated)
			}
		}
	})
	t.Run("v7 SearchUserEntitlements stops after page one", func(t *testing.T) {
		t.Parallel()
		page, err := mc.SearchUserEntitlements(context.Background(), memberentitlementmanagement.SearchUserEntitlementsArgs{})
		if err != nil {
			t.Fatal(err)
		}
		if len(*page.Members) != entitlementPageSize {
			t.Fatalf("v7 search returned %d, want the first page of %d", len(*page.Members), entitlementPageSize)
		}
	})

	filters := []struct {
		filter string
		keep   func(*Subject) bool
	}{
		{"licenseId eq 'Account-Express'", func(s *Subject) bool {
			return s.Ent.LicensingSource == "account" && s.Ent.AccountLicenseType == "express"
		}},
		{"licenseId eq 'Account-Stakeholder'", func(s *Subject) bool { return s.Ent.AccountLicenseType == "stakeholder" }},
		{"licenseId eq 'Msdn-Enterprise'", func(s *Subject) bool { return s.Ent.LicensingSource == "msdn" && s.Ent.MsdnLicenseType == "enterprise" }},
		{"licenseStatus eq 'Disabled'", func(s *Subject) bool { return s.Ent.Status == "disabled" }},
		{"userType eq 'guest'", func(s *Subject) bool { return s.MetaType == "guest" }},
		{"(licenseId eq 'Account-Stakeholder' or (licenseId eq 'Account-Express' and licenseStatus eq 'Disabled')) and userType eq 'member'", func(s *Subject) bool {
			return s.MetaType == "member" && (s.Ent.AccountLicenseType == "stakeholder" || (s.Ent.AccountLicenseType == "express" && s.Ent.Status == "disabled"))
		}},
		{"name eq 'Lonely'", func(s *Subject) bool { return strings.Contains(s.DisplayName, "Lonely") }},
		{"name eq 'o''brien'", func(s *Subject) bool { return strings.Contains(strings.ToLower(s.DisplayName), "o'brien") }},
	}
	for _, tc := range filters {
		t.Run("filter "+tc.filter, func(t *testing.T) {
			t.Parallel()
			got, _ := searchEntitlements(t, raw, tc.filter, "")
			wantSubs := entitledUsers(o, tc.keep)
			if len(wantSubs) == 0 {
				t.Fatalf("no user matches %q: the test proves nothing", tc.filter)
			}
			sameSet(t, tc.filter, entitlementIDs(t, got), subjectIDs(wantSubs))
		})
	}

	// One ordered search over everyone; the others over the guests (a few
	// pages), which is enough to see the order hold across pages.
	const guests = "userType eq 'guest'"
	orders := []struct {
		orderBy, filter string
		key             func(memberentitlementmanagement.UserEntitlement) string
		desc            bool
	}{
		{"dateCreated desc", "", func(e memberentitlementmanagement.UserEntitlement) string { return adoTime(e.DateCreated.Time) }, true},
		{"lastAccessed", guests, func(e memberentitlementmanagement.UserEntitlement) string { return adoTime(e.LastAccessedDate.Time) }, false},
		{"lastAccessed desc", guests, func(e memberentitlementmanagement.UserEntitlement) string { return adoTime(e.LastAccessedDate.Time) }, true},
		{"name", guests, func(e memberentitlementmanagement.UserEntitlement) string {
			return strings.ToLower(*e.User.DisplayName)
		}, false},
		{"name desc", guests, func(e memberentitlementmanagement.UserEntitlement) string {
			return strings.ToLower(*e.User.DisplayName)
		}, true},
	}
	for _, tc := range orders {
		t.Run("orderBy "+tc.orderBy, func(t *testing.T) {
			t.Parallel()
			got, sizes := searchEntitlements(t, raw, tc.filter, tc.orderBy)
			wantN := want
			if tc.filter != "" {
				wantN = len(entitledUsers(o, func(s *Subject) bool { return s.MetaType == "guest" }))
			}
			if len(got) != wantN || len(sizes) < 3 {
				t.Fatalf("ordered search paged %d in %d pages, want %d in several", len(got), len(sizes), wantN)
			}
			entitlementIDs(t, got)
			for i := 1; i < len(got); i++ {
				a, b := tc.key(got[i-1]), tc.key(got[i])
				if (tc.desc && a < b) || (!tc.desc && a > b) {
					t.Fatalf("$orderBy %s: entry %d (%s) after entry %d (%s)", tc.orderBy, i, b, i-1, a)
				}
			}
		})
	}

	t.Run("bad input", func(t *testing.T) {
		t.Parallel()
		for _, q := range []url.Values{
			{"$filter": {"licenseId gt 'Account-Express'"}},
			{"$filter": {"country eq 'NL'"}},
			{"$filter": {"(licenseId eq 'Account-Express'"}},
			{"$filter": {"licenseId eq Account-Express"}},
			{"$orderBy": {"shoeSize desc"}},
			{"continuationToken": {"garbage"}},
		} {
			_, err := searchEntitlementPage(context.Background(), raw, q)
			wantStatus(t, err, http.StatusBadRequest, "search with "+q.Encode())
		}
	})
	t.Run("token is bound to its query", func(t *testing.T) {
		t.Parallel()
		q := url.Values{"$filter": {"userType eq 'member'"}}
		page, err := searchEntitlementPage(context.Background(), raw, q)
		if err != nil || page.ContinuationToken == nil {
			t.Fatalf("first page: %v, token %v", err, page.ContinuationToken)
		}
		other := url.Values{"$filter": {"userType eq 'guest'"}, "continuationToken": {*page.ContinuationToken}}
		_, err = searchEntitlementPage(context.Background(), raw, other)
		wantStatus(t, err, http.StatusBadRequest, "token reused with another filter")
	})
}

func TestEntitlementGets(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Preset: "medium"})
	mc, raw := rawEntitlementClient(t, patConn(s, "readonly"))
	o := s.Org()
	ctx := context.Background()

	t.Run("user", func(t *testing.T) {
		t.Parallel()
		never := entitledUsers(o, func(s *Subject) bool { return s.Ent.LastAccessed.IsZero() })
		ruled := entitledUsers(o, func(s *Subject) bool { return s.Ent.GroupRuleID != "" })
		msdn := entitledUsers(o, func(s *Subject) bool { return s.Ent.LicensingSource == "msdn" })
		if len(never) == 0 || len(ruled) == 0 || len(msdn) == 0 {
			t.Fatalf("medium lacks users that never signed in (%d), with a group rule (%d) or MSDN (%d)", len(never), len(ruled), len(msdn))
		}
		for _, u := range []*Subject{o.admin, never[0], ruled[0], msdn[0]} {
			id := uuid.MustParse(u.ID)
			e, err := mc.GetUserEntitlement(ctx, memberentitlementmanagement.GetUserEntitlementArgs{UserId: &id})
			if err != nil {
				t.Fatalf("get entitlement of %s: %v", u.PrincipalName, err)
			}
			if *e.User.PrincipalName != u.PrincipalName || string(*e.AccessLevel.LicensingSource) != u.Ent.LicensingSource ||
				string(*e.AccessLevel.MsdnLicenseType) != u.Ent.MsdnLicenseType || string(*e.AccessLevel.AssignmentSource) != u.Ent.AssignmentSource {
				t.Errorf("entitlement of %s: %+v, want %+v", u.PrincipalName, *e.AccessLevel, *u.Ent)
			}
			if u.Ent.LastAccessed.IsZero() != e.LastAccessedDate.Time.IsZero() {
				t.Errorf("entitlement of %s: lastAccessedDate %v, want %v", u.PrincipalName, e.LastAccessedDate, u.Ent.LastAccessed)
			}
			if u.Ent.GroupRuleID != "" {
				if e.GroupAssignments == nil || len(*e.GroupAssignments) != 1 || (*e.GroupAssignments)[0].Id.String() != u.Ent.GroupRuleID {
					t.Errorf("entitlement of %s: group assignments %v, want rule %s", u.PrincipalName, e.GroupAssignments, u.Ent.GroupRuleID)
				}
			}
		}
		svc := liveSubjects(o, ofType("svc"))[0]
		sp := liveSubjects(o, ofType("aadsp"))[0]
		for _, id := range []string{uuid.NewString(), svc.ID, sp.ID} {
			uid := uuid.MustParse(id)
			_, err := mc.GetUserEntitlement(ctx, memberentitlementmanagement.GetUserEntitlementArgs{UserId: &uid})
			wantStatus(t, err, http.StatusNotFound, "entitlement of "+id)
		}
	})
	t.Run("service principal", func(t *testing.T) {
		t.Parallel()
		for _, sp := range liveSubjects(o, ofType("aadsp")) {
			id := uuid.MustParse(sp.ID)
			e, err := mc.GetServicePrincipalEntitlement(ctx, memberentitlementmanagement.GetServicePrincipalEntitlementArgs{ServicePrincipalId: &id})
			if err != nil {
				t.Fatalf("service principal entitlement of %s: %v", sp.DisplayName, err)
			}
			if e.ServicePrincipal == nil || *e.ServicePrincipal.Descriptor != sp.Descriptor || string(*e.AccessLevel.AccountLicenseType) != sp.Ent.AccountLicenseType {
				t.Fatalf("service principal entitlement of %s: %+v", sp.DisplayName, e)
			}
		}
		id := uuid.MustParse(o.admin.ID)
		_, err := mc.GetServicePrincipalEntitlement(ctx, memberentitlementmanagement.GetServicePrincipalEntitlementArgs{ServicePrincipalId: &id})
		wantStatus(t, err, http.StatusNotFound, "service principal entitlement of a user")
	})
	t.Run("group rules and their members", func(t *testing.T) {
		t.Parallel()
		rules, err := mc.GetGroupEntitlements(ctx, memberentitlementmanagement.GetGroupEntitlementsArgs{})
		if err != nil {
			t.Fatal(err)
		}
		if len(*rules) != s.Stats().Counts.GroupRules || len(*rules) == 0 {
			t.Fatalf("%d group rules, Stats says %d", len(*rules), s.Stats().Counts.GroupRules)
		}
		pagedSome := false
		for _, r := range *rules {
			g := o.byID[r.Id.String()]
			if g == nil || *r.Group.Descriptor != g.Descriptor || r.LicenseRule == nil || r.LicenseRule.AccountLicenseType == nil {
				t.Fatalf("group rule %s: %+v", r.Id, r)
			}
			one, err := mc.GetGroupEntitlement(ctx, memberentitlementmanagement.GetGroupEntitlementArgs{GroupId: r.Id})
			if err != nil || *one.Group.Descriptor != g.Descriptor {
				t.Fatalf("get group rule %s: %v", r.Id, err)
			}
			o.mu.RLock()
			want := map[string]bool{}
			for _, m := range o.directMembers(g) {
				if m.Ent != nil {
					want[m.ID] = true
				}
			}
			o.mu.RUnlock()
			// Page with a small page size, as the v7 client cannot.
			got := map[string]bool{}
			q := url.Values{"maxResults": {"7"}}
			for pages := 0; ; pages++ {
				resp, err := raw.Send(ctx, http.MethodGet, groupMembersLocation, "7.1-preview.1", map[string]string{"groupId": r.Id.String()}, q, nil, "", "application/json", nil)
				if err != nil {
					t.Fatalf("members of rule %s: %v", r.Id, err)
				}
				var page entitlementPage
				if err := raw.UnmarshalBody(resp, &page); err != nil {
					t.Fatal(err)
				}
				if len(page.Members) > 7 {
					t.Fatalf("page of %d members, asked for 7", len(page.Members))
				}
				for _, m := range page.Members {
					if got[m.Id.String()] {
						t.Fatalf("member %s listed twice", m.Id)
					}
					got[m.Id.String()] = true
				}
				if page.ContinuationToken == nil {
					pagedSome = pagedSome || pages > 0
					break
				}
				q.Set("pagingToken", *page.ContinuationToken)
			}
			sameSet(t, "members of rule "+g.DisplayName, got, want)
			first, err := mc.GetGroupMembers(ctx, memberentitlementmanagement.GetGroupMembersArgs{GroupId: r.Id, MaxResults: ptrTo(5)})
			if err != nil || len(*first.Members) != min(5, len(want)) {
				t.Fatalf("v7 GetGroupMembers: %v", err)
			}
		}
		if !pagedSome {
			t.Errorf("no group rule had more than one page of members")
		}
		_, err = mc.GetGroupEntitlement(ctx, memberentitlementmanagement.GetGroupEntitlementArgs{GroupId: ptrTo(uuid.New())})
		wantStatus(t, err, http.StatusNotFound, "unknown group rule")
		_, err = mc.GetGroupMembers(ctx, memberentitlementmanagement.GetGroupMembersArgs{GroupId: (*rules)[0].Id, MaxResults: ptrTo(0)})
		wantStatus(t, err, http.StatusBadRequest, "maxResults 0")
	})
}

// TestEntitlementSearchSeesChanges checks that paging reflects the state:
// a user removed while paging disappears from later pages, one added is
// found at the end.
func TestEntitlementSearchSeesChanges(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	_, raw := rawEntitlementClient(t, patConn(s, "readonly"))
	before, _ := searchEntitlements(t, raw, "", "")
	if _, err := s.Mutate(MutateRequest{Count: 3, Seed: 5, Kinds: []string{"user.add"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mutate(MutateRequest{Count: 2, Seed: 6, Kinds: []string{"user.remove"}}); err != nil {
		t.Fatal(err)
	}
	after, _ := searchEntitlements(t, raw, "", "")
	if len(after) != len(before)+1 || len(after) != s.Stats().Counts.Entitlements {
		t.Fatalf("entitlements %d before, %d after 3 adds and 2 removals; Stats says %d", len(before), len(after), s.Stats().Counts.Entitlements)
	}
}

// A search ordered by name is sorted once and kept while the same users
// keep the same names (nameOrders); a rename or a new user is seen at once.
func TestEntitlementSearchByNameSeesChanges(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	_, raw := rawEntitlementClient(t, patConn(s, "readonly"))
	first := func() string {
		got, _ := searchEntitlements(t, raw, "", "name asc")
		return *got[0].User.DisplayName
	}
	if name := first(); name == "\x01 First" {
		t.Fatalf("the generated organization already has %q", name)
	}
	s.PlantNamesakes("\x01 First", 1) // renames the first user in model order
	if name := first(); name != "\x01 First" {
		t.Fatalf("after a rename the name order starts with %q", name)
	}
	if _, err := s.Mutate(MutateRequest{Count: 1, Seed: 5, Kinds: []string{"user.add"}}); err != nil {
		t.Fatal(err)
	}
	got, _ := searchEntitlements(t, raw, "", "name asc")
	if len(got) != s.Stats().Counts.Entitlements {
		t.Fatalf("ordered search found %d after a user was added; Stats says %d", len(got), s.Stats().Counts.Entitlements)
	}
}

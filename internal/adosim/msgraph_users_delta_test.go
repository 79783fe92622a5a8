package adosim

import (
	"net/http"
	"strings"
	"testing"
)

// As https://learn.microsoft.com/en-us/graph/api/user-delta and
// https://learn.microsoft.com/en-us/graph/delta-query-users describe it:
// an initial round of every user, paged with nextLink and ending with a
// deltaLink; $deltatoken=latest, a deltaLink and no data; from a deltaLink,
// only the users changed in Entra ID, a deleted one as
// "@removed": {"reason": "changed"} (restorable for 30 days); a token Graph
// no longer knows answers 410 Gone, syncStateNotFound. Azure DevOps-side
// changes (audited) are not Entra changes and do not show.
func TestMicrosoftGraphUsersDelta(t *testing.T) {
	s := startSim(t, Options{})
	o := s.Org()
	want := 0
	for _, sub := range o.subjects {
		if entraUser(sub) && !sub.Deleted && !sub.DeletedOrigin {
			want++
		}
	}

	// The initial round, 7 users a page.
	seen := map[string]bool{}
	pages := 0
	url := s.MicrosoftGraphURL() + "/users/delta?$select=displayName,accountEnabled"
	var deltaLink string
	for url != "" {
		p, status, e := deltaGet(t, s, url, "7")
		if status != http.StatusOK {
			t.Fatalf("initial round: %d %+v", status, e)
		}
		pages++
		for _, u := range p.Value {
			if seen[u.ID] || u.DisplayName == "" {
				t.Fatalf("initial round: user %+v twice or without its name", u)
			}
			seen[u.ID] = true
		}
		if p.NextLink != "" && p.DeltaLink != "" {
			t.Fatal("a page with both nextLink and deltaLink")
		}
		if p.NextLink != "" && !strings.Contains(p.NextLink, "/users/delta?") {
			t.Fatalf("nextLink %s", p.NextLink)
		}
		url, deltaLink = p.NextLink, p.DeltaLink
	}
	if len(seen) != want || pages != (want+6)/7 {
		t.Fatalf("initial round: %d users in %d pages; want %d users", len(seen), pages, want)
	}

	unchanged, status, _ := deltaGet(t, s, deltaLink, "")
	if status != http.StatusOK || len(unchanged.Value) != 0 || unchanged.DeltaLink == "" {
		t.Fatalf("unchanged: %d %+v", status, unchanged)
	}
	latest, _, _ := deltaGet(t, s, s.MicrosoftGraphURL()+"/users/delta?$select=displayName&$deltatoken=latest", "")
	if len(latest.Value) != 0 || latest.DeltaLink == "" || !strings.Contains(latest.DeltaLink, "select=displayName") {
		t.Fatalf("$deltatoken=latest: %+v", latest)
	}

	// Two users deleted and one renamed in Entra ID; one disabled in
	// Azure DevOps (audited, not an Entra change).
	deleted, err := s.Mutate(MutateRequest{Count: 2, Seed: 4, Kinds: []string{"entra.user.disable"}})
	if err != nil {
		t.Fatal(err)
	}
	renamed, err := s.Mutate(MutateRequest{Count: 1, Seed: 5, Kinds: []string{"entra.user.rename"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mutate(MutateRequest{Count: 1, Seed: 6, Kinds: []string{"user.disable"}}); err != nil {
		t.Fatal(err)
	}
	for _, link := range []string{unchanged.DeltaLink, latest.DeltaLink} {
		changes, status, e := deltaGet(t, s, link, "")
		if status != http.StatusOK || changes.DeltaLink == "" {
			t.Fatalf("changes: %d %+v", status, e)
		}
		got := map[string]deltaGroup{}
		for _, v := range changes.Value {
			got[v.ID] = v
		}
		if len(got) != 3 {
			t.Errorf("changed users %+v, want the 3 changed in Entra ID", changes.Value)
		}
		for _, m := range deleted.Applied {
			u := o.byDescriptor[m.Target]
			if v := got[u.OriginID]; v.Removed["reason"] != "changed" {
				t.Errorf("user deleted in Entra ID: %+v, want @removed changed", v)
			}
		}
		u := o.byDescriptor[renamed.Applied[0].Target]
		if v := got[u.OriginID]; v.Removed != nil || v.DisplayName != u.DisplayName {
			t.Errorf("user renamed in Entra ID: %+v, want displayName %q", v, u.DisplayName)
		}
		again, _, _ := deltaGet(t, s, changes.DeltaLink, "")
		if len(again.Value) != 0 {
			t.Errorf("after the changes: %+v, want none", again.Value)
		}
	}

	// Tokens Graph no longer knows; groups delta tokens stay valid.
	groupsLatest, _, _ := deltaGet(t, s, s.MicrosoftGraphURL()+"/groups/delta?$deltatoken=latest", "")
	s.ExpireEntraUsersDeltaTokens()
	for _, link := range []string{latest.DeltaLink, s.MicrosoftGraphURL() + "/users/delta?$deltatoken=bm90LWEtdG9rZW4"} {
		if _, status, e := deltaGet(t, s, link, ""); status != http.StatusGone || e.Error.Code != "syncStateNotFound" {
			t.Errorf("expired token: %d %q, want 410 syncStateNotFound", status, e.Error.Code)
		}
	}
	if _, status, e := deltaGet(t, s, groupsLatest.DeltaLink, ""); status != http.StatusOK {
		t.Errorf("groups deltaLink after the users tokens expired: %d %+v", status, e)
	}
}

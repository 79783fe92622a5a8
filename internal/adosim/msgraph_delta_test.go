package adosim

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

type deltaPage struct {
	NextLink  string       `json:"@odata.nextLink"`
	DeltaLink string       `json:"@odata.deltaLink"`
	Value     []deltaGroup `json:"value"`
}

// deltaGet sends one delta request (at most maxPage groups a page, if set).
func deltaGet(t *testing.T, s *Server, url string, maxPage string) (deltaPage, int, mgError) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Credential("msgraph"))
	if maxPage != "" {
		req.Header.Set("Prefer", "odata.maxpagesize="+maxPage)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p deltaPage
	var e mgError
	dec := json.NewDecoder(resp.Body)
	if resp.StatusCode == http.StatusOK {
		err = dec.Decode(&p)
	} else {
		err = dec.Decode(&e)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p, resp.StatusCode, e
}

// As https://learn.microsoft.com/en-us/graph/api/group-delta and
// https://learn.microsoft.com/en-us/graph/delta-query-groups describe it:
// an initial round of every group with its members, paged with nextLink
// and ending with a deltaLink; from a deltaLink, only the groups whose
// members changed (members@delta, removed ones with @removed); a token
// Graph no longer knows answers 410 Gone.
func TestMicrosoftGraphGroupsDelta(t *testing.T) {
	s := startSim(t, Options{})
	o := s.Org()
	var groups []*Subject
	for _, sub := range o.subjects {
		if entraGroup(sub) && !sub.Deleted {
			groups = append(groups, sub)
		}
	}
	if len(groups) < 2 {
		t.Fatalf("%d Entra groups, want 2 or more", len(groups))
	}

	// The initial round, one group a page.
	got := map[string][]string{}
	pages := 0
	url := s.MicrosoftGraphURL() + "/groups/delta?$select=members"
	var deltaLink string
	for url != "" {
		p, status, e := deltaGet(t, s, url, "1")
		if status != http.StatusOK {
			t.Fatalf("initial round: %d %+v", status, e)
		}
		pages++
		for _, g := range p.Value {
			for _, m := range g.Members {
				got[g.ID] = append(got[g.ID], m.ID)
			}
			if g.Members == nil {
				got[g.ID] = nil
			}
		}
		if p.NextLink != "" && p.DeltaLink != "" {
			t.Fatal("a page with both nextLink and deltaLink")
		}
		url, deltaLink = p.NextLink, p.DeltaLink
	}
	if pages != len(groups) || len(got) != len(groups) {
		t.Fatalf("initial round: %d pages, %d groups; want %d of each", pages, len(got), len(groups))
	}
	for _, g := range groups {
		var want []string
		for _, m := range o.directMembers(g) {
			want = append(want, m.OriginID)
		}
		if !slices.Equal(got[g.OriginID], want) {
			t.Errorf("group %s: members %v, want %v", g.DisplayName, got[g.OriginID], want)
		}
	}

	// Nothing changed: no group, a new deltaLink.
	p, status, _ := deltaGet(t, s, deltaLink, "")
	if status != http.StatusOK || len(p.Value) != 0 || p.DeltaLink == "" || p.NextLink != "" {
		t.Fatalf("unchanged: %d %+v", status, p)
	}
	latest, _, _ := deltaGet(t, s, s.MicrosoftGraphURL()+"/groups/delta?$select=members&$deltatoken=latest", "")
	if len(latest.Value) != 0 || latest.DeltaLink == "" {
		t.Fatalf("$deltatoken=latest: %+v", latest)
	}

	// A member added through Microsoft Graph, one removed by /_sim/mutate.
	g := groups[0]
	var add *Subject
	for _, sub := range o.subjects {
		if entraMemberCandidate(sub) && !o.isMember(g, sub) {
			add = sub
			break
		}
	}
	if resp := mgCall(t, s, "msgraph", http.MethodPost, "/groups/"+g.OriginID+"/members/$ref", mgRef(add.OriginID), nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("add: %d", resp.StatusCode)
	}
	res, err := s.Mutate(MutateRequest{Count: 1, Seed: 3, Kinds: []string{"entra.membership.remove"}})
	if err != nil {
		t.Fatal(err)
	}
	removedFrom := o.byDescriptor[res.Applied[0].Target]
	for _, link := range []string{p.DeltaLink, latest.DeltaLink} {
		changes, status, e := deltaGet(t, s, link, "")
		if status != http.StatusOK || changes.DeltaLink == "" {
			t.Fatalf("changes: %d %+v", status, e)
		}
		seen := map[string][]deltaMember{}
		for _, v := range changes.Value {
			seen[v.ID] = v.Members
		}
		if len(seen) != 2 && !(removedFrom == g && len(seen) == 1) {
			t.Errorf("changed groups %v, want %s and %s", seen, g.DisplayName, removedFrom.DisplayName)
		}
		if !slices.ContainsFunc(seen[g.OriginID], func(m deltaMember) bool { return m.ID == add.OriginID && m.Removed == nil }) {
			t.Errorf("group %s: members@delta %+v lack %s added", g.DisplayName, seen[g.OriginID], add.OriginID)
		}
		if !slices.ContainsFunc(seen[removedFrom.OriginID], func(m deltaMember) bool { return m.Removed != nil && m.Removed["reason"] == "deleted" }) {
			t.Errorf("group %s: members@delta %+v lack a member @removed", removedFrom.DisplayName, seen[removedFrom.OriginID])
		}
	}

	// Tokens Graph no longer knows.
	s.ExpireEntraDeltaTokens()
	for _, link := range []string{p.DeltaLink, s.MicrosoftGraphURL() + "/groups/delta?$deltatoken=bm90LWEtdG9rZW4"} {
		if _, status, e := deltaGet(t, s, link, ""); status != http.StatusGone || e.Error.Code != "syncStateNotFound" {
			t.Errorf("expired token: %d %q, want 410 syncStateNotFound", status, e.Error.Code)
		}
	}
}

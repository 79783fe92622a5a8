package collect

import (
	"context"
	"slices"
	"testing"

	"github.com/ado-access/ado-access/internal/adosim"
)

// The organizations a credential sees, from the Profile and Accounts APIs,
// each with the URL its own resource areas give.
func TestListOrganizations(t *testing.T) {
	t.Parallel()
	sim := startSim(t, adosim.Options{Preset: "small", MoreOrgs: []adosim.OrgOptions{{Name: "contoso", Seed: 2}, {Name: "northwind", Seed: 3}}})
	orgs, err := ListOrganizations(context.Background(), sim.AccountsURL(), Credential{PAT: sim.Credential("readonly")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range orgs {
		names = append(names, o.Name)
		if o.URL != sim.OrgURL(o.Name) || o.ID != sim.OrgByName(o.Name).ID {
			t.Errorf("%s: %+v, want URL %s and id %s", o.Name, o, sim.OrgURL(o.Name), sim.OrgByName(o.Name).ID)
		}
	}
	if !slices.Equal(names, []string{"contoso", "fabrikam", "northwind"}) {
		t.Fatalf("organizations %v", names)
	}
	for sel, want := range map[string][]string{
		"all": {"contoso", "fabrikam", "northwind"}, "contoso,northwind": {"contoso", "northwind"},
		"*o*": {"contoso", "northwind"}, "FABRIKAM, fab*": {"fabrikam"}, sim.OrgURL("contoso") + "/": {"contoso"},
	} {
		picked, unmatched := MatchOrgs(orgs, sel)
		var got []string
		for _, o := range picked {
			got = append(got, o.Name)
		}
		if !slices.Equal(got, want) || len(unmatched) != 0 {
			t.Errorf("MatchOrgs(%q) = %v (unmatched %v), want %v", sel, got, unmatched, want)
		}
	}
	if _, unmatched := MatchOrgs(orgs, "contoso,acme-*"); !slices.Equal(unmatched, []string{"acme-*"}) {
		t.Errorf("unmatched = %v", unmatched)
	}
	if _, err := ListOrganizations(context.Background(), sim.AccountsURL(), Credential{PAT: "nope"}, Options{}); err == nil {
		t.Fatal("a bad credential listed organizations")
	}
}

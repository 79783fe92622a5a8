package adosim

import (
	"strings"
	"testing"
)

// Changes made in Entra ID write no Azure DevOps audit entry, yet show in
// what Azure DevOps answers: memberships, isDeletedInOrigin.
func TestEntraMutationsLeaveNoAuditEntry(t *testing.T) {
	s := startSim(t, Options{})
	o := s.Org()
	before := s.Stats().Counts.AuditEntries
	res, err := s.Mutate(MutateRequest{Count: 30, Seed: 4, Kinds: []string{"entra.membership.add", "entra.membership.remove", "entra.user.disable"}})
	if err != nil {
		t.Fatal(err)
	}
	if after := s.Stats().Counts.AuditEntries; after != before {
		t.Fatalf("30 changes in Entra ID wrote %d audit entries, want none", after-before)
	}
	kinds := map[string]int{}
	for _, m := range res.Applied {
		kinds[m.Kind]++
		if m.ActionID != "" || !strings.HasPrefix(m.Kind, "entra.") {
			t.Fatalf("change %+v", m)
		}
	}
	if kinds["entra.membership.add"] == 0 || kinds["entra.membership.remove"] == 0 {
		t.Fatalf("kinds applied: %v", kinds)
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	for _, m := range res.Applied {
		if m.Kind != "entra.user.disable" {
			continue
		}
		u := o.byDescriptor[m.Target]
		if u == nil || !u.DeletedOrigin || u.Deleted {
			t.Fatalf("%s: deleted in Entra ID, still in the organization: %+v", m.Target, u)
		}
		if !strings.Contains(string(o.subjectJSON(u)), `"isDeletedInOrigin":true`) {
			t.Errorf("the subject of %s does not say isDeletedInOrigin", m.Target)
		}
		for _, g := range o.subjects {
			if entraGroup(g) && o.isMember(g, u) {
				t.Errorf("a user deleted in Entra ID is still in Entra group %s", g.DisplayName)
			}
		}
	}
}

// A group rule follows the membership of its Entra group.
func TestGroupRuleFollowsEntraMembership(t *testing.T) {
	s := startSim(t, Options{})
	o := s.Org()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.groupRules) == 0 {
		t.Fatal("the default organization has no group rule")
	}
	r := o.groupRules[0]
	var u *Subject
	for _, s := range o.subjects {
		if s.Kind == KindUser && s.Origin == "aad" && !s.Deleted && s.Ent != nil && s.Ent.LicensingSource == "account" &&
			s.Ent.AssignmentSource != "groupRule" && !o.isMember(r.Group, s) {
			u = s
			break
		}
	}
	if u == nil {
		t.Fatal("no user to add")
	}
	if !o.AddEntraMember(r.Group, u) {
		t.Fatal("add refused")
	}
	if u.Ent.AssignmentSource != "groupRule" || u.Ent.GroupRuleID != r.ID || u.Ent.AccountLicenseType != r.License.AccountLicenseType {
		t.Fatalf("after joining the rule's group: %+v, want the rule's %s", *u.Ent, r.License.AccountLicenseType)
	}
	if !o.RemoveEntraMember(r.Group, u) {
		t.Fatal("remove refused")
	}
	if u.Ent.AssignmentSource != "unknown" || u.Ent.GroupRuleID != "" || u.Ent.AccountLicenseType != "stakeholder" {
		t.Fatalf("after leaving the rule's group: %+v, want Stakeholder", *u.Ent)
	}
}

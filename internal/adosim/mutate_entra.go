package adosim

import "fmt"

// Changes made outside Azure DevOps, in Microsoft Entra ID: membership of
// Entra groups and the deletion of Entra users. Azure DevOps writes no
// Audit Log entry for them (they are in Entra's own audit log), yet its
// Graph answers show them: the memberships of the Entra group, the
// isDeletedInOrigin of the subject, and the access levels that group rules
// grant through the group.

// entraGroup is a Microsoft Entra group materialized in the organization.
func entraGroup(s *Subject) bool { return s.Kind == KindGroup && s.Type == "aadgp" }

// entraMemberCandidate is an Entra user the organization knows.
func entraMemberCandidate(s *Subject) bool {
	return s.Kind == KindUser && s.Origin == "aad" && !s.DeletedOrigin
}

func (m *mutator) entraMemberAdd() (Mutation, bool) {
	g, u := m.pick(entraGroup), m.pick(entraMemberCandidate)
	if g == nil || u == nil || !m.o.AddEntraMember(g, u) {
		return Mutation{}, false
	}
	return Mutation{Summary: fmt.Sprintf("added %s to Entra group %s (in Entra ID)", u.DisplayName, g.DisplayName), Target: g.Descriptor}, true
}

func (m *mutator) entraMemberRemove() (Mutation, bool) {
	g := m.pick(func(s *Subject) bool { return entraGroup(s) && len(m.o.members[s.seq]) > 0 })
	if g == nil {
		return Mutation{}, false
	}
	u := m.memberOfKind(g, func(s *Subject) bool { return s.Kind == KindUser })
	if u == nil || !m.o.RemoveEntraMember(g, u) {
		return Mutation{}, false
	}
	return Mutation{Summary: fmt.Sprintf("removed %s from Entra group %s (in Entra ID)", u.DisplayName, g.DisplayName), Target: g.Descriptor}, true
}

func (m *mutator) entraUserDisable() (Mutation, bool) {
	u := m.pick(func(s *Subject) bool { return entraMemberCandidate(s) && s != m.o.admin })
	if u == nil {
		return Mutation{}, false
	}
	m.o.DeleteEntraUser(u)
	return Mutation{Summary: u.PrincipalName + " deleted in Entra ID (still in the organization)", Target: u.Descriptor}, true
}

func (m *mutator) entraUserRename() (Mutation, bool) {
	u := m.pick(func(s *Subject) bool { return entraMemberCandidate(s) && s != m.o.admin })
	if u == nil {
		return Mutation{}, false
	}
	before := u.DisplayName
	m.o.RenameEntraUser(u, fmt.Sprintf("%s %c.", before, 'A'+rune(m.r.IntN(26))))
	return Mutation{Summary: fmt.Sprintf("%s renamed %s in Entra ID", before, u.DisplayName), Target: u.Descriptor}, true
}

// DeleteEntraUser deletes (or disables) a user in Entra ID: Azure DevOps
// keeps the account and its access, marks the subject isDeletedInOrigin,
// and the user leaves its Entra groups; no Azure DevOps audit entry.
// Callers hold the write lock.
func (o *Org) DeleteEntraUser(u *Subject) {
	u.DeletedOrigin = true
	u.changed() // its Graph answers are cached until it changes
	o.recordEntraUser(u)
	for _, g := range o.subjects {
		if entraGroup(g) && !g.Deleted && o.isMember(g, u) {
			o.RemoveEntraMember(g, u)
		}
	}
}

// followGroupRules re-evaluates the group-rule access level of u after
// its membership of an Entra group changed, as the service does without an
// audit entry: a rule of a group u is now a direct member of grants its
// access level (as the generator assigns them); a user whose rule no
// longer applies falls back to Stakeholder. Visual Studio licenses stay.
func (o *Org) followGroupRules(u *Subject) {
	e := u.Ent
	if u.Kind != KindUser || e == nil || e.LicensingSource != "account" {
		return
	}
	var applies *GroupRule
	for _, r := range o.groupRules {
		if r.Deleted || !o.isMember(r.Group, u) {
			continue
		}
		if r.ID == e.GroupRuleID {
			return // its rule still applies
		}
		if applies == nil {
			applies = r
		}
	}
	switch {
	case applies != nil:
		e.AccountLicenseType, e.AssignmentSource, e.GroupRuleID = applies.License.AccountLicenseType, "groupRule", applies.ID
	case e.AssignmentSource == "groupRule":
		e.AccountLicenseType, e.AssignmentSource, e.GroupRuleID = "stakeholder", "unknown", ""
	}
}

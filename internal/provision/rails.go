package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Safety rails, checked on the actions a plan would carry out:
//
//   - remove-account only with --allow-account-removal;
//   - never remove the running identity's own administrative access
//     (membership of Project Collection Administrators or a project's
//     Project Administrators, directly or through nested groups, as the
//     newest snapshot shows it), nor its account;
//   - never leave Project Collection Administrators without a member
//     (its direct members read live).
//
// The number of changes (--max-changes) and the credential's write access
// are checked on the whole plan (Build, CheckWriteAccess).

func checkRails(ctx context.Context, p *Plan, live *Live, nv *view, opts Options) error {
	refuse := func(a *Action, why string) { a.State, a.Note = StateRefused, why }
	for _, a := range p.Actions {
		if a.State == StateApply && a.Kind == ActRemoveAccount && !opts.AllowAccountRemoval {
			refuse(a, "removing an account from the organization needs --allow-account-removal")
		}
	}
	if err := railOwnAccess(ctx, p, nv, opts, refuse); err != nil {
		return err
	}
	if err := railPipelines(ctx, p, nv, opts, refuse); err != nil {
		return err
	}
	return railLastAdmin(ctx, p, live, nv, refuse)
}

// adminGroups are the groups whose membership is administrative access:
// the organization's Project Collection Administrators and every project's
// Project Administrators (Azure DevOps groups, not Entra groups named so).
func adminGroups(nv *view) map[string]string {
	out := map[string]string{}
	for d, g := range nv.groups {
		if g.subjectType != "vssgp" {
			continue
		}
		if (g.display == "Project Collection Administrators" && g.scopeID == "") || (g.display == "Project Administrators" && g.scopeID != "") {
			out[d] = g.name()
		}
	}
	return out
}

// guarded lists the actions of the given kinds that the plan would carry
// out and that a rail about the running identity must look at. When the
// running identity is unknown, nothing of theirs can be protected: it
// refuses them all, saying what (what), and returns none.
func guarded(p *Plan, opts Options, refuse func(*Action, string), what string, kinds ...string) []*Action {
	var risky []*Action
	for _, a := range p.Actions {
		if a.State == StateApply && slices.Contains(kinds, a.Kind) {
			risky = append(risky, a)
		}
	}
	if opts.Me.Descriptor == "" {
		for _, a := range risky {
			refuse(a, "cannot tell who the credential is, so "+what+" cannot be protected")
		}
		return nil
	}
	return risky
}

func railOwnAccess(ctx context.Context, p *Plan, nv *view, opts Options, refuse func(*Action, string)) error {
	risky := guarded(p, opts, refuse, "its own administrative access", ActRevoke, ActRemoveAccount)
	if len(risky) == 0 {
		return nil
	}
	me := opts.Me.Descriptor
	cut := map[[2]string]bool{}
	for _, a := range risky {
		if a.Kind == ActRemoveAccount && a.Subject.Descriptor == me {
			refuse(a, "this is the running identity's own account")
			continue
		}
		if a.Kind == ActRevoke && !a.Group.Entra {
			cut[[2]string{a.Subject.Descriptor, a.Group.Descriptor}] = true
		}
	}
	if len(cut) == 0 {
		return nil
	}
	before, err := nv.reach(ctx, me, nil)
	if err != nil {
		return err
	}
	after, err := nv.reach(ctx, me, cut)
	if err != nil {
		return err
	}
	var lost []string
	for d, name := range adminGroups(nv) {
		if before[d] && !after[d] {
			lost = append(lost, name)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	slices.Sort(lost)
	why := "it would remove the running identity's own administrative access (" + strings.Join(lost, ", ") + ")"
	for _, a := range risky {
		if a.State != StateApply || a.Kind != ActRevoke {
			continue
		}
		// The memberships on the identity's way up: from it, or from a group it is in.
		if cut[[2]string{a.Subject.Descriptor, a.Group.Descriptor}] && (a.Subject.Descriptor == me || before[a.Subject.Descriptor]) && before[a.Group.Descriptor] {
			refuse(a, why)
		}
	}
	return nil
}

func railLastAdmin(ctx context.Context, p *Plan, live *Live, nv *view, refuse func(*Action, string)) error {
	var pca, pcaName string
	for d, name := range adminGroups(nv) {
		if nv.groups[d].scopeID == "" {
			pca, pcaName = d, name
		}
	}
	if pca == "" {
		return nil
	}
	var touching []*Action
	for _, a := range p.Actions {
		if a.State == StateApply && ((a.Kind == ActRevoke && a.Group.Descriptor == pca) || a.Kind == ActRemoveAccount) {
			touching = append(touching, a)
		}
	}
	if len(touching) == 0 {
		return nil
	}
	members, err := live.ADO.DirectMembers(ctx, pca)
	if err != nil {
		return fmt.Errorf("read the members of %s live: %w", pcaName, err)
	}
	left := map[string]bool{}
	for _, m := range members {
		left[m] = true
	}
	var removing []*Action
	for _, a := range touching {
		if left[a.Subject.Descriptor] {
			delete(left, a.Subject.Descriptor)
			removing = append(removing, a)
		}
	}
	if len(left) > 0 || len(removing) == 0 {
		return nil
	}
	for _, a := range removing {
		refuse(a, "it would leave "+pcaName+" without a member")
	}
	return nil
}

// CheckWriteAccess finds out, before anything is changed, whether the
// credential may make the plan's changes: Graph (Read & manage) for
// memberships, Member Entitlement Management (Read & write) for accounts,
// GroupMember.ReadWrite.All on Microsoft Graph for Entra groups. It sends
// only writes that cannot change anything.
func (l *Live) CheckWriteAccess(ctx context.Context, p *Plan) error {
	need := map[string]bool{}
	for _, a := range p.Actions {
		if a.State != StateApply {
			continue
		}
		switch {
		case isPipelineAction(a.Kind):
			need[pipeWriteAreas[a.Kind]] = true
		case (a.Kind == ActGrant || a.Kind == ActRevoke) && a.Group.Entra:
			need["msgraph"] = true
		case a.Kind == ActGrant || a.Kind == ActRevoke:
			need["graph"] = true
		default:
			need["entitlements"] = true
		}
	}
	for _, area := range []string{"graph", "entitlements"} {
		if need[area] {
			if err := l.ADO.CheckWriteAccess(ctx, area); err != nil {
				return err
			}
		}
	}
	for _, area := range []string{"tokenadmin", "security", "pipelineresources"} {
		if need[area] {
			if err := l.ADO.CheckPipelineWriteAccess(ctx, area); err != nil {
				return err
			}
		}
	}
	if need["msgraph"] && l.Graph != nil {
		return l.Graph.CheckWriteAccess(ctx)
	}
	return nil
}

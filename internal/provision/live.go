package provision

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/ado-access/ado-access/internal/collect"
)

// Live is the organization as the service reports it now: each action's
// item is read before anything is decided about it, and again after.
type Live struct {
	ADO *collect.Client
	// Graph is Microsoft Graph, for Entra group memberships; nil when they
	// are not provisioned (they are no-ops then).
	Graph       *collect.MSGraph
	Concurrency int // reads in flight (default 8)
}

func (l *Live) each(ctx context.Context, actions []*Action, fn func(context.Context, *Action) error) error {
	n := l.Concurrency
	if n <= 0 {
		n = 8
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(n)
	for _, a := range actions {
		g.Go(func() error { return fn(gctx, a) })
	}
	return g.Wait()
}

// check reads each action's item live and decides its state.
func (l *Live) check(ctx context.Context, actions []*Action, opts Options, nv *view) error {
	return l.each(ctx, actions, func(ctx context.Context, a *Action) error {
		wanted, err := l.isWanted(ctx, a)
		if err != nil {
			return fmt.Errorf("read action %d (%s %s) live: %w", a.Seq, a.Kind, a.Subject.Name, err)
		}
		if a.State != "" { // decided while reading (a no-op, a refusal)
			return nil
		}
		if wanted {
			a.State = StateSkip
			return nil
		}
		a.State = StateApply
		why, err := staleness(ctx, a, nv)
		if err != nil {
			return err
		}
		switch {
		case why == "":
		case opts.AllowStale:
			a.Note = why + "; applied anyway (--allow-stale)"
		default:
			a.State, a.Note = StateRefused, why+"; --allow-stale applies it anyway"
		}
		return nil
	})
}

// entraNoop says why an Entra group membership is not changed here.
const entraNoop = "membership managed in Entra ID"

// isWanted reads whether an action's item is already as the action wants
// it. It may settle the action's state itself (Entra no-ops, accounts
// that cannot be changed) and notes what it read. Entra group memberships
// are read (and changed) only through Microsoft Graph, when Graph is set.
func (l *Live) isWanted(ctx context.Context, a *Action) (bool, error) {
	if isPipelineAction(a.Kind) {
		return l.pipeWanted(ctx, a)
	}
	switch a.Kind {
	case ActGrant, ActRevoke:
		var member bool
		var err error
		if a.Group.Entra {
			if l.Graph == nil {
				a.State, a.Note = StateNoop, entraNoop+": not changed here (with --auth entra, --entra-group-provisioning changes it through Microsoft Graph)"
				return false, nil
			}
			if a.Subject.OriginID == "" || (a.Subject.Origin != "" && a.Subject.Origin != "aad") || a.Group.OriginID == "" {
				a.State, a.Note = StateRefused, a.Subject.Name+" is not a Microsoft Entra object, and Entra groups hold only those"
				return false, nil
			}
			member, err = l.Graph.IsGroupMember(ctx, a.Group.OriginID, a.Subject.OriginID)
		} else {
			member, err = l.ADO.IsMember(ctx, a.Subject.Descriptor, a.Group.Descriptor)
		}
		if err != nil {
			return false, err
		}
		if a.Kind == ActGrant {
			if member {
				a.Note = "already a member"
			}
			return member, nil
		}
		if !member {
			a.Note = "not a member (already removed)"
		}
		return !member, nil
	}
	// Account actions read the account's entitlement by principal name.
	if a.Subject.Principal == "" {
		a.State, a.Note = StateRefused, "the account has no principal name to find its entitlement by"
		return false, nil
	}
	acc, err := l.ADO.FindAccount(ctx, a.Subject.Principal)
	if err != nil {
		return false, err
	}
	switch a.Kind {
	case ActAddAccount:
		if acc != nil {
			a.Note = "already in the organization (" + licenseLabel(acc.AccessLevel.AccountLicenseType) + ")"
			if a.Subject.Descriptor == "" {
				a.Subject.Descriptor = acc.Descriptor
			}
		}
		return acc != nil, nil
	case ActSetLicense:
		if acc == nil {
			a.State, a.Note = StateRefused, "not in the organization: add it with add-account"
			return false, nil
		}
		a.entitlementID = acc.ID
		if acc.AccessLevel.AccountLicenseType == a.License && acc.AccessLevel.LicensingSource == "account" {
			a.Note = "already " + licenseLabel(a.License)
			return true, nil
		}
		a.Note = "now " + licenseLabel(acc.AccessLevel.AccountLicenseType)
		return false, nil
	case ActRemoveAccount:
		if acc == nil {
			a.Note = "not in the organization (already removed)"
			return true, nil
		}
		a.entitlementID = acc.ID
		return false, nil
	}
	return false, fmt.Errorf("provision: unknown action %q", a.Kind)
}

// staleness says why an action's item changed since the packet's run, as
// the newest snapshot shows it; "" when it did not, or for a plan file.
func staleness(ctx context.Context, a *Action, nv *view) (string, error) {
	if a.packetRun == 0 {
		return "", nil
	}
	if isPipelineAction(a.Kind) {
		return pipeStaleness(ctx, a, nv)
	}
	switch a.Kind {
	case ActRevoke:
		from, ok, err := nv.membership(ctx, a.Group.Descriptor, a.Subject.Descriptor)
		if err != nil {
			return "", err
		}
		switch {
		case !ok:
			return fmt.Sprintf("changed since the packet's run %d: gone at run %d, back now", a.packetRun, nv.run), nil
		case from > a.packetRun:
			return fmt.Sprintf("changed since the packet's run %d: removed and added again (run %d)", a.packetRun, from), nil
		}
	case ActRemoveAccount:
		acc := nv.accounts[a.Subject.Descriptor]
		switch {
		case acc == nil:
			return fmt.Sprintf("changed since the packet's run %d: gone at run %d, back now", a.packetRun, nv.run), nil
		case acc.entitlementFrom > a.packetRun:
			return fmt.Sprintf("changed since the packet's run %d: its access level changed (run %d)", a.packetRun, acc.entitlementFrom), nil
		}
	}
	return "", nil
}

package provision

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// EntraDelay is what the verification says of an Entra group change that
// Azure DevOps does not show yet.
const EntraDelay = "Microsoft documents up to an hour before Azure DevOps shows a change made in Entra ID; sync again later"

// Check is one action's wanted state against what the service reports now.
type Check struct {
	Seq     int    `json:"seq"`
	Action  string `json:"action"`
	Subject string `json:"subject"`
	Target  string `json:"target"`
	Wanted  string `json:"wanted"`
	Now     string `json:"now"`
	OK      bool   `json:"ok"`
	// Pending is an Entra group change Azure DevOps may not show yet.
	Pending bool `json:"pending,omitempty"`
}

// Verify reads live, after an apply, the items of the plan's actions that
// were carried out, skipped or done earlier, and compares each with what
// the action wants. Azure DevOps' own view is read (for Entra groups too:
// it is what the next sync will see).
func (l *Live) Verify(ctx context.Context, p *Plan) ([]Check, error) {
	var todo []*Action
	for _, a := range p.Actions {
		if a.State == StateApply || a.State == StateSkip || a.State == StateDone {
			todo = append(todo, a)
		}
	}
	var mu sync.Mutex
	var out []Check
	err := l.each(ctx, todo, func(ctx context.Context, a *Action) error {
		c, err := l.verify(ctx, a)
		if err != nil {
			return fmt.Errorf("verify action %d: %w", a.Seq, err)
		}
		mu.Lock()
		out = append(out, c)
		mu.Unlock()
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, err
}

func (l *Live) verify(ctx context.Context, a *Action) (Check, error) {
	_, target := a.Target()
	c := Check{Seq: a.Seq, Action: a.Kind, Subject: a.Subject.Name, Target: target}
	yesNo := func(b bool) string {
		if b {
			return "member"
		}
		return "not a member"
	}
	if isPipelineAction(a.Kind) {
		return l.pipeVerify(ctx, a, c)
	}
	switch a.Kind {
	case ActGrant, ActRevoke:
		member, err := l.ADO.IsMember(ctx, a.Subject.Descriptor, a.Group.Descriptor)
		if err != nil {
			return c, err
		}
		c.Wanted, c.Now = yesNo(a.Kind == ActGrant), yesNo(member)
		c.OK = member == (a.Kind == ActGrant)
		c.Pending = !c.OK && a.Group.Entra
		return c, nil
	}
	acc, err := l.ADO.FindAccount(ctx, a.Subject.Principal)
	if err != nil {
		return c, err
	}
	now := "not in the organization"
	if acc != nil {
		now = licenseLabel(acc.AccessLevel.AccountLicenseType)
	}
	c.Now = now
	switch a.Kind {
	case ActRemoveAccount:
		c.Wanted, c.OK = "not in the organization", acc == nil
	case ActSetLicense:
		c.Wanted = licenseLabel(a.License)
		c.OK = acc != nil && acc.AccessLevel.AccountLicenseType == a.License
	case ActAddAccount:
		c.Wanted = "in the organization"
		c.OK = acc != nil
		if a.State != StateApply || acc == nil {
			break // an account that was there already keeps its own access
		}
		c.Wanted = licenseLabel(a.License)
		c.OK = acc.AccessLevel.AccountLicenseType == a.License
		var missing []string
		for _, g := range a.Groups {
			member, err := l.ADO.IsMember(ctx, acc.Descriptor, g.Descriptor)
			if err != nil {
				return c, err
			}
			if !member {
				missing = append(missing, g.Name)
			}
		}
		if len(a.Groups) > 0 {
			c.Wanted += " + member of " + fmt.Sprint(len(a.Groups)) + " group(s)"
			if len(missing) > 0 {
				c.OK = false
				c.Now += "; not a member of " + strings.Join(missing, ", ")
			} else {
				c.Now += " + member of them"
			}
		}
	}
	return c, nil
}

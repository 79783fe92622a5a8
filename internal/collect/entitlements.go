package collect

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/identity"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/licensing"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/memberentitlementmanagement"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Entitlements: access levels of users (paged through the user entitlement
// search) and of service principals (one read each), and group rules.

// The v7 SearchUserEntitlements drops the continuation token the service
// puts in the body (azure-devops-go-api #191), so the search is called
// through the same client and decoded here.
var locUserEntitlements = uuid.MustParse("387f832c-dbf2-4643-88e9-c1aa94dbb737")

func (c *Client) entitlements() memberentitlementmanagement.Client {
	return &memberentitlementmanagement.ClientImpl{Client: *c.vsaex}
}

// entitlementRow is the versioned part of an access level; the group rule
// is named by its group's descriptor when the level comes from one.
func entitlementRow(descriptor string, a *licensing.AccessLevel, rules *[]memberentitlementmanagement.GroupEntitlement, created *azuredevops.Time) snapshot.Row {
	var lt, src, msdn, name, status, assign string
	if a != nil {
		if a.AccountLicenseType != nil {
			lt = string(*a.AccountLicenseType)
		}
		if a.LicensingSource != nil {
			src = string(*a.LicensingSource)
		}
		if a.MsdnLicenseType != nil {
			msdn = string(*a.MsdnLicenseType)
		}
		name = str(a.LicenseDisplayName)
		if a.Status != nil {
			status = string(*a.Status)
		}
		if a.AssignmentSource != nil {
			assign = string(*a.AssignmentSource)
		}
	}
	rule := ""
	if assign == "groupRule" && rules != nil {
		for _, r := range *rules {
			if r.Group != nil && r.Group.Descriptor != nil {
				rule = *r.Group.Descriptor
				break
			}
		}
	}
	date := ""
	if created != nil {
		date = formatDate(created.Time)
	}
	return snapshot.Row{descriptor, lt, src, msdn, name, status, assign, rule, date}
}

func (e *env) putEntitlement(ctx context.Context, descriptor *string, id *uuid.UUID, a *licensing.AccessLevel, rules *[]memberentitlementmanagement.GroupEntitlement, created, last *azuredevops.Time) error {
	d := str(descriptor)
	if d == "" {
		return nil
	}
	row := entitlementRow(d, a, rules, created)
	var when *azuredevops.Time
	if last != nil && last.Time.Year() > 1 {
		when = last
	}
	key := ""
	if id != nil {
		key = id.String()
	}
	e.out.prog.add("entitlements", 1)
	return e.out.do(ctx, func(w *snapshot.Writer) error {
		if err := w.Put(snapshot.Entitlements, row); err != nil {
			return err
		}
		if when != nil {
			if err := w.SetLastAccess(d, &when.Time); err != nil {
				return err
			}
		} else if err := w.SetLastAccess(d, nil); err != nil {
			return err
		}
		if key != "" {
			return w.SetIdentityKeys(d, key, "")
		}
		return nil
	})
}

// readGroupRules reads the group rules (group entitlements).
func readGroupRules(ctx context.Context, e *env) error {
	rules, err := e.c.entitlements().GetGroupEntitlements(ctx, memberentitlementmanagement.GetGroupEntitlementsArgs{})
	if err != nil {
		return describe("list group rules", "entitlements", err)
	}
	for _, r := range deref2(rules) {
		if r.Group == nil || r.Group.Descriptor == nil {
			continue
		}
		row := entitlementRow(*r.Group.Descriptor, r.LicenseRule, nil, nil)
		status := ""
		if r.Status != nil {
			status = string(*r.Status)
		}
		// A group rule row: the rule's license and its status.
		if err := e.out.put(ctx, snapshot.GroupRules, "group rules", snapshot.Row{row[0], row[1], row[2], row[3], row[4], status}); err != nil {
			return err
		}
	}
	return nil
}

// readServicePrincipalEntitlements reads each service principal's access
// level. The entitlement is addressed by storage key, which the Identities
// API gives for many descriptors in one call.
func readServicePrincipalEntitlements(ctx context.Context, e *env) error {
	e.mu.Lock()
	sps := dedupe(e.sps)
	e.mu.Unlock()
	keys, err := e.ids.storageKeys(ctx, sps)
	if err != nil {
		return err
	}
	ent := e.c.entitlements()
	return forEach(ctx, e.c.conc, sps, func(ctx context.Context, d string) error {
		key, ok := keys[d]
		if !ok {
			return nil // not resolvable: the principal left between the two reads
		}
		id, err := uuid.Parse(key)
		if err != nil {
			return nil
		}
		spe, err := ent.GetServicePrincipalEntitlement(ctx, memberentitlementmanagement.GetServicePrincipalEntitlementArgs{ServicePrincipalId: &id})
		if status, _ := statusOf(err); status == http.StatusNotFound {
			return nil // no entitlement: the principal holds no access level
		}
		if err != nil {
			return describe("read service principal entitlement", "entitlements", err)
		}
		return e.putEntitlement(ctx, &d, &id, spe.AccessLevel, spe.GroupAssignments, spe.DateCreated, spe.LastAccessedDate)
	})
}

var queryDirect = identity.QueryMembershipValues.Direct
var queryNone = identity.QueryMembershipValues.None

func dedupe(s []string) []string {
	seen := make(map[string]bool, len(s))
	out := s[:0:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

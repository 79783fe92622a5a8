package collect

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// The re-reads of accounts: users by principal name through the entitlement
// search, and service accounts (service principals and build identities).

// userSearchBatch is how many names one user entitlement search asks for,
// joined by "or" in $filter (the documented filter grammar); it keeps the
// URL short.
const userSearchBatch = 20

// rereadUsers re-reads the accounts and access levels of the users the log
// named, many per search; a user the search no longer finds has left the
// organization.
func (r *incRun) rereadUsers(ctx context.Context) error {
	var names []string
	for u := range r.p.users {
		names = append(names, u)
	}
	return r.rereadUserNames(ctx, names)
}

// rereadUserNames re-reads the accounts and access levels of users by
// principal name (lower case).
func (r *incRun) rereadUserNames(ctx context.Context, names []string) error {
	sort.Strings(names)
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	return forEach(ctx, r.c.conc, chunks(names, userSearchBatch), func(ctx context.Context, batch []string) error {
		var clauses []string
		for _, n := range batch {
			clauses = append(clauses, "name eq '"+strings.ReplaceAll(n, "'", "''")+"'")
		}
		found := map[string]bool{}
		token := ""
		for {
			q := url.Values{"$filter": {strings.Join(clauses, " or ")}}
			if token != "" {
				q.Set("continuationToken", token)
			}
			var page userEntitlementPage
			if err := sendJSON(ctx, r.c.vsaex, http.MethodGet, locUserEntitlements, "7.1-preview.3", nil, q, &page); err != nil {
				return describe("search user entitlements", "entitlements", err)
			}
			for _, m := range page.Members {
				if m.User == nil {
					continue
				}
				name := strings.ToLower(str(m.User.PrincipalName))
				if !want[name] { // "name" matches by substring; keep exact hits
					continue
				}
				found[name] = true
				r.mu.Lock()
				r.subjects[str(m.User.Descriptor)] = true
				r.mu.Unlock()
				if err := r.out.put(ctx, snapshot.Accounts, "accounts", userRow(*m.User)); err != nil {
					return err
				}
				if err := r.putEntitlement(ctx, m.User.Descriptor, m.Id, m.AccessLevel, m.GroupAssignments, m.DateCreated, m.LastAccessedDate); err != nil {
					return err
				}
			}
			if page.ContinuationToken == nil || *page.ContinuationToken == "" {
				break
			}
			token = *page.ContinuationToken
		}
		for _, n := range batch {
			if !found[n] {
				if err := r.userGone(ctx, n); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// userGone removes an account that left the organization, and re-reads
// the groups it was in (the service drops its memberships without entries
// of their own).
func (r *incRun) userGone(ctx context.Context, principal string) error {
	var gone []string
	err := r.query(ctx, func(w *snapshot.Writer) error {
		return w.CurrentWhere(snapshot.Accounts, "principal_name", principal, func(row snapshot.Row) error {
			gone = append(gone, row[0].(string))
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, d := range gone {
		if err := r.out.do(ctx, func(w *snapshot.Writer) error {
			if err := w.Delete(snapshot.Accounts, d); err != nil {
				return err
			}
			if err := w.Delete(snapshot.Entitlements, d); err != nil {
				return err
			}
			return leaveAllGroups(w, d)
		}); err != nil {
			return err
		}
	}
	return nil
}

// leaveAllGroups closes every membership and team membership of a subject
// that is no longer in the organization: the service drops them when the
// subject goes, without entries of their own.
func leaveAllGroups(w *snapshot.Writer, member string) error {
	var containers, teams []string
	if err := w.CurrentWhere(snapshot.Memberships, "member", member, func(row snapshot.Row) error {
		containers = append(containers, row[0].(string))
		return nil
	}); err != nil {
		return err
	}
	if err := w.CurrentWhere(snapshot.TeamMembers, "member", member, func(row snapshot.Row) error {
		teams = append(teams, row[0].(string))
		return nil
	}); err != nil {
		return err
	}
	for _, c := range containers {
		if err := w.Delete(snapshot.Memberships, c, member); err != nil {
			return err
		}
	}
	for _, t := range teams {
		if err := w.Delete(snapshot.TeamMembers, t, member); err != nil {
			return err
		}
	}
	return nil
}

// rereadServiceAccounts lists the service accounts (Graph users of type
// svc) and closes those gone.
func (r *incRun) rereadServiceAccounts(ctx context.Context) error {
	listed := map[string]bool{}
	types := []string{"svc"}
	pass := r.out.pass("accounts")
	err := pageGraph(ctx, "list service accounts", pass.reset, func(tok *string) (*string, error) {
		page, err := r.c.Graph.ListUsers(ctx, graph.ListUsersArgs{SubjectTypes: &types, ContinuationToken: tok})
		if err != nil {
			return nil, err
		}
		for _, u := range deref2(page.GraphUsers) {
			row := userRow(u)
			listed[row[0].(string)] = true
			if err := pass.put(ctx, snapshot.Accounts, row); err != nil {
				return nil, err
			}
		}
		return next(page.ContinuationToken), nil
	})
	if err != nil {
		return err
	}
	var gone []string
	if err := r.query(ctx, func(w *snapshot.Writer) error {
		return w.CurrentWhere(snapshot.Accounts, "subject_type", "svc", func(row snapshot.Row) error {
			if d := row[0].(string); !listed[d] {
				gone = append(gone, d)
			}
			return nil
		})
	}); err != nil {
		return err
	}
	for _, d := range gone {
		if err := r.out.do(ctx, func(w *snapshot.Writer) error {
			if err := w.Delete(snapshot.Accounts, d); err != nil {
				return err
			}
			return leaveAllGroups(w, d)
		}); err != nil {
			return err
		}
	}
	return nil
}

// resolveGroupKeys turns the storage keys of audit entries into group
// descriptors: from what the store knows, else through the Identities API,

package collect

import (
	"context"
	"strings"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Accounts: every user of every origin (Graph users), kept apart by kind
// from service accounts (svc.) and service principals (aadsp., listed by
// their own endpoint).

// accountKind classifies a subject descriptor.
func accountKind(descriptor string) string {
	switch subjectType(descriptor) {
	case "svc", "s2s", "acs":
		return "service_account"
	case "aadsp":
		return "service_principal"
	}
	return "user"
}

func subjectType(descriptor string) string {
	t, _, _ := strings.Cut(descriptor, ".")
	return strings.ToLower(t)
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func flag(p *bool) int64 {
	if p != nil && *p {
		return 1
	}
	return 0
}

func accountRow(descriptor, origin, originID, principal, mail, display, domain, metaType, alias, appID string, deleted *bool) snapshot.Row {
	return snapshot.Row{descriptor, accountKind(descriptor), subjectType(descriptor), origin, originID, principal, mail, display, domain, metaType, alias, appID, flag(deleted)}
}

func userRow(u graph.GraphUser) snapshot.Row {
	return accountRow(str(u.Descriptor), str(u.Origin), str(u.OriginId), str(u.PrincipalName), str(u.MailAddress),
		str(u.DisplayName), str(u.Domain), str(u.MetaType), str(u.DirectoryAlias), "", u.IsDeletedInOrigin)
}

func servicePrincipalRow(sp graph.GraphServicePrincipal) snapshot.Row {
	return accountRow(str(sp.Descriptor), str(sp.Origin), str(sp.OriginId), str(sp.PrincipalName), str(sp.MailAddress),
		str(sp.DisplayName), str(sp.Domain), str(sp.MetaType), str(sp.DirectoryAlias), str(sp.ApplicationId), sp.IsDeletedInOrigin)
}

// readUsers lists Graph users of every subject type, page by page.
func readUsers(ctx context.Context, e *env) error {
	pass := e.out.pass("accounts")
	return pageGraph(ctx, "list users", pass.reset, func(tok *string) (*string, error) {
		page, err := e.c.Graph.ListUsers(ctx, graph.ListUsersArgs{ContinuationToken: tok})
		if err != nil {
			return nil, err
		}
		for _, u := range deref2(page.GraphUsers) {
			if err := pass.put(ctx, snapshot.Accounts, userRow(u)); err != nil {
				return nil, err
			}
		}
		return next(page.ContinuationToken), nil
	})
}

func readServicePrincipals(ctx context.Context, e *env) error {
	pass := e.out.pass("service principals")
	var sps []string
	err := pageGraph(ctx, "list service principals", func() { pass.reset(); sps = nil }, func(tok *string) (*string, error) {
		page, err := e.c.Graph.ListServicePrincipals(ctx, graph.ListServicePrincipalsArgs{ContinuationToken: tok})
		if err != nil {
			return nil, err
		}
		for _, sp := range deref2(page.GraphServicePrincipals) {
			sps = append(sps, str(sp.Descriptor))
			if err := pass.put(ctx, snapshot.Accounts, servicePrincipalRow(sp)); err != nil {
				return nil, err
			}
		}
		return next(page.ContinuationToken), nil
	})
	e.mu.Lock()
	e.sps = sps
	e.mu.Unlock()
	return err
}

// pageGraph follows Graph continuation tokens (the X-MS-ContinuationToken
// header) until there is none. When the service refuses a token as expired
// the listing starts over: writes are idempotent, so rows seen twice cost
// nothing, and restart (if not nil) first takes back what the abandoned
// pass counted or gathered.
func pageGraph(ctx context.Context, doing string, restart func(), page func(tok *string) (*string, error)) error {
	const restarts = 3
	for attempt := 0; ; attempt++ {
		var tok *string
		err := func() error {
			for {
				n, err := page(tok)
				if err != nil {
					return err
				}
				if n == nil {
					return nil
				}
				tok = n
			}
		}()
		if err != nil && isExpiredToken(err) && attempt < restarts {
			if restart != nil {
				restart()
			}
			continue
		}
		if err != nil {
			return describe(doing, "graph", err)
		}
		return nil
	}
}

// next reads the v7 client's continuation token slot: nil or "" ends a list.
func next(tokens *[]string) *string {
	if tokens == nil || len(*tokens) == 0 || (*tokens)[0] == "" {
		return nil
	}
	t := (*tokens)[0]
	return &t
}

func deref2[T any](p *[]T) []T {
	if p == nil {
		return nil
	}
	return *p
}

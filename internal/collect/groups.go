package collect

import (
	"context"
	"strings"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// groupRef is what the memberships collector needs of a group.
type groupRef struct {
	descriptor, subjectType string
}

// scopeOf extracts the project id from a project group's domain
// ("vstfs:///Classification/TeamProject/{id}"); "" for organization groups.
func scopeOf(domain string) string {
	if id, ok := strings.CutPrefix(domain, "vstfs:///Classification/TeamProject/"); ok {
		return strings.ToLower(id)
	}
	return ""
}

func groupRow(g graph.GraphGroup) snapshot.Row {
	d := str(g.Descriptor)
	entra := int64(0)
	if subjectType(d) == "aadgp" {
		entra = 1
	}
	return snapshot.Row{d, subjectType(d), scopeOf(str(g.Domain)), str(g.Origin), str(g.OriginId), str(g.DisplayName),
		str(g.PrincipalName), str(g.Description), str(g.Domain), str(g.MailAddress), entra}
}

// readGroups lists Azure DevOps and Entra groups at every scope.
func readGroups(ctx context.Context, e *env) error {
	pass := e.out.pass("groups")
	var refs []groupRef
	err := pageGraph(ctx, "list groups", func() { pass.reset(); refs = nil }, func(tok *string) (*string, error) {
		page, err := e.c.Graph.ListGroups(ctx, graph.ListGroupsArgs{ContinuationToken: tok})
		if err != nil {
			return nil, err
		}
		for _, g := range deref2(page.GraphGroups) {
			row := groupRow(g)
			refs = append(refs, groupRef{descriptor: row[0].(string), subjectType: row[1].(string)})
			if err := pass.put(ctx, snapshot.Groups, row); err != nil {
				return nil, err
			}
		}
		return next(page.ContinuationToken), nil
	})
	e.mu.Lock()
	e.groups = refs
	e.mu.Unlock()
	return err
}

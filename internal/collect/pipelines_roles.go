package collect

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Role assignments on pipeline resources, read through the securityroles
// REST endpoint (the v7 module has no client for it): pipelines.go calls
// roleRows for each resource it lists.

// roleAssignment is one answer row of the securityroles API.
type roleAssignment struct {
	Identity struct {
		ID string `json:"id"`
	} `json:"identity"`
	Role struct {
		Name string `json:"name"`
	} `json:"role"`
	Access string `json:"access"`
}

// roleRows reads the role assignments on one resource.
func (r *pipeRun) roleRows(ctx context.Context, project, scope, resource string) ([]snapshot.Row, error) {
	if r.isDenied("role assignments") {
		return nil, nil
	}
	c := r.e.c
	u := c.Org + "/_apis/securityroles/scopes/" + url.PathEscape(scope) + "/roleassignments/resources/" + url.PathEscape(resource)
	req, err := c.pipes.org.CreateRequestMessage(ctx, http.MethodGet, u, "7.1-preview.1", nil, "", "application/json", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.pipes.org.SendRequest(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		if notFound(err) {
			return nil, nil // the resource went meanwhile
		}
		denied, err := r.forbidden("role assignments", "read the role assignments on "+resource, "security", err)
		if denied {
			return nil, nil
		}
		return nil, err
	}
	var list struct {
		Value []roleAssignment `json:"value"`
	}
	if err := decodeBody(resp, &list); err != nil {
		return nil, fmt.Errorf("read the role assignments on %s: %w", resource, err)
	}
	var rows []snapshot.Row
	for _, a := range list.Value {
		if a.Identity.ID == "" {
			continue
		}
		rows = append(rows, snapshot.Row{project, scope, resource, strings.ToLower(a.Identity.ID), a.Role.Name,
			boolInt(a.Access == "inherited")})
	}
	return rows, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

package collect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/pipelinepermissions"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/tokenadmin"
)

// Writes on pipeline resources and tokens for 'exporter apply', and the
// live reads around them (the service has no read-only scope for tokens
// or role assignments: reading them needs the scope that writes them): revoke a personal access token (Token Admin
// revocations), remove a role assignment on a resource (securityroles),
// close a resource to all pipelines (pipeline permissions). As with the
// other writes, nothing here retries: the caller reads the item again.

func init() {
	scopeHints["tokenadmin-write"] = "Token Administration (Read & manage), vso.tokenadministration"
	scopeHints["security-write"] = "Security (Manage), vso.security_manage"
	scopeHints["pipelineresources-write"] = "Pipeline Resources (Use and manage), vso.pipelineresources_manage"
	// apply reads them too (without the sync's way out, --no-pipelines).
	scopeHints["pipelinepermissions-read"] = "Build (Read), vso.build"
}

// HasPAT reads live whether owner (a user's descriptor) still holds the
// token authorizationID, or with ssh the SSH key. A user the service no
// longer knows holds none.
func (c *Client) HasPAT(ctx context.Context, owner, authorizationID string, ssh bool) (bool, error) {
	size := tokenPage
	var cont *string
	for range 10_000 { // a limit: no user holds a million tokens
		page, err := c.pipes.tokens.ListPersonalAccessTokens(ctx, tokenadmin.ListPersonalAccessTokensArgs{
			SubjectDescriptor: &owner, PageSize: &size, ContinuationToken: cont, IsPublic: &ssh})
		if err != nil {
			if notFound(err) {
				return false, nil
			}
			return false, describe("list the personal access tokens of "+owner, "tokenadmin-write", err)
		}
		for _, t := range deref2(page.Value) {
			if t.AuthorizationId != nil && strings.EqualFold(t.AuthorizationId.String(), authorizationID) {
				return true, nil
			}
		}
		if page.ContinuationToken == nil {
			return false, nil
		}
		s := page.ContinuationToken.String()
		cont = &s
	}
	return false, fmt.Errorf("list the personal access tokens of %s: more than 10000 pages", owner)
}

// RevokePAT revokes one personal access token by its authorization id,
// or with ssh one SSH key: the revocations API takes isPublic=true for SSH
// keys (tokenAdmin 7.1), and without it leaves a key as it is. The service
// answers 204 whether or not the token existed.
func (c *Client) RevokePAT(ctx context.Context, authorizationID string, ssh bool) (int, error) {
	what := "a personal access token"
	if ssh {
		what = "an SSH key"
	}
	id, err := uuid.Parse(authorizationID)
	if err != nil {
		return 0, fmt.Errorf("revoke %s: authorization id %q is not a GUID", what, authorizationID)
	}
	err = c.pipes.tokens.RevokeAuthorizations(ctx, tokenadmin.RevokeAuthorizationsArgs{Revocations: &[]tokenadmin.TokenAdminRevocation{{AuthorizationId: &id}}, IsPublic: &ssh})
	if err != nil {
		status, _ := statusOf(err)
		return status, describe("revoke "+what, "tokenadmin-write", err)
	}
	return http.StatusNoContent, nil
}

func roleURL(org, scope, resource string) string {
	return org + "/_apis/securityroles/scopes/" + url.PathEscape(scope) + "/roleassignments/resources/" + url.PathEscape(resource)
}

// RoleOf reads live the role identity holds directly on a resource ("":
// none). An inherited role is not the resource's own and cannot be
// removed there, so it reads as none too, with inherited true.
func (c *Client) RoleOf(ctx context.Context, scope, resource, identity string) (role string, inherited bool, err error) {
	req, err := c.pipes.org.CreateRequestMessage(ctx, http.MethodGet, roleURL(c.Org, scope, resource), "7.1-preview.1", nil, "", "application/json", nil)
	if err != nil {
		return "", false, err
	}
	resp, err := c.pipes.org.SendRequest(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		if notFound(err) {
			return "", false, nil // the resource is gone
		}
		return "", false, describe("read the role assignments on "+resource, "security-write", err)
	}
	var list struct {
		Value []roleAssignment `json:"value"`
	}
	if err := decodeBody(resp, &list); err != nil {
		return "", false, fmt.Errorf("read the role assignments on %s: %w", resource, err)
	}
	for _, a := range list.Value {
		if strings.EqualFold(a.Identity.ID, identity) {
			if a.Access == "inherited" {
				return "", true, nil
			}
			return a.Role.Name, false, nil
		}
	}
	return "", false, nil
}

// RemoveRole removes identity's role assignment on a resource. An
// identity the service does not know answers ErrNotFound.
func (c *Client) RemoveRole(ctx context.Context, scope, resource, identity string) (int, error) {
	req, err := c.pipes.org.CreateRequestMessage(ctx, http.MethodDelete, roleURL(c.Org, scope, resource)+"/"+url.PathEscape(identity), "7.1-preview.1", nil, "", "application/json", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.pipes.org.SendRequest(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		status, _ := statusOf(err)
		if status == http.StatusNotFound {
			return status, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return status, describe("remove a role assignment", "security-write", err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// OpenToAllPipelines reads live whether a project's resource is open to
// all pipelines. A resource that is gone answers ErrNotFound.
func (c *Client) OpenToAllPipelines(ctx context.Context, project, typ, id string) (bool, error) {
	pp, err := c.pipes.perms.GetPipelinePermissionsForResource(ctx, pipelinepermissions.GetPipelinePermissionsForResourceArgs{
		Project: &project, ResourceType: &typ, ResourceId: &id})
	if err != nil {
		if notFound(err) {
			return false, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return false, describe("read the pipeline permissions of "+typ+" "+id, "pipelinepermissions-read", err)
	}
	return pp.AllPipelines != nil && pp.AllPipelines.Authorized != nil && *pp.AllPipelines.Authorized, nil
}

// ClosePipelines takes a resource's authorization for all pipelines away
// (allPipelines.authorized false); the pipelines authorized one by one
// keep theirs.
func (c *Client) ClosePipelines(ctx context.Context, project, typ, id string) (int, error) {
	no := false
	_, err := c.pipes.perms.UpdatePipelinePermisionsForResource(ctx, pipelinepermissions.UpdatePipelinePermisionsForResourceArgs{
		ResourceAuthorization: &pipelinepermissions.ResourcePipelinePermissions{AllPipelines: &pipelinepermissions.Permission{Authorized: &no}},
		Project:               &project, ResourceType: &typ, ResourceId: &id})
	if err != nil {
		status, _ := statusOf(err)
		if status == http.StatusNotFound {
			return status, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return status, describe("close "+typ+" "+id+" to all pipelines", "pipelineresources-write", err)
	}
	return http.StatusOK, nil
}

// CheckPipelineWriteAccess finds out, without changing anything, whether
// the credential may write an area: "tokenadmin" (revoke tokens),
// "security" (role assignments) or "pipelineresources" (pipeline
// permissions). It sends a write that names nothing that exists (an empty
// revocation list, the nil identity, a resource of the nil project): the
// service checks the scope before the target.
func (c *Client) CheckPipelineWriteAccess(ctx context.Context, area string) error {
	var err error
	nilID := uuid.Nil.String()
	switch area {
	case "tokenadmin":
		err = c.pipes.tokens.RevokeAuthorizations(ctx, tokenadmin.RevokeAuthorizationsArgs{Revocations: &[]tokenadmin.TokenAdminRevocation{}})
		if err != nil {
			err = describe("revoke personal access tokens", "tokenadmin-write", err)
		}
	case "security":
		_, err = c.RemoveRole(ctx, "distributedtask.serviceendpointrole", nilID+"_"+nilID, nilID)
	case "pipelineresources":
		_, err = c.ClosePipelines(ctx, nilID, "endpoint", nilID)
	default:
		return fmt.Errorf("collect: no write check for %q", area)
	}
	// Any answer but 401 or 403 (a 404, a 400) says the scope is there.
	if errors.Is(err, ErrForbidden) || errors.Is(err, ErrUnauthorized) || (err != nil && HTTPStatus(err) == 0 && !errors.Is(err, ErrNotFound)) {
		return fmt.Errorf("check that the credential may make changes: %w", err)
	}
	return nil
}

package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/graph"
)

// Writes: the calls 'exporter apply' makes to change access, and the live
// reads it makes before and after them. The transport never retries a
// write (a PUT, POST or DELETE cut off half-way may have happened): the
// caller re-reads the item and only then decides whether to send again.
// Each write returns the HTTP status of its answer (0 when there was none).

var locMembership = uuid.MustParse("3fd2e6ca-fb30-443a-b579-95b19ed0934c")

// ErrNotFound is an answer of 404: the membership, account or object is not there.
var ErrNotFound = errors.New("not found")

// send calls an Azure DevOps endpoint and returns the status of the answer.
func send(ctx context.Context, cl *azuredevops.Client, method string, loc uuid.UUID, version string, route map[string]string, body any, mediaType string, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	if mediaType == "" {
		mediaType = "application/json"
	}
	resp, err := cl.Send(ctx, method, loc, version, route, nil, rd, mediaType, "application/json", nil)
	if err != nil {
		status, _ := statusOf(err)
		if status == http.StatusNotFound {
			return status, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return status, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := decodeBody(resp, out); err != nil {
			return resp.StatusCode, fmt.Errorf("read the answer: %w", err)
		}
	}
	return resp.StatusCode, nil
}

func membershipRoute(member, group string) map[string]string {
	return map[string]string{"subjectDescriptor": member, "containerDescriptor": group}
}

// IsMember reads live whether member (an account or a group) is a direct
// member of group.
func (c *Client) IsMember(ctx context.Context, member, group string) (bool, error) {
	_, err := send(ctx, c.graph, http.MethodHead, locMembership, "7.1-preview.1", membershipRoute(member, group), nil, "", nil)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, describe("check a membership", "graph", err)
	}
	return true, nil
}

// AddMember makes member a direct member of group (Graph PUT; adding an
// existing membership succeeds).
func (c *Client) AddMember(ctx context.Context, member, group string) (int, error) {
	status, err := send(ctx, c.graph, http.MethodPut, locMembership, "7.1-preview.1", membershipRoute(member, group), nil, "", nil)
	if err != nil {
		return status, describe("add a membership", "graph-write", err)
	}
	return status, nil
}

// RemoveMember ends member's direct membership of group (Graph DELETE).
// A membership that is not there answers ErrNotFound.
func (c *Client) RemoveMember(ctx context.Context, member, group string) (int, error) {
	status, err := send(ctx, c.graph, http.MethodDelete, locMembership, "7.1-preview.1", membershipRoute(member, group), nil, "", nil)
	if errors.Is(err, ErrNotFound) {
		return status, err
	}
	if err != nil {
		return status, describe("remove a membership", "graph-write", err)
	}
	return status, nil
}

// DirectMembers lists the direct members (accounts and groups) of a group, live.
func (c *Client) DirectMembers(ctx context.Context, group string) ([]string, error) {
	down := graph.GraphTraversalDirectionValues.Down
	ms, err := c.Graph.ListMemberships(ctx, graph.ListMembershipsArgs{SubjectDescriptor: &group, Direction: &down})
	if err != nil {
		return nil, describe("list a group's members", "graph", err)
	}
	var out []string
	for _, m := range deref2(ms) {
		out = append(out, str(m.MemberDescriptor))
	}
	return out, nil
}

// AccessLevel is the license part of an account's entitlement.
type AccessLevel struct {
	AccountLicenseType string `json:"accountLicenseType"` // express (Basic), stakeholder, advanced, …
	LicensingSource    string `json:"licensingSource"`    // account, msdn
	MsdnLicenseType    string `json:"msdnLicenseType,omitempty"`
	Status             string `json:"status,omitempty"` // read only: active, pending, disabled, …
	LicenseDisplayName string `json:"licenseDisplayName,omitempty"`
}

// Account is a user's entitlement as the service reports it live.
type Account struct {
	ID            string // storage key: how entitlements address the user
	Descriptor    string
	PrincipalName string
	DisplayName   string
	AccessLevel   AccessLevel
}

// ProjectGroup is a project's built-in group an account is added to with
// its access level: groupType projectReader, projectContributor,
// projectAdministrator or projectStakeholder.
type ProjectGroup struct {
	ProjectID string
	GroupType string
}

type entitlementJSON struct {
	ID          string      `json:"id"`
	AccessLevel AccessLevel `json:"accessLevel"`
	User        *struct {
		Descriptor    string `json:"descriptor"`
		PrincipalName string `json:"principalName"`
		DisplayName   string `json:"displayName"`
	} `json:"user"`
}

func (e entitlementJSON) account() *Account {
	a := &Account{ID: strings.ToLower(e.ID), AccessLevel: e.AccessLevel}
	if e.User != nil {
		a.Descriptor, a.PrincipalName, a.DisplayName = e.User.Descriptor, e.User.PrincipalName, e.User.DisplayName
	}
	return a
}

// FindAccount reads live the account of a principal name (or mail), or
// nil when the organization has none.
func (c *Client) FindAccount(ctx context.Context, principal string) (*Account, error) {
	q := url.Values{"$filter": {"name eq '" + strings.ReplaceAll(principal, "'", "''") + "'"}}
	token := ""
	for {
		if token != "" {
			q.Set("continuationToken", token)
		}
		var page struct {
			Members           []entitlementJSON `json:"members"`
			ContinuationToken *string           `json:"continuationToken"`
		}
		if err := sendJSON(ctx, c.vsaex, http.MethodGet, locUserEntitlements, "7.1-preview.3", nil, q, &page); err != nil {
			return nil, describe("search user entitlements", "entitlements", err)
		}
		for _, m := range page.Members {
			// "name" matches by substring; only an exact hit counts.
			if m.User != nil && strings.EqualFold(m.User.PrincipalName, principal) {
				return m.account(), nil
			}
		}
		if page.ContinuationToken == nil || *page.ContinuationToken == "" {
			return nil, nil
		}
		token = *page.ContinuationToken
	}
}

// ErrAccountExists is the service refusing to add an account it has.
var ErrAccountExists = errors.New("the account is already in the organization")

// AddAccount adds a user who is not yet in the organization, with an
// access level and, in the same request, membership of project groups.
func (c *Client) AddAccount(ctx context.Context, principal string, level AccessLevel, groups []ProjectGroup) (*Account, int, error) {
	type projectEntitlement struct {
		Group struct {
			GroupType string `json:"groupType"`
		} `json:"group"`
		ProjectRef struct {
			ID string `json:"id"`
		} `json:"projectRef"`
	}
	body := map[string]any{
		"accessLevel": map[string]string{"accountLicenseType": level.AccountLicenseType, "licensingSource": level.LicensingSource, "msdnLicenseType": level.MsdnLicenseType},
		"user":        map[string]string{"principalName": principal, "subjectKind": "user"},
	}
	pes := []projectEntitlement{}
	for _, g := range groups {
		var pe projectEntitlement
		pe.Group.GroupType, pe.ProjectRef.ID = g.GroupType, g.ProjectID
		pes = append(pes, pe)
	}
	body["projectEntitlements"] = pes
	var res struct {
		IsSuccess       bool             `json:"isSuccess"`
		UserEntitlement *entitlementJSON `json:"userEntitlement"`
		OperationResult *struct {
			Errors []struct {
				Key   any    `json:"key"`
				Value string `json:"value"`
			} `json:"errors"`
		} `json:"operationResult"`
	}
	status, err := send(ctx, c.vsaex, http.MethodPost, locUserEntitlements, "7.1-preview.3", nil, body, "", &res)
	if err != nil {
		return nil, status, describe("add an account", "entitlements-write", err)
	}
	if !res.IsSuccess || res.UserEntitlement == nil {
		var msgs []string
		if res.OperationResult != nil {
			for _, e := range res.OperationResult.Errors {
				msgs = append(msgs, oneLine(e.Value))
			}
		}
		msg := strings.Join(msgs, "; ")
		if strings.Contains(strings.ToLower(msg), "already") {
			return nil, status, fmt.Errorf("%w: %s", ErrAccountExists, msg)
		}
		return nil, status, fmt.Errorf("add an account: the service refused it: %s", msg)
	}
	return res.UserEntitlement.account(), status, nil
}

var locUserEntitlement = uuid.MustParse("8480c6eb-ce60-47e9-88df-eca3c801638b")

// SetAccessLevel changes an account's access level (a JSON patch of
// /accessLevel).
func (c *Client) SetAccessLevel(ctx context.Context, id string, level AccessLevel) (int, error) {
	patch := []map[string]any{{"op": "replace", "path": "/accessLevel", "value": map[string]string{
		"accountLicenseType": level.AccountLicenseType, "licensingSource": level.LicensingSource, "msdnLicenseType": level.MsdnLicenseType}}}
	var res struct {
		IsSuccess        bool `json:"isSuccess"`
		OperationResults []struct {
			Errors []struct {
				Value string `json:"value"`
			} `json:"errors"`
		} `json:"operationResults"`
	}
	status, err := send(ctx, c.vsaex, http.MethodPatch, locUserEntitlement, "7.1-preview.3", map[string]string{"userId": id}, patch, "application/json-patch+json", &res)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return status, err
		}
		return status, describe("change an access level", "entitlements-write", err)
	}
	if !res.IsSuccess {
		var msgs []string
		for _, r := range res.OperationResults {
			for _, e := range r.Errors {
				msgs = append(msgs, oneLine(e.Value))
			}
		}
		return status, fmt.Errorf("change an access level: the service refused it: %s", strings.Join(msgs, "; "))
	}
	return status, nil
}

// RemoveAccount removes a user's entitlement, and with it the user, from
// the organization. An account that is not there answers ErrNotFound.
func (c *Client) RemoveAccount(ctx context.Context, id string) (int, error) {
	status, err := send(ctx, c.vsaex, http.MethodDelete, locUserEntitlement, "7.1-preview.3", map[string]string{"userId": id}, nil, "", nil)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return status, describe("remove an account", "entitlements-write", err)
	}
	return status, err
}

// probeGroup is a syntactically valid group descriptor: a group is never
// a member of itself, so removing it from itself changes nothing anywhere.
const probeGroup = "vssgp.Uy0xLTktMDAwMDAwMDAwMC0wLTAtMC0wLTA"

// CheckWriteAccess finds out, without changing anything, whether the
// credential may write an area: "graph" (memberships) or "entitlements"
// (accounts and access levels). It sends a write that cannot change
// anything (removing a group from itself, patching the entitlement of an
// id no account has): the service checks the scope before the target.
func (c *Client) CheckWriteAccess(ctx context.Context, area string) error {
	var err error
	switch area {
	case "graph":
		_, err = send(ctx, c.graph, http.MethodDelete, locMembership, "7.1-preview.1", membershipRoute(probeGroup, probeGroup), nil, "", nil)
		area = "graph-write"
	case "entitlements":
		_, err = send(ctx, c.vsaex, http.MethodPatch, locUserEntitlement, "7.1-preview.3", map[string]string{"userId": uuid.Nil.String()}, []any{}, "application/json-patch+json", nil)
		area = "entitlements-write"
	default:
		return fmt.Errorf("collect: no write check for %q", area)
	}
	switch status, _ := statusOf(err); status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return describe("check that the credential may make changes", area, err)
	}
	if err != nil && !isAnswer(err) {
		return describe("check that the credential may make changes", area, err)
	}
	return nil
}

// isAnswer reports whether err is the service's answer (any status) rather
// than a failure to get one.
func isAnswer(err error) bool {
	status, _ := statusOf(err)
	return status != 0
}

// HTTPStatus is the HTTP status of a failed call's answer, 0 if none came.
func HTTPStatus(err error) int {
	var ge *GraphError
	if errors.As(err, &ge) {
		return ge.Status
	}
	if errors.Is(err, ErrMissingGraphPermission) {
		return http.StatusForbidden
	}
	status, _ := statusOf(err)
	return status
}

// Transient reports whether a failed write may have had no effect for a
// passing reason (throttling, a server error, a cut connection, no answer
// at all): the item is worth re-reading and the write sending again.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	status := HTTPStatus(err)
	if status == 0 {
		return !errors.Is(err, ErrUnauthorized) && !errors.Is(err, ErrForbidden) && !errors.Is(err, ErrMissingGraphPermission)
	}
	return retryableStatus(status)
}

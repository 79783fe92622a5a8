package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// Microsoft Graph: the members of Microsoft Entra groups, for groups whose
// membership Azure DevOps only mirrors (aadgp. descriptors). Requests go
// through the same transport chain as Azure DevOps ones, with a token for
// Microsoft Graph (MSGraphScope) instead.

// MSGraphScope is the Entra scope of Microsoft Graph application tokens.
const MSGraphScope = "https://graph.microsoft.com/.default"

// DefaultMSGraphURL is Microsoft Graph's v1.0 endpoint.
const DefaultMSGraphURL = "https://graph.microsoft.com/v1.0"

// ErrMissingGraphPermission is Microsoft Graph refusing a membership
// change for want of the application permission.
var ErrMissingGraphPermission = errors.New("missing Microsoft Graph application permission GroupMember.ReadWrite.All (with admin consent)")

// GraphError is an error answer of Microsoft Graph.
type GraphError struct {
	Status        int
	Code, Message string
}

func (e *GraphError) Error() string {
	return fmt.Sprintf("Microsoft Graph answered HTTP %d %s: %s", e.Status, e.Code, oneLine(e.Message))
}

// MSGraph is a connection to Microsoft Graph.
type MSGraph struct {
	base  string
	http  *http.Client
	Stats *Stats
}

// DialMSGraph prepares calls to Microsoft Graph at base (DefaultMSGraphURL,
// or a simulator's) with tokens for MSGraphScope.
func DialMSGraph(base string, tokens TokenSource, opts Options) (*MSGraph, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("Microsoft Graph URL %q: want https://graph.microsoft.com/v1.0", base)
	}
	if tokens == nil {
		return nil, errors.New("Microsoft Graph needs an Entra token: use --auth entra")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base2 := opts.Transport
	if base2 == nil {
		base2 = http.DefaultTransport.(*http.Transport).Clone()
	}
	stats := &Stats{byArea: map[string]int64{}}
	header := func(ctx context.Context) (string, error) {
		tok, err := tokens.Token(ctx)
		if err != nil {
			return "", err
		}
		return "Bearer " + tok, nil
	}
	return &MSGraph{base: strings.TrimRight(base, "/"), http: &http.Client{Transport: newChain(header, stats, opts, log, base2)}, Stats: stats}, nil
}

// call sends one request and returns the status; an error answer comes
// back as a *GraphError (403 as ErrMissingGraphPermission).
func (g *MSGraph) call(ctx context.Context, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := g.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		ge := &GraphError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		if resp.StatusCode == http.StatusForbidden {
			// The whole story in one line: the service's text adds nothing.
			return resp.StatusCode, ErrMissingGraphPermission
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return resp.StatusCode, fmt.Errorf("%w: the Microsoft Graph token was refused: %w", ErrUnauthorized, ge)
		}
		return resp.StatusCode, ge
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("read Microsoft Graph's answer: %w", err)
		}
	}
	return resp.StatusCode, nil
}

// AddGroupMember adds a directory object (user, service principal or
// group, by object id) to an Entra group. Already being a member counts as
// done: changed is false then.
func (g *MSGraph) AddGroupMember(ctx context.Context, groupID, objectID string) (changed bool, status int, err error) {
	ref := map[string]string{"@odata.id": g.base + "/directoryObjects/" + url.PathEscape(objectID)}
	status, err = g.call(ctx, http.MethodPost, "/groups/"+url.PathEscape(groupID)+"/members/$ref", ref, nil)
	var ge *GraphError
	if errors.As(err, &ge) && ge.Status == http.StatusBadRequest && strings.Contains(strings.ToLower(ge.Message), "already exist") {
		return false, status, nil
	}
	return err == nil, status, err
}

// RemoveGroupMember removes a member from an Entra group. Not being a
// member counts as done: changed is false then.
func (g *MSGraph) RemoveGroupMember(ctx context.Context, groupID, objectID string) (changed bool, status int, err error) {
	status, err = g.call(ctx, http.MethodDelete, "/groups/"+url.PathEscape(groupID)+"/members/"+url.PathEscape(objectID)+"/$ref", nil, nil)
	var ge *GraphError
	if errors.As(err, &ge) && ge.Status == http.StatusNotFound {
		return false, status, nil
	}
	return err == nil, status, err
}

// IsGroupMember reads live whether objectID is a direct member of an
// Entra group, paging through its members.
func (g *MSGraph) IsGroupMember(ctx context.Context, groupID, objectID string) (bool, error) {
	next := "/groups/" + url.PathEscape(groupID) + "/members?$top=999&$select=id"
	for next != "" {
		var page struct {
			NextLink string `json:"@odata.nextLink"`
			Value    []struct {
				ID string `json:"id"`
			} `json:"value"`
		}
		if _, err := g.call(ctx, http.MethodGet, next, nil, &page); err != nil {
			return false, fmt.Errorf("list the members of Entra group %s: %w", groupID, err)
		}
		for _, m := range page.Value {
			if strings.EqualFold(m.ID, objectID) {
				return true, nil
			}
		}
		next = strings.TrimPrefix(page.NextLink, g.base)
		if next != "" && !strings.HasPrefix(next, "/") {
			return false, fmt.Errorf("list the members of Entra group %s: a next link outside %s", groupID, g.base)
		}
	}
	return false, nil
}

// CheckWriteAccess finds out, without changing anything, whether the
// token may change group members: it asks to add a member to a group that
// does not exist (the permission is checked first).
func (g *MSGraph) CheckWriteAccess(ctx context.Context) error {
	const none = "00000000-0000-0000-0000-000000000000"
	_, _, err := g.AddGroupMember(ctx, none, none)
	var ge *GraphError
	if err == nil || (errors.As(err, &ge) && ge.Status != http.StatusUnauthorized) {
		return nil // any answer but a refusal: the permission is there
	}
	return err
}

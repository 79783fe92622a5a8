package collect

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
)

// DefaultAccountsURL is where the service lists a person's organizations.
const DefaultAccountsURL = "https://app.vssps.visualstudio.com"

// OrgRef is an organization the credential can see.
type OrgRef struct {
	ID   string `json:"id"`   // the organization's id (accountId; connectionData's instanceId)
	Name string `json:"name"` // accountName
	URL  string `json:"url"`  // where its Core API lives: https://dev.azure.com/{name}
	// Err is why its URL could not be found (the organization failing):
	// the others are listed all the same.
	Err error `json:"-"`
}

// Location ids of the Profile and Accounts APIs, and the Core area.
var (
	locProfile  = uuid.MustParse("f83735dc-483f-4238-a291-d45f6080a9af")
	locAccounts = uuid.MustParse("229a6a53-b428-4ffb-a835-e8f36b5b4b1e")
	locAreas    = uuid.MustParse("e81700f7-3be2-46de-8624-2eb35882fcaa")
)

// ListOrganizations lists every organization the credential belongs to, as
// the service answers it: who the credential is (Profile, profiles/me),
// the organizations of that member (Accounts, memberId), and each one's URL
// from its own resource areas (the Core area's location), so that sovereign
// clouds and servers work as the public cloud does. Sorted by name.
func ListOrganizations(ctx context.Context, accountsURL string, cred Credential, opts Options) ([]OrgRef, error) {
	u, err := url.Parse(accountsURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("accounts URL: want %s (the service that lists organizations), without credentials", DefaultAccountsURL)
	}
	hc, _, opts, err := newHTTP(cred, opts)
	if err != nil {
		return nil, err
	}
	conn := &azuredevops.Connection{BaseUrl: strings.TrimRight(accountsURL, "/"), SuppressFedAuthRedirect: true, UserAgent: "ado-access"}
	at := func(base string) *azuredevops.Client {
		return azuredevops.NewClientWithOptions(conn, strings.TrimRight(base, "/"), azuredevops.WithHTTPClient(hc))
	}
	app := at(accountsURL)
	var me struct {
		ID string `json:"id"`
	}
	if err := sendJSON(ctx, app, http.MethodGet, locProfile, "7.1-preview.3", map[string]string{"id": "me"}, nil, &me); err != nil {
		return nil, describe("find who the credential is (Profile API)", "profile", err)
	}
	var list struct {
		Value []struct {
			AccountID   string `json:"accountId"`
			AccountName string `json:"accountName"`
			AccountURI  string `json:"accountUri"`
		} `json:"value"`
	}
	if err := sendJSON(ctx, app, http.MethodGet, locAccounts, "7.1-preview.1", nil, url.Values{"memberId": {me.ID}}, &list); err != nil {
		return nil, describe("list the credential's organizations (Accounts API)", "profile", err)
	}
	out := make([]OrgRef, len(list.Value))
	err = forEach(ctx, opts.Concurrency, indexes(len(list.Value)), func(ctx context.Context, i int) error {
		a := list.Value[i]
		var areas struct {
			Value []struct {
				LocationURL string `json:"locationUrl"`
			} `json:"value"`
		}
		out[i] = OrgRef{ID: strings.ToLower(a.AccountID), Name: a.AccountName}
		if err := sendJSON(ctx, at(a.AccountURI), http.MethodGet, locAreas, "7.1-preview.1", map[string]string{"areaId": areaCore.String()}, nil, &areas); err != nil {
			out[i].Err = describe("find where organization "+a.AccountName+" lives", "", err)
			return nil // one organization failing does not hide the others
		}
		orgURL := ""
		if len(areas.Value) > 0 {
			orgURL = strings.TrimRight(areas.Value[0].LocationURL, "/")
		}
		if orgURL == "" { // a server without resource areas: the collection is the account
			orgURL = strings.TrimRight(a.AccountURI, "/")
		}
		out[i].URL = strings.ToLower(orgURL)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, nil
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// MatchOrgs picks organizations by what --org says: "all", or a
// comma-separated list of names, URLs or globs ("contoso-*"). It reports the
// patterns that matched nothing.
func MatchOrgs(orgs []OrgRef, selector string) (picked []OrgRef, unmatched []string) {
	if strings.EqualFold(strings.TrimSpace(selector), "all") {
		return orgs, nil
	}
	seen := map[string]bool{}
	for _, pat := range strings.Split(selector, ",") {
		pat = strings.ToLower(strings.TrimSpace(strings.TrimRight(pat, "/")))
		if pat == "" {
			continue
		}
		hit := false
		for _, o := range orgs {
			name := strings.ToLower(o.Name)
			ok, _ := path.Match(pat, name)
			if ok || pat == o.URL || pat == strings.ToLower(o.ID) {
				hit = true
				if !seen[o.ID] {
					seen[o.ID] = true
					picked = append(picked, o)
				}
			}
		}
		if !hit {
			unmatched = append(unmatched, pat)
		}
	}
	return picked, unmatched
}

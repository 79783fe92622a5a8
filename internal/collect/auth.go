package collect

import (
	"context"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// AzureDevOpsScope is the Entra scope of Azure DevOps access tokens.
const AzureDevOpsScope = "499b84ac-1321-427f-aa17-267ca6975798/.default"

// EntraTokens turns an azidentity credential (client secret, workload
// identity, managed identity, …) into a TokenSource for Azure DevOps. Tokens
// last about an hour; a new one is fetched five minutes before expiry.
func EntraTokens(cred azcore.TokenCredential) TokenSource {
	return EntraTokensFor(cred, AzureDevOpsScope)
}

// EntraTokensFor is EntraTokens for another resource's scope, such as
// MSGraphScope.
func EntraTokensFor(cred azcore.TokenCredential, scope string) TokenSource {
	return &entraTokens{cred: cred, scope: scope}
}

type entraTokens struct {
	cred  azcore.TokenCredential
	scope string
	mu    sync.Mutex
	tok   azcore.AccessToken
}

func (e *entraTokens) Token(ctx context.Context) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tok.Token != "" && time.Until(e.tok.ExpiresOn) > 5*time.Minute {
		return e.tok.Token, nil
	}
	tok, err := e.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{e.scope}})
	if err != nil {
		return "", err
	}
	e.tok = tok
	return tok.Token, nil
}

// StaticToken is a bearer token given as is (for example ADO_BEARER_TOKEN
// from a pipeline); it is not refreshed.
type StaticToken string

func (t StaticToken) Token(context.Context) (string, error) { return string(t), nil }

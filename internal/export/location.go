package export

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// BlobOptions tune the Azure Blob sink. The zero value is what the
// exporter uses.
type BlobOptions struct {
	BlockSize   int64 // bytes per block (default 4 MiB)
	Concurrency int   // blocks in flight per file (default 4)
	// Retry is the client's retry policy; zero fields take the defaults
	// below.
	Retry policy.RetryOptions
	// Transport replaces the HTTP client (tests inject faults with it).
	Transport policy.Transporter
	// Credential replaces azidentity's DefaultAzureCredential.
	Credential azcore.TokenCredential
}

// The environment variables a blob location reads.
const (
	EnvConnectionString = "AZURE_STORAGE_CONNECTION_STRING"
	EnvSASToken         = "AZURE_STORAGE_SAS_TOKEN"
)

// IsBlobLocation reports whether --to names Azure Blob Storage rather than
// a folder.
func IsBlobLocation(to string) bool {
	return strings.HasPrefix(to, "azblob://") || strings.HasPrefix(to, "https://") || strings.HasPrefix(to, "http://")
}

// OpenSink opens the sink a location names:
//
//   - a folder path: a LocalSink;
//   - https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX: Azure Blob
//     Storage, authenticated with the SAS in the URL's query, else
//     AZURE_STORAGE_SAS_TOKEN, else AZURE_STORAGE_CONNECTION_STRING when it
//     names the same account, else azidentity's DefaultAzureCredential
//     (client secret, workload identity, managed identity, Azure CLI);
//     http(s)://HOST:PORT/ACCOUNT/CONTAINER/PREFIX (an emulator's
//     path-style URL) likewise;
//   - azblob://CONTAINER/PREFIX: the account of
//     AZURE_STORAGE_CONNECTION_STRING.
//
// getenv reads the environment. Nothing here prints or returns a secret.
func OpenSink(ctx context.Context, to string, getenv func(string) string, opts BlobOptions) (Sink, error) {
	if to == "" {
		return nil, fmt.Errorf("no location")
	}
	if !IsBlobLocation(to) {
		return NewLocalSink(to), nil
	}
	red := &redactor{}
	copts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: retryPolicy(opts.Retry)}}
	if opts.Transport != nil {
		copts.Transport = opts.Transport
	}
	if rest, ok := strings.CutPrefix(to, "azblob://"); ok {
		cs := getenv(EnvConnectionString)
		if cs == "" {
			return nil, fmt.Errorf("%s needs %s", redactURL(to), EnvConnectionString)
		}
		red.add(cs)
		cparts := parseConnectionString(cs)
		red.add(cparts["accountkey"], cparts["sharedaccesssignature"])
		ctr, prefix, _ := strings.Cut(rest, "/")
		if ctr == "" {
			return nil, fmt.Errorf("%s: want azblob://CONTAINER/PREFIX", to)
		}
		c, err := container.NewClientFromConnectionString(cs, ctr, copts)
		if err != nil {
			return nil, fmt.Errorf("%s: connection string in %s: %s", to, EnvConnectionString, red.redact(err.Error()))
		}
		where := "azblob://" + ctr + "/" + strings.Trim(prefix, "/")
		if a := cparts["accountname"]; a != "" {
			where += " (account " + a + ")"
		}
		return newBlobSink(c, prefix, where, red, opts), nil
	}

	u, err := url.Parse(to)
	if err != nil {
		return nil, fmt.Errorf("location %s: %s", redactURL(to), red.redact(err.Error()))
	}
	sas := u.RawQuery
	u.RawQuery, u.Fragment = "", ""
	if sas == "" {
		sas = strings.TrimPrefix(getenv(EnvSASToken), "?")
	}
	red.add(sas)
	if q, err := url.ParseQuery(sas); err == nil {
		red.add(q.Get("sig"))
	}
	account, ctr, prefix, serviceURL, err := splitBlobURL(u)
	if err != nil {
		return nil, err
	}
	containerURL := serviceURL + "/" + ctr
	where := containerURL + "/" + prefix
	var c *container.Client
	cs := getenv(EnvConnectionString)
	cparts := parseConnectionString(cs)
	switch {
	case sas != "":
		c, err = container.NewClientWithNoCredential(containerURL+"?"+sas, copts)
	case cs != "" && strings.EqualFold(cparts["accountname"], account):
		red.add(cs, cparts["accountkey"], cparts["sharedaccesssignature"])
		c, err = container.NewClientFromConnectionString(cs, ctr, copts)
	default:
		cred := opts.Credential
		if cred == nil {
			cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
				ClientOptions: azcore.ClientOptions{Transport: opts.Transport},
			})
			if err != nil {
				return nil, fmt.Errorf("%s: no credential: %s", where, red.redact(err.Error()))
			}
		}
		c, err = container.NewClient(containerURL, cred, copts)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s", where, red.redact(err.Error()))
	}
	return newBlobSink(c, prefix, where, red, opts), nil
}

// splitBlobURL takes a blob URL apart: virtual-host style
// (https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX), or path style
// for an IP address or localhost (http://127.0.0.1:10000/ACCOUNT/CONTAINER/PREFIX).
func splitBlobURL(u *url.URL) (account, ctr, prefix, serviceURL string, err error) {
	parts := splitPath(u.Path)
	host := u.Hostname()
	pathStyle := host == "localhost" || net.ParseIP(host) != nil
	if pathStyle {
		if len(parts) < 2 {
			return "", "", "", "", fmt.Errorf("%s: want %s://HOST:PORT/ACCOUNT/CONTAINER/PREFIX", u.Redacted(), u.Scheme)
		}
		account, parts = parts[0], parts[1:]
		serviceURL = u.Scheme + "://" + u.Host + "/" + account
	} else {
		account, _, _ = strings.Cut(host, ".")
		serviceURL = u.Scheme + "://" + u.Host
	}
	if len(parts) == 0 {
		return "", "", "", "", fmt.Errorf("%s: no container; want https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX", serviceURL)
	}
	return account, parts[0], strings.Join(parts[1:], "/"), serviceURL, nil
}

func parseConnectionString(cs string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(cs, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			out[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	return out
}

func retryPolicy(r policy.RetryOptions) policy.RetryOptions {
	if r.MaxRetries == 0 {
		r.MaxRetries = 5
	}
	if r.RetryDelay == 0 {
		r.RetryDelay = time.Second
	}
	if r.MaxRetryDelay == 0 {
		r.MaxRetryDelay = 30 * time.Second
	}
	if r.TryTimeout == 0 {
		r.TryTimeout = 5 * time.Minute
	}
	return r
}

// redactURL drops a URL's query (where a SAS lives) and user info.
func redactURL(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return s
}

// redactor removes known secrets, and anything that looks like a SAS
// signature, from text bound for errors and logs.
type redactor struct{ secrets []string }

func (r *redactor) add(secrets ...string) {
	for _, s := range secrets {
		if len(s) >= 4 {
			r.secrets = append(r.secrets, s)
		}
	}
}

func (r *redactor) redact(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "REDACTED")
		if esc := url.QueryEscape(sec); esc != sec {
			s = strings.ReplaceAll(s, esc, "REDACTED")
		}
	}
	return redactQueries(s)
}

// redactQueries cuts the query off every URL in s.
func redactQueries(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + 3 + strings.IndexAny(s[i+3:]+" ", " \t\n\"'")
		u := s[:end]
		if q := strings.IndexByte(u[i:], '?'); q >= 0 {
			u = u[:i+q] + "?REDACTED"
		}
		b.WriteString(u)
		s = s[end:]
	}
}

// SplitManifestLocation splits a location that names a warehouse
// manifest folder (ROOT/_manifests/org=X/snapshot_date=D) into the
// warehouse root and that folder, relative to it. Any other location comes
// back whole, with dir "".
func SplitManifestLocation(loc string) (root, dir string) {
	base, query, hasQuery := strings.Cut(loc, "?")
	i := strings.Index(base, "/_manifests/")
	switch {
	case i >= 0:
		root, dir = base[:i], base[i+1:]
	case strings.HasPrefix(base, "_manifests/"):
		root, dir = ".", base
	default:
		return loc, ""
	}
	if root == "" {
		root = "/"
	}
	if hasQuery {
		root += "?" + query
	}
	return root, strings.Trim(dir, "/")
}

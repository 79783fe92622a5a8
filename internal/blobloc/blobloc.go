// Package blobloc turns a location in Azure Blob Storage, as people write
// it on a command line or in a schedule file, into an authenticated
// container client and the path inside that container:
//
//   - https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH, authenticated
//     with the SAS in the URL's query, else AZURE_STORAGE_SAS_TOKEN, else
//     AZURE_STORAGE_CONNECTION_STRING when it names the same account, else
//     azidentity's DefaultAzureCredential (client secret, workload
//     identity, managed identity, Azure CLI);
//   - http(s)://HOST:PORT/ACCOUNT/CONTAINER/PATH, an emulator's path-style
//     URL (host an IP address or localhost), likewise;
//   - azblob://CONTAINER/PATH: the account of AZURE_STORAGE_CONNECTION_STRING.
//
// Export sinks and the scheduler's state store both use it, so a location
// means the same everywhere. Nothing here prints or returns a secret:
// Location.Where and every error are safe to show.
package blobloc

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

// The environment variables a location reads.
const (
	EnvConnectionString = "AZURE_STORAGE_CONNECTION_STRING"
	EnvSASToken         = "AZURE_STORAGE_SAS_TOKEN"
)

// Options tune the client. The zero value is what the exporter uses.
type Options struct {
	// Retry is the client's retry policy; zero fields take defaults
	// (5 retries, 1 s to 30 s apart, 5 minutes per try).
	Retry policy.RetryOptions
	// Transport replaces the HTTP client (tests inject faults with it).
	Transport policy.Transporter
	// Credential replaces azidentity's DefaultAzureCredential.
	Credential azcore.TokenCredential
}

// Is reports whether loc names Azure Blob Storage rather than a local path.
func Is(loc string) bool {
	return strings.HasPrefix(loc, "azblob://") || strings.HasPrefix(loc, "https://") || strings.HasPrefix(loc, "http://")
}

// A Location is an authenticated container and a path inside it.
type Location struct {
	Container *container.Client
	// Path is the blob name or prefix inside the container, without
	// slashes at either end ("" for the container's root).
	Path string
	// Where says where this is, for people, without secrets:
	// "https://acme.blob.core.windows.net/reviews/q4" or
	// "azblob://reviews/q4 (account acme)".
	Where string
	red   *Redactor
}

// Redact removes the location's secrets, and anything that looks like a
// SAS, from text bound for an error or a log.
func (l *Location) Redact(s string) string { return l.red.Redact(s) }

// Open parses loc and builds its container client; getenv reads the
// environment. It sends no request.
func Open(ctx context.Context, loc string, getenv func(string) string, opts Options) (*Location, error) {
	if !Is(loc) {
		return nil, fmt.Errorf("%s: not a blob location (want https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH or azblob://CONTAINER/PATH)", RedactURL(loc))
	}
	red := &Redactor{}
	copts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: retryPolicy(opts.Retry)}}
	if opts.Transport != nil {
		copts.Transport = opts.Transport
	}
	if rest, ok := strings.CutPrefix(loc, "azblob://"); ok {
		cs := getenv(EnvConnectionString)
		if cs == "" {
			return nil, fmt.Errorf("%s needs %s", RedactURL(loc), EnvConnectionString)
		}
		red.Add(cs)
		cparts := parseConnectionString(cs)
		red.Add(cparts["accountkey"], cparts["sharedaccesssignature"])
		ctr, path, _ := strings.Cut(rest, "/")
		if ctr == "" {
			return nil, fmt.Errorf("%s: want azblob://CONTAINER/PATH", RedactURL(loc))
		}
		c, err := container.NewClientFromConnectionString(cs, ctr, copts)
		if err != nil {
			return nil, fmt.Errorf("%s: connection string in %s: %s", RedactURL(loc), EnvConnectionString, red.Redact(err.Error()))
		}
		path = strings.Trim(path, "/")
		where := "azblob://" + ctr + "/" + path
		if a := cparts["accountname"]; a != "" {
			where += " (account " + a + ")"
		}
		return &Location{Container: c, Path: path, Where: where, red: red}, nil
	}

	u, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("location %s: %s", RedactURL(loc), red.Redact(err.Error()))
	}
	sas := u.RawQuery
	u.RawQuery, u.Fragment = "", ""
	if sas == "" {
		sas = strings.TrimPrefix(getenv(EnvSASToken), "?")
	}
	red.Add(sas)
	if q, err := url.ParseQuery(sas); err == nil {
		red.Add(q.Get("sig"))
	}
	account, ctr, path, serviceURL, err := splitBlobURL(u)
	if err != nil {
		return nil, err
	}
	containerURL := serviceURL + "/" + ctr
	where := containerURL + "/" + path
	var c *container.Client
	cs := getenv(EnvConnectionString)
	cparts := parseConnectionString(cs)
	switch {
	case sas != "":
		c, err = container.NewClientWithNoCredential(containerURL+"?"+sas, copts)
	case cs != "" && strings.EqualFold(cparts["accountname"], account):
		red.Add(cs, cparts["accountkey"], cparts["sharedaccesssignature"])
		c, err = container.NewClientFromConnectionString(cs, ctr, copts)
	default:
		cred := opts.Credential
		if cred == nil {
			cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
				ClientOptions: azcore.ClientOptions{Transport: opts.Transport},
			})
			if err != nil {
				return nil, fmt.Errorf("%s: no credential: %s", where, red.Redact(err.Error()))
			}
		}
		c, err = container.NewClient(containerURL, cred, copts)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s", where, red.Redact(err.Error()))
	}
	return &Location{Container: c, Path: path, Where: where, red: red}, nil
}

// splitBlobURL takes a blob URL apart: virtual-host style
// (https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH), or path style
// for an IP address or localhost (http://127.0.0.1:10000/ACCOUNT/CONTAINER/PATH).
func splitBlobURL(u *url.URL) (account, ctr, path, serviceURL string, err error) {
	parts := splitPath(u.Path)
	host := u.Hostname()
	pathStyle := host == "localhost" || net.ParseIP(host) != nil
	if pathStyle {
		if len(parts) < 2 {
			return "", "", "", "", fmt.Errorf("%s: want %s://HOST:PORT/ACCOUNT/CONTAINER/PATH", u.Redacted(), u.Scheme)
		}
		account, parts = parts[0], parts[1:]
		serviceURL = u.Scheme + "://" + u.Host + "/" + account
	} else {
		account, _, _ = strings.Cut(host, ".")
		serviceURL = u.Scheme + "://" + u.Host
	}
	if len(parts) == 0 {
		return "", "", "", "", fmt.Errorf("%s: no container; want https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH", serviceURL)
	}
	return account, parts[0], strings.Join(parts[1:], "/"), serviceURL, nil
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" && s != "." {
			out = append(out, s)
		}
	}
	return out
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

// RedactURL drops a URL's query (where a SAS lives), fragment and user
// info.
func RedactURL(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return s
}

// A Redactor removes known secrets, and the query of every URL (where a
// SAS signature lives), from text bound for errors and logs.
type Redactor struct{ secrets []string }

// Add registers secrets; strings shorter than 4 bytes are ignored (they
// would blank out ordinary words).
func (r *Redactor) Add(secrets ...string) {
	for _, s := range secrets {
		if len(s) >= 4 {
			r.secrets = append(r.secrets, s)
		}
	}
}

// Redact returns s without the registered secrets (plain or
// query-escaped) and without URL queries.
func (r *Redactor) Redact(s string) string {
	if r != nil {
		for _, sec := range r.secrets {
			s = strings.ReplaceAll(s, sec, "REDACTED")
			if esc := url.QueryEscape(sec); esc != sec {
				s = strings.ReplaceAll(s, esc, "REDACTED")
			}
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

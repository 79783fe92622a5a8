package export

import (
	"context"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/ado-access/ado-access/internal/blobloc"
)

// BlobOptions tune the Azure Blob sink. The zero value is what the
// exporter uses.
type BlobOptions struct {
	BlockSize   int64 // bytes per block (default 4 MiB)
	Concurrency int   // blocks in flight per file (default 4)
	// Retry is the client's retry policy; zero fields take blobloc's
	// defaults.
	Retry policy.RetryOptions
	// Transport replaces the HTTP client (tests inject faults with it).
	Transport policy.Transporter
	// Credential replaces azidentity's DefaultAzureCredential.
	Credential azcore.TokenCredential
}

// The environment variables a blob location reads.
const (
	EnvConnectionString = blobloc.EnvConnectionString
	EnvSASToken         = blobloc.EnvSASToken
)

// IsBlobLocation reports whether --to names Azure Blob Storage rather than
// a folder.
func IsBlobLocation(to string) bool { return blobloc.Is(to) }

// OpenSink opens the sink a location names: a folder path is a LocalSink;
// a blob location (see package blobloc for the forms and how each
// authenticates) is a BlobSink on that prefix. getenv reads the
// environment. Nothing here prints or returns a secret.
func OpenSink(ctx context.Context, to string, getenv func(string) string, opts BlobOptions) (Sink, error) {
	if to == "" {
		return nil, fmt.Errorf("no location")
	}
	if !IsBlobLocation(to) {
		return NewLocalSink(to), nil
	}
	loc, err := blobloc.Open(ctx, to, getenv, blobloc.Options{Retry: opts.Retry, Transport: opts.Transport, Credential: opts.Credential})
	if err != nil {
		return nil, err
	}
	return newBlobSink(loc, opts), nil
}

// SplitManifestLocation splits a location that names a warehouse
// manifest folder (ROOT/_manifests/org=X/org_id=I/snapshot_date=D[/run=R]) into the
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

package review

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ado-access/ado-access/internal/export"
)

// maxFetchFiles bounds the files fetched of a campaign in blob storage.
const maxFetchFiles = 100_000

// Fetch copies a campaign from a sink (a blob prefix) into a temporary
// folder, for status and apply to read as a local one; cleanup removes it.
func Fetch(ctx context.Context, sink export.Sink) (dir string, cleanup func(), err error) {
	names, err := sink.List(ctx, "")
	if err != nil {
		return "", nil, err
	}
	if len(names) > maxFetchFiles {
		return "", nil, fmt.Errorf("%s holds %d files, over the %d a campaign may have", sink, len(names), maxFetchFiles)
	}
	dir, err = os.MkdirTemp("", "review-campaign-*")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	for _, n := range names {
		if !fs.ValidPath(n) {
			cleanup()
			return "", nil, fmt.Errorf("%s: file name %q is not a plain path", sink, n)
		}
		if err := fetchFile(ctx, sink, n, filepath.Join(dir, filepath.FromSlash(n))); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	return dir, cleanup, nil
}

func fetchFile(ctx context.Context, sink export.Sink, name, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	rc, err := sink.Open(ctx, name)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("fetch %s: %w", name, err)
	}
	return f.Close()
}

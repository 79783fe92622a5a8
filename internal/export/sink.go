package export

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// A Sink is where an export goes: a local folder or a prefix in an Azure
// Blob Storage container. Names are slash-separated paths relative to the
// sink's root ("accounts.csv", "accounts/org=x/snapshot_date=…/part-00000.parquet").
//
// The contract, which every export relies on and every implementation
// keeps:
//
//   - A file is visible under its name only once complete. Create returns a
//     file to write; Commit makes its content visible in one step, replacing
//     what the name held; Abort, or an error, leaves the name as it was.
//     No reader ever sees half a file.
//   - The manifest or _SUCCESS is written last. An export first removes its
//     old manifest and marker, then writes its data files, removes the files
//     of an earlier run that it no longer writes, and commits the manifest
//     (and _SUCCESS) only after every file it lists is committed. A reader
//     that finds a manifest finds every file it lists.
//   - Re-running replaces, never duplicates. Exports write fixed names (no
//     timestamps or random parts), so running the same export again
//     overwrites the same files.
//   - Large files go up in blocks with retries (Azure Blob); the local
//     folder fsyncs each file before renaming it into place, and the folder
//     after.
//   - Secrets never appear in String, errors or logs.
type Sink interface {
	// Create starts writing the file name.
	Create(ctx context.Context, name string) (SinkFile, error)
	// Open reads the file name; a missing file is an error wrapping
	// fs.ErrNotExist.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// List returns the names of the files under prefix (a folder, "" for
	// the whole sink), sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes the file name; a missing file is not an error.
	Delete(ctx context.Context, name string) error
	// String says where the sink is, for people, without secrets.
	String() string
}

// A SinkFile is a file being written. Exactly one of Commit and Abort ends
// it.
type SinkFile interface {
	io.Writer
	// Commit makes everything written visible under the file's name.
	Commit() error
	// Abort discards what was written.
	Abort()
}

// checkName rejects names that would leave the sink or that no sink can
// hold: empty, absolute, with empty, "." or ".." segments, or backslashes.
func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, `\`) {
		return fmt.Errorf("file name %q: want a relative slash-separated path", name)
	}
	for _, p := range strings.Split(name, "/") {
		if p == "" || p == "." || p == ".." {
			return fmt.Errorf("file name %q: empty, '.' or '..' segment", name)
		}
	}
	return nil
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

// writeFile writes one whole file through the sink.
func writeFile(ctx context.Context, s Sink, name string, body []byte) error {
	f, err := s.Create(ctx, name)
	if err != nil {
		return err
	}
	if _, err := f.Write(body); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", name, err)
	}
	return f.Commit()
}

// readFile reads one whole file through the sink.
func readFile(ctx context.Context, s Sink, name string) ([]byte, error) {
	return readFileLimit(ctx, s, name, -1)
}

// readFileLimit reads one whole file of at most limit bytes (-1: no limit).
func readFileLimit(ctx context.Context, s Sink, name string, limit int64) ([]byte, error) {
	r, err := s.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if limit < 0 {
		return io.ReadAll(r)
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err == nil && int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d MiB: not a file this exporter wrote", name, limit>>20)
	}
	return b, err
}

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
//     file to write; Stage ends the writing and stores the content durably
//     but out of sight (local: fsynced under a temporary name; Azure Blob:
//     every block staged, no block list committed); Commit makes it visible
//     in one short step, replacing what the name held. Abort, or an error,
//     leaves the name as it was. No reader ever sees half a file.
//   - Publication comes last. A reader finds an export through its
//     manifest (and a warehouse partition's _SUCCESS), which is committed
//     only after every file it lists; what an export replaces is removed
//     only after that.
//   - A warehouse export writes each run's data under names of its own
//     (part-{run}-{n}.parquet) beside the previous run's, then replaces the
//     manifest and _SUCCESS, then removes the previous run's files. A crash
//     leaves the previous run complete under its manifest, or the new run
//     complete under its manifest plus files of the previous run, which the
//     next export of the partition removes; a reader who selects the
//     manifest's run (every table has run_id) never sees two runs.
//   - A packet keeps fixed names ({table}.csv, packet.xlsx: reviewers and
//     'exporter apply' find them by name), so it stages every file first,
//     with the earlier packet at the same place untouched and complete;
//     only then does it remove the old manifest, commit the staged files
//     (a rename or a block list each), remove the old packet's other files
//     and commit the new manifest. A crash while staging (nearly all of an
//     export's time) leaves the old packet complete; a crash while
//     committing leaves no manifest, which readers refuse as incomplete,
//     until the next export.
//   - Re-running replaces, never duplicates: the same export writes the
//     same names again (a packet's fixed names; a run's parts), and
//     removes what an earlier one left.
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
// it; Stage may come before either.
type SinkFile interface {
	io.Writer
	// Stage ends the writing: the content is stored durably but not
	// visible under the file's name yet.
	Stage() error
	// Commit makes everything written visible under the file's name
	// (staging it first if Stage was not called).
	Commit() error
	// Abort discards what was written, staged or not.
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

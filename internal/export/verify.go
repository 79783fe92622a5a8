package export

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/ado-access/ado-access/internal/seal"
)

// Report is what Verify found.
type Report struct {
	Manifest *Manifest
	Checked  int      // files read and compared
	Problems []string // each mismatch or missing file, in words
	// Unlisted are files beside the export's own that the manifest does
	// not list (left by hand, or by an interrupted run): worth a look, not
	// a failure.
	Unlisted []string
	// Signed: manifest.json.sig is there. SignatureChecked: it was checked
	// against VerifyOptions.Key and matches. SignatureProblem says why
	// not, when a key was given.
	Signed, SignatureChecked bool
	SignatureProblem         string
}

// VerifyOptions are what VerifyWith checks beyond the hashes.
type VerifyOptions struct {
	// Key, if set, is the signer's public key: the manifest must carry a
	// signature (manifest.json.sig) that it verifies.
	Key ed25519.PublicKey
}

// OK reports whether every file matched.
func (r *Report) OK() bool { return len(r.Problems) == 0 && r.SignatureProblem == "" }

// ErrNoManifest means the location holds no manifest.json: not an export,
// or one still being written (or that failed).
var ErrNoManifest = errors.New("no manifest.json")

// Verify checks an export against its manifest, which lies in the folder
// dir of sink ("" for a packet at the sink's root): every file it lists
// must exist with its size, SHA-256 and row count (CSV records after the
// header; Parquet rows from the footer), and a warehouse export must have
// its _SUCCESS marker.
func Verify(ctx context.Context, sink Sink, dir string) (*Report, error) {
	return VerifyWith(ctx, sink, dir, VerifyOptions{})
}

// VerifyWith is Verify that also checks the manifest's signature when
// opts.Key is set: the signature of the very bytes whose files were checked.
func VerifyWith(ctx context.Context, sink Sink, dir string, opts VerifyOptions) (*Report, error) {
	mpath := path.Join(dir, ManifestName)
	b, err := readFileLimit(ctx, sink, mpath, maxManifest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s", ErrNoManifest, sink)
	}
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(b)
	if err != nil {
		return nil, err
	}
	rep := &Report{Manifest: m}
	if m.Root != "" && dir == "" {
		return nil, fmt.Errorf("the manifest at %s belongs %s above it: verify the warehouse root with its manifest folder", sink, m.Root)
	}
	if err := rep.checkSignature(ctx, sink, path.Join(dir, seal.SignatureName(ManifestName)), b, opts.Key); err != nil {
		return nil, err
	}
	for _, p := range m.inconsistencies() {
		rep.Problems = append(rep.Problems, ManifestName+": "+p)
	}
	for _, f := range m.Files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := m.filePath(dir, f.Path)
		if problem, err := verifyFile(ctx, sink, p, f); err != nil {
			return nil, err
		} else if problem != "" {
			rep.Problems = append(rep.Problems, f.Path+": "+problem)
		}
		rep.Checked++
	}
	if m.Kind == "warehouse" {
		r, err := sink.Open(ctx, path.Join(dir, SuccessName))
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			rep.Problems = append(rep.Problems, SuccessName+": missing")
		} else {
			r.Close()
		}
	}
	if err := rep.unlisted(ctx, sink, dir, m); err != nil {
		return nil, err
	}
	return rep, nil
}

// maxSignature bounds what is read of a signature file (Ed25519: 64 bytes).
const maxSignature = 1 << 10

// checkSignature reads the manifest's signature, if any, and checks it
// against key (nil: only notes whether there is one).
func (rep *Report) checkSignature(ctx context.Context, sink Sink, name string, manifest []byte, key ed25519.PublicKey) error {
	sig, err := readFileLimit(ctx, sink, name, maxSignature)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if key != nil {
			rep.SignatureProblem = seal.SignatureName(ManifestName) + " is missing: the manifest is not signed"
		}
		return nil
	case err != nil:
		return err
	}
	rep.Signed = true
	if key == nil {
		return nil
	}
	if err := seal.Verify(key, manifest, sig); err != nil {
		rep.SignatureProblem = fmt.Sprintf("%s: %v (key %s)", seal.SignatureName(ManifestName), err, seal.Fingerprint(key))
		return nil
	}
	rep.SignatureChecked = true
	return nil
}

// inconsistencies are what the manifest says against itself: each table's
// row count n against the rows of its files (which Verify counts) and of
// its workbook sheets, and the organization's name against its URL. The
// manifest lists the files' hashes but has none of its own: an edit of a
// field no file confirms would go unnoticed otherwise.
func (m *Manifest) inconsistencies() []string {
	var out []string
	if m.Org != "" && m.OrgName != OrgName(m.Org) {
		out = append(out, fmt.Sprintf("org_name %q is not the name in org %s", m.OrgName, m.Org))
	}
	for _, t := range m.Tables {
		byFormat := map[string]int64{}
		for _, f := range m.Files {
			if f.Table == t.Name && (f.Format == FormatCSV || f.Format == FormatParquet) {
				byFormat[f.Format] += f.Rows
			}
			if f.Format == FormatXLSX {
				var n int64
				found := false
				for sh, rows := range f.Sheets {
					if sh == t.Name || (strings.HasPrefix(sh, t.Name+" (") && strings.HasSuffix(sh, ")")) {
						n, found = n+rows, true
					}
				}
				if found {
					byFormat[f.Format] += n
				}
			}
		}
		formats := make([]string, 0, len(byFormat))
		for f := range byFormat {
			formats = append(formats, f)
		}
		slices.Sort(formats)
		for _, f := range formats {
			if byFormat[f] != t.N {
				out = append(out, fmt.Sprintf("table %s has %d rows (n), but its %s rows are %d", t.Name, t.N, f, byFormat[f]))
			}
		}
	}
	return out
}

// verifyFile compares one file with its manifest entry; the problem is ""
// when it matches.
func verifyFile(ctx context.Context, sink Sink, name string, f File) (string, error) {
	r, err := sink.Open(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return "missing", nil
	}
	if err != nil {
		return "", err
	}
	defer r.Close()
	h := sha256.New()
	var n int64
	var rows int64 = -1
	// Read no more than the manifest promises (and one byte to tell a
	// longer file): junk put in a packet costs its declared size at most.
	counted := io.TeeReader(io.LimitReader(r, f.Bytes+1), writerFunc(func(p []byte) (int, error) {
		h.Write(p)
		n += int64(len(p))
		return len(p), nil
	}))
	var readErr error
	switch f.Format {
	case FormatCSV:
		rows, readErr = countCSV(counted)
	case FormatParquet:
		rows, readErr = countParquet(counted)
	default:
		_, readErr = io.Copy(io.Discard, counted)
	}
	if readErr != nil {
		if _, err := io.Copy(io.Discard, counted); err != nil {
			return "", fmt.Errorf("read %s: %w", name, err)
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	switch {
	case n > f.Bytes:
		return fmt.Sprintf("larger than the %d bytes the manifest says", f.Bytes), nil
	case n != f.Bytes:
		return fmt.Sprintf("%d bytes, the manifest says %d", n, f.Bytes), nil
	case sum != f.SHA256:
		return fmt.Sprintf("SHA-256 %s, the manifest says %s", sum, f.SHA256), nil
	case readErr != nil:
		return fmt.Sprintf("unreadable %s: %v", f.Format, readErr), nil
	case rows >= 0 && rows != f.Rows:
		return fmt.Sprintf("%d rows, the manifest says %d", rows, f.Rows), nil
	}
	return "", nil
}

// maxManifest bounds what is read of a manifest: a real one lists a few
// dozen files.
const maxManifest = 16 << 20

// ErrUnverified means an export failed verification: files missing,
// changed or not the size, hash or rows its manifest says.
var ErrUnverified = errors.New("the export does not match its manifest")

// ErrSpanningPacket refuses a packet of several organizations where one
// organization's is needed.
var ErrSpanningPacket = errors.New("the packet spans several organizations")

// VerifiedOrgPacket is VerifiedPacket for uses that take one
// organization's packet: a baseline, a side of a diff, decisions to apply.
func VerifiedOrgPacket(ctx context.Context, sink Sink) (*Manifest, error) {
	m, err := VerifiedPacket(ctx, sink)
	if err == nil && len(m.Orgs) > 0 {
		return nil, fmt.Errorf("%w (%d): %s; export one organization's packet (--org NAME, or --split-by org)", ErrSpanningPacket, len(m.Orgs), sink)
	}
	return m, err
}

// VerifiedPacket verifies a packet at the root of sink, as 'exporter
// verify' does, and returns its manifest only if every file matches: a
// packet used as evidence (a baseline, a side of a diff, decisions to
// apply) must be the packet that was exported, whole.
func VerifiedPacket(ctx context.Context, sink Sink) (*Manifest, error) {
	rep, err := Verify(ctx, sink, "")
	if errors.Is(err, ErrNoManifest) {
		return nil, fmt.Errorf("%s is not a complete packet: it has no manifest.json (an export still running, or one that failed): export it again", sink)
	}
	if err != nil {
		return nil, fmt.Errorf("verify packet %s: %w", sink, err)
	}
	if rep.Manifest.Kind != "packet" {
		return nil, fmt.Errorf("%s is a %s export, not a packet", sink, rep.Manifest.Kind)
	}
	if !rep.OK() {
		more := ""
		if len(rep.Problems) > 3 {
			more = fmt.Sprintf(" (and %d more)", len(rep.Problems)-3)
		}
		return nil, fmt.Errorf("%w: packet %s: %s%s; run 'exporter verify %s' for the whole report",
			ErrUnverified, sink, strings.Join(rep.Problems[:min(3, len(rep.Problems))], "; "), more, sink)
	}
	return rep.Manifest, nil
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// countCSV counts the records after the header.
func countCSV(r io.Reader) (int64, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0 // every record as wide as the header
	cr.ReuseRecord = true
	var n int64 = -1
	for {
		_, err := cr.Read()
		if err == io.EOF {
			return max(n, 0), nil
		}
		if err != nil {
			return 0, err
		}
		n++
	}
}

// countParquet reads a Parquet file to a temporary file (its footer is at
// the end) and returns the rows its footer records.
func countParquet(r io.Reader) (int64, error) {
	tmp, err := os.CreateTemp("", "verify-*.parquet")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	size, err := io.Copy(tmp, r)
	if err != nil {
		return 0, err
	}
	pf, err := parquet.OpenFile(tmp, size)
	if err != nil {
		return 0, err
	}
	return pf.NumRows(), nil
}

// unlisted notes files of the export's kind that the manifest does not
// list: in a packet folder, table and workbook files; in a warehouse, the
// files in the partition folders the manifest names (files of another run,
// left by a crash, or by hand).
func (rep *Report) unlisted(ctx context.Context, sink Sink, dir string, m *Manifest) error {
	listed := map[string]bool{}
	folders := map[string]bool{}
	for _, f := range m.Files {
		p := m.filePath(dir, f.Path)
		listed[p] = true
		folders[path.Dir(p)] = true
	}
	if m.Kind == "packet" {
		names, err := sink.List(ctx, dir)
		if err != nil {
			return err
		}
		for _, n := range names {
			rel := n
			if dir != "" {
				rel = n[len(dir)+1:]
			}
			if packetNames(rel) && !listed[n] && rel != seal.SignatureName(ManifestName) {
				rep.Unlisted = append(rep.Unlisted, n)
			}
		}
		return nil
	}
	keys := make([]string, 0, len(folders))
	for k := range folders {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	own := map[string]bool{path.Join(dir, ManifestName): true, path.Join(dir, SuccessName): true}
	for _, d := range keys {
		names, err := sink.List(ctx, d)
		if err != nil {
			return err
		}
		for _, n := range names {
			// Only the folder's own files: a deeper folder is another
			// partition (a date's run= folders).
			if rest := n[len(d)+1:]; !listed[n] && !own[n] && !strings.Contains(rest, "/") {
				rep.Unlisted = append(rep.Unlisted, n)
			}
		}
	}
	return nil
}

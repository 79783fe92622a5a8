package export

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"path"
	"time"
)

// Manifest names and markers.
const (
	ManifestName = "manifest.json"
	SuccessName  = "_SUCCESS"
)

// Manifest describes one export: what it came from and every file it
// wrote, with rows and SHA-256. It is written after every file it lists.
// org, run and snapshot_time are what internal/diff reads of a packet
// (diff.PacketInfo).
type Manifest struct {
	Kind          string `json:"kind"` // packet or warehouse
	SchemaVersion int    `json:"schema_version"`
	PacketID      string `json:"packet_id,omitempty"`
	Org           string `json:"org"`              // organization URL, normalized
	OrgName       string `json:"org_name"`         // its last path segment
	OrgID         string `json:"org_id,omitempty"` // its id (schema version 2 on)
	// Orgs, instead of Org, OrgName, OrgID and Run, are the organizations
	// of a packet that spans several, each with its run.
	Orgs         []ManifestOrg     `json:"orgs,omitempty"`
	Run          int64             `json:"run"`
	SnapshotTime *time.Time        `json:"snapshot_time,omitempty"` // the service's clock when the run started
	SnapshotDate string            `json:"snapshot_date,omitempty"` // warehouse partition date
	Partition    string            `json:"partition,omitempty"`     // warehouse partition: org=…/org_id=…/snapshot_date=…[/run=…]
	CreatedAt    string            `json:"created_at"`
	ToolVersion  string            `json:"tool_version"`
	Baseline     *ManifestBaseline `json:"baseline,omitempty"`
	Options      *ManifestOptions  `json:"options,omitempty"`
	// Root is where file paths start, relative to the manifest's folder
	// ("" for the folder itself; "../../../.." for a warehouse manifest,
	// one more with --partition run).
	Root string `json:"root,omitempty"`
	// Signer is the SHA-256 fingerprint of the public key whose signature
	// of this manifest is manifest.json.sig (seal.Fingerprint); "" unsigned.
	Signer string  `json:"signer,omitempty"`
	Tables []Count `json:"tables"` // rows per table
	Files  []File  `json:"files"`
}

// ManifestOrg is one organization of a packet that spans several.
type ManifestOrg struct {
	Org          string     `json:"org"`
	OrgName      string     `json:"org_name"`
	OrgID        string     `json:"org_id,omitempty"`
	Run          int64      `json:"run"`
	SnapshotTime *time.Time `json:"snapshot_time,omitempty"`
}

// ManifestBaseline is what the changes table compares against.
type ManifestBaseline struct {
	Kind     string `json:"kind"` // none, run or packet
	Run      int64  `json:"run,omitempty"`
	PacketID string `json:"packet_id,omitempty"`
	Location string `json:"location,omitempty"` // the packet's location, without secrets
}

// ManifestOptions are the settings that shaped an export's derived columns.
type ManifestOptions struct {
	DormantDays      int      `json:"dormant_days"`
	PrivilegedGroups []string `json:"privileged_groups"`
	MaxPrivileged    int      `json:"max_privileged"`
	Formats          []string `json:"formats,omitempty"`
	CSVBOM           bool     `json:"csv_bom,omitempty"`
}

// File is one file of an export.
type File struct {
	Path   string           `json:"path"` // slash-separated, relative to Root
	Table  string           `json:"table,omitempty"`
	Format string           `json:"format"` // csv, parquet or xlsx
	Rows   int64            `json:"rows"`   // data rows (xlsx: of every table sheet)
	Bytes  int64            `json:"bytes"`
	SHA256 string           `json:"sha256"` // hex
	Sheets map[string]int64 `json:"sheets,omitempty"`
}

func (m *Manifest) encode() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseManifest reads a manifest and checks that its paths stay inside
// the export.
func ParseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read %s: %w", ManifestName, err)
	}
	if m.Kind != "packet" && m.Kind != "warehouse" {
		return nil, fmt.Errorf("read %s: kind %q is neither packet nor warehouse", ManifestName, m.Kind)
	}
	if m.Root != "" && !validRoot(m.Root) {
		return nil, fmt.Errorf("read %s: root %q: want a relative path of '..' steps", ManifestName, m.Root)
	}
	for _, f := range m.Files {
		if err := checkName(f.Path); err != nil {
			return nil, fmt.Errorf("read %s: %w", ManifestName, err)
		}
	}
	return &m, nil
}

func validRoot(r string) bool {
	for _, p := range splitPath(r) {
		if p != ".." {
			return false
		}
	}
	return true
}

// filePath is where a manifest's file lies, relative to the sink holding
// the manifest at dir.
func (m *Manifest) filePath(dir, p string) string {
	return path.Clean(path.Join(dir, m.Root, p))
}

// digest counts and hashes what is written through it.
type digest struct {
	w io.Writer
	h hash.Hash
	n int64
}

func newDigest(w io.Writer) *digest { return &digest{w: w, h: sha256.New()} }

func (d *digest) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	d.h.Write(p[:n])
	d.n += int64(n)
	return n, err
}

func (d *digest) sum() string { return hex.EncodeToString(d.h.Sum(nil)) }

func now() string { return formatInstant(time.Now()) }

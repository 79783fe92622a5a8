// Package review runs access review campaigns: one review packet per
// reviewer scope (internal/export writes them), campaign.json listing the
// scopes, their reviewers and each packet's manifest digest, and the
// completion of the filled-in workbooks. It sits beside provision, calling
// export, snapshot and provision's decision reader, never up.
package review

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/google/uuid"

	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/seal"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// CampaignName is the campaign's index, written last, in its folder.
const CampaignName = "campaign.json"

// CampaignVersion is the version of campaign.json's layout.
const CampaignVersion = 1

// maxCampaign bounds what is read of a campaign.json (a thousand scopes
// with reviewers are well under a megabyte).
const maxCampaign = 32 << 20

// Campaign is campaign.json.
type Campaign struct {
	Kind         string                   `json:"kind"` // "campaign"
	Version      int                      `json:"version"`
	CampaignID   string                   `json:"campaign_id"`
	Org          string                   `json:"org"`
	OrgName      string                   `json:"org_name"`
	OrgID        string                   `json:"org_id,omitempty"`
	Run          int64                    `json:"run"`
	SnapshotTime *time.Time               `json:"snapshot_time,omitempty"`
	Baseline     *export.ManifestBaseline `json:"baseline,omitempty"`
	CreatedAt    string                   `json:"created_at"`
	ToolVersion  string                   `json:"tool_version"`
	Scopes       []Scope                  `json:"scopes"`
}

// Scope is one reviewer scope of the campaign.
type Scope struct {
	Name           string     `json:"name"` // a project, or export.ScopeOrganization
	Dir            string     `json:"dir"`  // its packet's sub-folder
	PacketID       string     `json:"packet_id"`
	ManifestSHA256 string     `json:"manifest_sha256"`
	RowsToDecide   int64      `json:"rows_to_decide"` // effective_access rows
	Marked         int64      `json:"marked"`         // of those, marked as needing a human
	Reviewers      []Reviewer `json:"reviewers"`
	// ReviewersFrom says where the reviewers come from: "project
	// administrators" (the snapshot's, direct and through groups), or
	// "reviewers file".
	ReviewersFrom string `json:"reviewers_from"`
}

// Reviewer is a person who reviews a scope.
type Reviewer struct {
	Name       string `json:"name"`
	Descriptor string `json:"descriptor,omitempty"`
	Principal  string `json:"principal_name,omitempty"`
}

// Options are a campaign export's.
type Options struct {
	export.PacketOptions
	// Reviewers maps scope names to reviewers (a --reviewers file); scopes
	// it does not name get their administrators.
	Reviewers map[string][]Reviewer
}

// Export writes a campaign of the run into sink: one packet per scope, then
// campaign.json.
func Export(ctx context.Context, st *snapshot.Store, sink export.Sink, opts Options) (*Campaign, error) {
	scopes, err := export.ExportCampaign(ctx, st, sink, opts.PacketOptions)
	if err != nil {
		return nil, err
	}
	if len(scopes) == 0 {
		return nil, errors.New("the run has no scope to review")
	}
	names := map[string]bool{}
	for _, s := range scopes {
		names[s.Name] = true
	}
	for name := range opts.Reviewers {
		if !names[name] {
			return nil, fmt.Errorf("%w: the reviewers file names scope %q, which this run does not have (scopes are project names and %q)", ErrUnknownScope, name, export.ScopeOrganization)
		}
	}
	m := scopes[0].Manifest
	c := &Campaign{
		Kind: "campaign", Version: CampaignVersion, CampaignID: uuid.NewString(), Org: m.Org, OrgName: m.OrgName, OrgID: m.OrgID,
		Run: m.Run, SnapshotTime: m.SnapshotTime, Baseline: m.Baseline, ToolVersion: m.ToolVersion,
	}
	for _, s := range scopes {
		sc := Scope{Name: s.Name, Dir: s.Dir, PacketID: s.Manifest.PacketID, ManifestSHA256: s.ManifestSHA256,
			RowsToDecide: s.RowsToDecide, Marked: s.Marked, Reviewers: []Reviewer{}}
		if rs, ok := opts.Reviewers[s.Name]; ok {
			sc.Reviewers, sc.ReviewersFrom = rs, "reviewers file"
		} else {
			sc.ReviewersFrom = "project administrators"
			for _, p := range s.Administrators {
				sc.Reviewers = append(sc.Reviewers, Reviewer{Name: p.Name, Descriptor: p.Descriptor, Principal: p.Principal})
			}
		}
		c.Scopes = append(c.Scopes, sc)
	}
	c.CreatedAt = time.Now().UTC().Format(time.RFC3339)
	body, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	body = append(body, '\n')
	if err := writeReport(ctx, sink, c, nil); err != nil {
		return nil, err
	}
	if key := opts.SignKey; key != nil {
		// The signature goes first: a reader who finds campaign.json finds it.
		if err := put(ctx, sink, seal.SignatureName(CampaignName), seal.Sign(key, body)); err != nil {
			return nil, err
		}
	}
	if err := put(ctx, sink, CampaignName, body); err != nil {
		return nil, err
	}
	return c, nil
}

// put writes a whole file to the sink.
func put(ctx context.Context, sink export.Sink, name string, body []byte) error {
	f, err := sink.Create(ctx, name)
	if err != nil {
		return err
	}
	if _, err := f.Write(body); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// ErrUnknownScope is a reviewers file naming a scope the run does not have.
var ErrUnknownScope = errors.New("unknown scope")

// ErrNoCampaign is a folder without campaign.json.
var ErrNoCampaign = errors.New("no " + CampaignName)

// Read reads campaign.json from the campaign's sink.
func Read(ctx context.Context, sink export.Sink) (*Campaign, error) {
	rc, err := sink.Open(ctx, CampaignName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s: not a campaign (export packet --split-by project writes one)", ErrNoCampaign, sink)
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(rc, maxCampaign+1)); err != nil {
		return nil, err
	}
	if buf.Len() > maxCampaign {
		return nil, fmt.Errorf("%s is over %d MB: not one this tool wrote", CampaignName, maxCampaign>>20)
	}
	var c Campaign
	dec := json.NewDecoder(&buf)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", CampaignName, err)
	}
	if c.Kind != "campaign" || c.Version < 1 || c.Version > CampaignVersion {
		return nil, fmt.Errorf("%s: kind %q version %d: not a campaign this tool reads (version %d)", CampaignName, c.Kind, c.Version, CampaignVersion)
	}
	seen := map[string]bool{}
	for _, s := range c.Scopes {
		if s.Dir == "" || !fs.ValidPath(s.Dir) || s.Dir == "." || seen[s.Dir] {
			return nil, fmt.Errorf("%s: scope %q has the folder %q: want a distinct sub-folder", CampaignName, s.Name, s.Dir)
		}
		seen[s.Dir] = true
	}
	return &c, nil
}

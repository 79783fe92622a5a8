package review

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/provision"
)

// Decisions reads every scope's filled-in workbook of a campaign folder,
// each bound to its own packet as one packet's are (its manifest must be
// the one campaign.json lists), into one set of decisions for one plan.
// Each decision's source names its scope's folder, and its Reviewer who
// decided. Problems of every scope are reported together; any problem
// yields no decisions.
func Decisions(ctx context.Context, dir string) (*provision.Decisions, error) {
	c, err := Read(ctx, export.NewLocalSink(dir))
	if err != nil {
		return nil, &provision.InputError{Problems: []provision.Problem{{Source: provision.Source{File: filepath.Join(dir, CampaignName)}, Msg: err.Error()}}}
	}
	out := &provision.Decisions{File: dir}
	var probs []provision.Problem
	var bulk []string
	// Each scope's workbook is read and bound on its own (mostly reading
	// and hashing its packet's files), several at once; results are
	// merged in the campaign's order.
	type read struct {
		d     *provision.Decisions
		probs []provision.Problem
		err   error
	}
	reads := make([]read, len(c.Scopes))
	next := make(chan int)
	var wg sync.WaitGroup
	for range statusReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				reads[i].d, reads[i].probs, reads[i].err = scopeDecisions(ctx, dir, c, c.Scopes[i])
			}
		}()
	}
	for i := range c.Scopes {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, sc := range c.Scopes {
		r := reads[i]
		if r.err != nil {
			return nil, fmt.Errorf("scope %s: %w", sc.Name, r.err)
		}
		if len(r.probs) > 0 {
			probs = append(probs, r.probs...)
			continue
		}
		d := r.d
		if out.Packet == nil {
			pm := *d.Packet.Manifest
			pm.PacketID, pm.Scope = c.CampaignID, ""
			out.Packet = &provision.Packet{Dir: dir, Manifest: &pm}
		}
		for _, u := range d.Packet.Unchecked {
			out.Packet.Unchecked = append(out.Packet.Unchecked, path.Join(sc.Dir, u))
		}
		out.Rows = append(out.Rows, d.Rows...)
		out.Keep += d.Keep
		out.Blank += d.Blank
		if d.BulkReviewer != "" {
			bulk = append(bulk, sc.Name+": "+d.BulkReviewer)
		}
	}
	if len(probs) > 0 {
		return nil, &provision.InputError{Problems: probs}
	}
	if out.Packet == nil {
		return nil, &provision.InputError{Problems: []provision.Problem{{Source: provision.Source{File: filepath.Join(dir, CampaignName)}, Msg: "the campaign has no scope"}}}
	}
	slices.Sort(bulk)
	out.BulkReviewer = strings.Join(bulk, "; ")
	return out, nil
}

// scopeDecisions reads one scope's workbook, bound to its packet and to
// the manifest campaign.json lists.
func scopeDecisions(ctx context.Context, dir string, c *Campaign, sc Scope) (*provision.Decisions, []provision.Problem, error) {
	sdir := filepath.Join(dir, filepath.FromSlash(sc.Dir))
	mpath := filepath.Join(sdir, export.ManifestName)
	if sum, err := fileSHA256(mpath); err != nil || sum != sc.ManifestSHA256 {
		return nil, []provision.Problem{{Source: provision.Source{File: mpath}, Msg: fmt.Sprintf("not the manifest %s lists for scope %s (SHA-256 %s): the packet was replaced", CampaignName, sc.Name, sc.ManifestSHA256)}}, nil
	}
	d, err := provision.ReadDecisions(ctx, filepath.Join(sdir, export.WorkbookName), provision.ReadOptions{PacketDir: sdir})
	if ie, ok := err.(*provision.InputError); ok {
		return nil, ie.Problems, nil
	}
	if err != nil {
		return nil, nil, err
	}
	m := d.Packet.Manifest
	if m.Run != c.Run || m.Org != c.Org || m.PacketID != sc.PacketID {
		return nil, []provision.Problem{{Source: provision.Source{File: mpath}, Msg: fmt.Sprintf("packet %s of run %d of %s, but %s lists packet %s of run %d of %s", m.PacketID, m.Run, m.Org, CampaignName, sc.PacketID, c.Run, c.Org)}}, nil
	}
	return d, nil, nil
}

// IsCampaign reports whether dir is a campaign folder.
func IsCampaign(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, CampaignName))
	return err == nil && fi.Mode().IsRegular()
}

// ScopeOf names the scope a decision's source file is in, by its folder
// ("" when the file is not in a campaign's scope).
func ScopeOf(c *Campaign, file string) string {
	d := filepath.Base(filepath.Dir(file))
	for _, s := range c.Scopes {
		if s.Dir == d {
			return s.Name
		}
	}
	return ""
}

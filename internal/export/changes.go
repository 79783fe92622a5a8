package export

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ado-access/ado-access/internal/diff"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// Baseline chooses what a packet's changes table compares against. The
// zero value is the newest complete run of the same organization before
// the exported one (none for the first run).
type Baseline struct {
	None   bool  // no changes table rows
	Run    int64 // a run of the store
	Packet Sink  // an earlier packet, diffed offline (internal/diff.Packets)
}

// changeSource is a resolved Baseline.
type changeSource struct {
	kind      string // none, run or packet
	run       int64
	packetDir string   // the baseline packet, as a local folder
	newDir    string   // this packet's diffed tables, as a local folder
	entities  []string // the diffed tables both packets hold
	effective bool
	desc      string            // in words, for the Summary sheet
	info      *ManifestBaseline // for the manifest
	cleanup   []string          // temporary folders
}

func (c *changeSource) close() {
	for _, d := range c.cleanup {
		os.RemoveAll(d)
	}
}

// resolveBaseline makes ready what the changes table compares against.
func (j *job) resolveBaseline(ctx context.Context, b Baseline) error {
	switch {
	case b.None:
		j.changes = changeSource{kind: "none", desc: "none (not asked for)", info: &ManifestBaseline{Kind: "none"}}
		return nil
	case b.Packet != nil:
		return j.resolvePacketBaseline(ctx, b.Packet)
	}
	return j.resolveRunBaseline(ctx, b.Run)
}

// resolveRunBaseline picks the run changes are computed from: the one
// asked for, or the previous complete run.
func (j *job) resolveRunBaseline(ctx context.Context, run int64) error {
	if run == 0 {
		err := j.st.DB().QueryRowContext(ctx, snapshot.Query("export_previous_run"), sql.Named("run", j.run.ID)).Scan(&run)
		if errors.Is(err, sql.ErrNoRows) {
			j.changes = changeSource{kind: "none", desc: "none: no earlier run of this organization", info: &ManifestBaseline{Kind: "none"}}
			return nil
		}
		if err != nil {
			return fmt.Errorf("find the previous run: %w", err)
		}
	}
	r, err := j.st.CompleteRun(ctx, run)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	if !snapshot.SameOrg(r, j.run) {
		return fmt.Errorf("baseline run %d is of %s, not %s", r.ID, r.Org, j.run.Org)
	}
	if r.ID > j.run.ID {
		return fmt.Errorf("baseline run %d is newer than run %d", r.ID, j.run.ID)
	}
	desc := fmt.Sprintf("run %d", r.ID)
	if r.SnapshotTime != nil {
		desc += " (" + formatInstant(*r.SnapshotTime) + ")"
	}
	j.changes = changeSource{kind: "run", run: r.ID, effective: true, desc: desc, info: &ManifestBaseline{Kind: "run", Run: r.ID}}
	return nil
}

// resolvePacketBaseline makes an earlier packet ready to diff against:
// its manifest read, and its tables in a local folder (downloaded from a
// remote sink). The new side is written to newDir as the tables stream.
func (j *job) resolvePacketBaseline(ctx context.Context, base Sink) error {
	m, err := VerifiedOrgPacket(ctx, base)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	if m.Org != "" && m.Org != j.run.Org {
		return fmt.Errorf("baseline packet %s is of %s, not %s", base, m.Org, j.run.Org)
	}
	// Set on the job at once, so that job.close removes what is made here
	// whatever happens.
	j.changes = changeSource{kind: "packet", desc: fmt.Sprintf("packet %s, run %d (%s)", m.PacketID, m.Run, base),
		info: &ManifestBaseline{Kind: "packet", PacketID: m.PacketID, Run: m.Run, Location: base.String()}}
	c := &j.changes
	// Every contract table the baseline holds as CSV or Parquet.
	have := map[string]string{}
	for _, f := range m.Files {
		if f.Table != "" && (f.Format == "csv" || f.Format == "parquet") && diff.PacketTableByName(f.Table) != nil {
			if _, ok := have[f.Table]; !ok || f.Format == "csv" {
				have[f.Table] = f.Path
			}
		}
	}
	for _, t := range diff.PacketTables {
		if _, ok := have[t.Name]; !ok {
			continue
		}
		if t.Name == diff.EntEffectiveAccess {
			c.effective = true
		} else {
			c.entities = append(c.entities, t.Name)
		}
	}
	if len(have) == 0 {
		return fmt.Errorf("baseline packet %s holds none of the tables changes are computed from", base)
	}
	if ls, ok := base.(*LocalSink); ok {
		c.packetDir = ls.root
	} else {
		dir, err := os.MkdirTemp("", "export-baseline-*")
		if err != nil {
			return err
		}
		c.cleanup = append(c.cleanup, dir)
		c.packetDir = dir
		if err := download(ctx, base, ManifestName, filepath.Join(dir, ManifestName)); err != nil {
			return fmt.Errorf("baseline packet: %w", err)
		}
		for _, p := range have {
			if err := download(ctx, base, p, filepath.Join(dir, filepath.FromSlash(p))); err != nil {
				return fmt.Errorf("baseline packet: %w", err)
			}
		}
	}
	newDir, err := os.MkdirTemp("", "export-packet-*")
	if err != nil {
		return err
	}
	c.cleanup = append(c.cleanup, newDir)
	c.newDir = newDir
	info, _ := json.Marshal(map[string]any{"org": j.run.Org, "run": j.run.ID, "snapshot_time": j.snap})
	return os.WriteFile(filepath.Join(newDir, ManifestName), info, 0o644)
}

// shadowed reports whether table t must also go to the local folder that
// the packet diff reads.
func (c *changeSource) shadowed(t *Table) bool {
	return c.newDir != "" && diff.PacketTableByName(t.Name) != nil &&
		(slices.Contains(c.entities, t.Name) || c.effective && t.Name == diff.EntEffectiveAccess)
}

func download(ctx context.Context, s Sink, name, to string) error {
	r, err := s.Open(ctx, name)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	f, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := f.ReadFrom(r); err != nil {
		f.Close()
		return fmt.Errorf("download %s: %w", name, err)
	}
	return f.Close()
}

// prepareChanges computes the changes since a baseline run ahead of the
// other tables, into a spool: the diff's memory peak then comes while the
// export holds little. Changes against a packet need this packet's
// tables, so they are computed last.
func (j *job) prepareChanges(ctx context.Context) error {
	if j.changes.kind != "run" {
		return nil
	}
	sp, err := newSpool(Changes)
	if err != nil {
		return err
	}
	if err := j.computeChanges(ctx, sp.Write); err != nil {
		sp.Close()
		return err
	}
	j.changeSpool = sp
	return nil
}

// changeRows streams the changes since the baseline.
func (j *job) changeRows(ctx context.Context, emit func(Row) error) error {
	if sp := j.changeSpool; sp != nil {
		j.changeSpool = nil
		return sp.Replay(emit)
	}
	return j.computeChanges(ctx, emit)
}

// computeChanges diffs against the baseline.
func (j *job) computeChanges(ctx context.Context, emit func(Row) error) error {
	c := &j.changes
	opts := diff.Options{Effective: c.effective, DormantDays: j.opts.DormantDays}
	fn := func(ch diff.Change) error {
		j.changeKinds[ch.Kind]++
		return emit(changeRow(ch))
	}
	switch c.kind {
	case "run":
		return diff.Between(ctx, j.st, c.run, j.run.ID, opts, fn)
	case "packet":
		// Only the tables both packets hold (Entities must name effective
		// access too).
		opts.Entities = slices.Clone(c.entities)
		if c.effective {
			opts.Entities = append(opts.Entities, diff.EntEffectiveAccess)
		}
		return diff.Packets(ctx, c.packetDir, c.newDir, opts, fn)
	}
	return nil
}

func changeRow(c diff.Change) Row {
	fields := c.Fields
	if fields == nil {
		fields = []diff.Field{}
	}
	js, _ := json.Marshal(fields)
	var details []string
	for _, f := range fields {
		details = append(details, fmt.Sprintf("%s: %s → %s", f.Name, shown(f.Before), shown(f.After)))
	}
	return Row{c.Kind, c.Entity, c.Key, c.Subject, c.SubjectKind, c.Name, strings.Join(details, "; "), string(js), c.Path}
}

func shown(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

// changeCounts counts the changes by kind, in ChangeKinds order.
func (j *job) changeCounts() []Count {
	out := make([]Count, 0, len(diff.Kinds))
	for _, k := range diff.Kinds {
		out = append(out, Count{Name: k, N: j.changeKinds[k]})
	}
	return out
}

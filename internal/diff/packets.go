package diff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// PacketInfo is what the diff reads from a packet's manifest.json (other
// fields are ignored). Export embeds it in its manifest.
type PacketInfo struct {
	Org string `json:"org"` // organization URL, as snapshot.NormalizeOrg writes it
	Run int64  `json:"run"` // the run the packet was written from
	// SnapshotTime is the run's snapshot time, RFC 3339: what dormancy is
	// measured from.
	SnapshotTime time.Time `json:"snapshot_time"`
}

// ReadPacketInfo reads a packet's manifest.json; found is false when the
// packet has none.
func ReadPacketInfo(dir string) (info PacketInfo, found bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return info, false, nil
	}
	if err != nil {
		return info, false, fmt.Errorf("read packet manifest: %w", err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, true, fmt.Errorf("read %s: %w", filepath.Join(dir, "manifest.json"), err)
	}
	return info, true, nil
}

// Packets computes the same changes as Between, from two exported packets
// (folders holding the PacketTables as CSV or Parquet), with no store and
// no network. A table must be in both packets or in neither (then it is
// skipped); dormancy needs both manifests' snapshot times.
func Packets(ctx context.Context, oldDir, newDir string, opts Options, emit func(Change) error) error {
	for _, dir := range []string{oldDir, newDir} {
		if st, err := os.Stat(dir); err != nil {
			return fmt.Errorf("read packet: %w", err)
		} else if !st.IsDir() {
			return fmt.Errorf("read packet: %s is not a folder", dir)
		}
	}
	p := &packetDiff{oldDir: oldDir, newDir: newDir, opts: opts}
	if err := p.readInfo(); err != nil {
		return err
	}
	lab, err := p.labels()
	if err != nil {
		return err
	}
	compared := 0
	for _, t := range opts.entities() {
		cs, ok, err := p.table(ctx, t)
		if err != nil {
			return fmt.Errorf("diff %s of packets %s and %s: %w", t.Name, oldDir, newDir, err)
		}
		if !ok {
			continue
		}
		compared++
		for i := range cs {
			describe(&cs[i], lab)
		}
		sortChanges(cs)
		for _, c := range cs {
			if err := emit(c); err != nil {
				return err
			}
		}
	}
	if compared == 0 {
		return fmt.Errorf("packets %s and %s hold none of the tables asked for", oldDir, newDir)
	}
	return nil
}

type packetDiff struct {
	oldDir, newDir string
	opts           Options
	tA, tB         time.Time // zero when a manifest lacks it: no dormancy
}

func (p *packetDiff) readInfo() error {
	a, okA, err := ReadPacketInfo(p.oldDir)
	if err != nil {
		return err
	}
	b, okB, err := ReadPacketInfo(p.newDir)
	if err != nil {
		return err
	}
	if okA && okB && a.Org != "" && b.Org != "" && a.Org != b.Org {
		return fmt.Errorf("packet %s is of %s and %s of %s: diff packets of one organization", p.oldDir, a.Org, p.newDir, b.Org)
	}
	if !a.SnapshotTime.IsZero() && a.SnapshotTime.After(b.SnapshotTime) && !b.SnapshotTime.IsZero() {
		return fmt.Errorf("the old packet %s (%s) is newer than the new one %s (%s)", p.oldDir,
			a.SnapshotTime.Format(time.RFC3339), p.newDir, b.SnapshotTime.Format(time.RFC3339))
	}
	p.tA, p.tB = a.SnapshotTime, b.SnapshotTime
	return nil
}

// labels reads the names of accounts, groups and teams from both packets,
// the new one's winning.
func (p *packetDiff) labels() (labels, error) {
	out := labels{}
	for _, dir := range []string{p.oldDir, p.newDir} {
		for _, name := range []string{EntAccounts, EntGroups, EntTeams} {
			t := PacketTableByName(name)
			r, found, err := openTable(dir, t)
			if err != nil {
				return nil, err
			}
			if !found {
				continue
			}
			display, principal, kind := t.Col("display_name"), t.Col("principal_name"), t.Col("kind")
			err = readAll(r, func(row []string) error {
				switch name {
				case EntAccounts:
					out[row[0]] = newLabel(row[0], row[kind], row[display], row[principal])
				case EntGroups:
					out[row[0]] = newLabel(row[0], "group", row[display], row[principal])
				case EntTeams:
					out[row[0]] = newLabel(row[0], "team", row[t.Col("name")], "")
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("read names from %s: %w", dir, err)
			}
		}
	}
	return out, nil
}

func readAll(r tableReader, fn func([]string) error) error {
	defer r.Close()
	for {
		row, err := r.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}

// table diffs one packet table; ok is false when neither packet has it.
func (p *packetDiff) table(ctx context.Context, t *PacketTable) (cs []Change, ok bool, err error) {
	oldR, inOld, err := openTable(p.oldDir, t)
	if err != nil {
		return nil, false, err
	}
	newR, inNew, err := openTable(p.newDir, t)
	if err != nil {
		if inOld {
			oldR.Close()
		}
		return nil, false, err
	}
	switch {
	case !inOld && !inNew:
		return nil, false, nil
	case t.Optional && (!inOld || !inNew):
		if inOld {
			oldR.Close()
		}
		if inNew {
			newR.Close()
		}
		return nil, false, nil
	case !inOld || !inNew:
		missing := p.oldDir
		if inOld {
			missing = p.newDir
			oldR.Close()
		} else {
			newR.Close()
		}
		return nil, false, fmt.Errorf("packet %s has no %s table (.csv or .parquet) to compare; leave it out with --kind", missing, t.Name)
	}
	old, err := loadIndex(t, oldR)
	if err != nil {
		newR.Close()
		return nil, false, fmt.Errorf("old packet: %w", err)
	}
	d := tableDiff{t: t, old: old, days: p.opts.dormantDays(), tA: p.tA, tB: p.tB}
	if err := readAll(newR, func(row []string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return d.add(row)
	}); err != nil {
		return nil, false, fmt.Errorf("new packet: %w", err)
	}
	d.finish()
	return d.out, true, nil
}

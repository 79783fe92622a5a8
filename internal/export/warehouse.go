package export

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// WarehouseOptions are the options of a warehouse export.
type WarehouseOptions struct {
	Options
	// Date names the partition, YYYY-MM-DD; empty: the run's snapshot
	// date (UTC).
	Date string
}

// WarehouseTables are the tables of a warehouse export: the packet's.
var WarehouseTables = PacketTables

// PartFile is the one data file of each partition.
const PartFile = "part-00000.parquet"

// Partition is the folder of one table's partition:
// {table}/org={org}/snapshot_date={date}.
func Partition(table, org, date string) string {
	return table + "/org=" + hiveEscape(org) + "/snapshot_date=" + date
}

// ManifestDir is the folder of a warehouse export's manifest.json and
// _SUCCESS: _manifests/org={org}/snapshot_date={date}.
func ManifestDir(org, date string) string {
	return "_manifests/org=" + hiveEscape(org) + "/snapshot_date=" + date
}

// ExportWarehouse writes one run as Parquet, one file per table in
// Hive-style partitions ({table}/org={org}/snapshot_date={date}/part-00000.parquet),
// then _manifests/org={org}/snapshot_date={date}/manifest.json, then
// _SUCCESS beside it. The changes table holds the changes since the
// previous complete run. Exporting the same organization and date again
// replaces the partition: the marker and manifest go first, each part is
// replaced, anything else in the partition folders is removed, and the
// manifest and marker come back last.
func ExportWarehouse(ctx context.Context, st *snapshot.Store, sink Sink, opts WarehouseOptions) (*Manifest, error) {
	j, err := newJob(ctx, st, opts.Options)
	if err != nil {
		return nil, err
	}
	defer j.close()
	date := opts.Date
	if date == "" {
		date = j.snap.Format(time.DateOnly)
	} else if _, err := time.Parse(time.DateOnly, date); err != nil {
		return nil, fmt.Errorf("date %q: want YYYY-MM-DD", date)
	}
	if err := j.resolveRunBaseline(ctx, 0); err != nil {
		return nil, err
	}
	if err := j.prepareChanges(ctx); err != nil {
		return nil, err
	}
	org := OrgName(j.run.Org)
	mdir := ManifestDir(org, date)
	for _, n := range []string{SuccessName, ManifestName} {
		if err := sink.Delete(ctx, mdir+"/"+n); err != nil {
			return nil, err
		}
	}
	meta := parquetMeta(j, "")
	meta["ado_access.snapshot_date"] = date
	var files []File
	for _, t := range WarehouseTables {
		start := time.Now()
		dir := Partition(t.Name, org, date)
		out := &tableOut{t: t}
		err := out.addFile(ctx, sink, FormatParquet, dir+"/"+PartFile, func(d *digest) (rowWriter, error) {
			return newParquetWriter(d, t, meta), nil
		})
		if err != nil {
			return nil, err
		}
		fs, err := j.produceTo(ctx, out)
		if err != nil {
			return nil, fmt.Errorf("warehouse table %s: %w", t.Name, err)
		}
		if err := removeStale(ctx, sink, dir, fs, func(string) bool { return true }); err != nil {
			return nil, err
		}
		files = append(files, fs...)
		heap, rss := memory()
		j.opts.Logger.Debug("table written", "table", t.Name, "rows", out.rows, "took", time.Since(start).Round(time.Millisecond), "heap_mib", int(heap), "peak_rss_mib", int(rss))
	}
	m := &Manifest{
		Kind: "warehouse", SchemaVersion: SchemaVersion,
		Org: j.run.Org, OrgName: org, Run: j.run.ID, SnapshotTime: j.run.SnapshotTime, SnapshotDate: date,
		ToolVersion: j.opts.ToolVersion, Baseline: j.changes.info,
		Options: &ManifestOptions{DormantDays: j.opts.DormantDays, PrivilegedGroups: j.opts.PrivilegedGroups, MaxPrivileged: j.opts.MaxPrivileged},
		Root:    "../../..", Files: files, CreatedAt: now(),
	}
	for _, t := range WarehouseTables {
		m.Tables = append(m.Tables, Count{Name: t.Name, N: j.rows[t.Name]})
	}
	body, err := m.encode()
	if err != nil {
		return nil, err
	}
	if err := writeFile(ctx, sink, mdir+"/"+ManifestName, body); err != nil {
		return nil, err
	}
	if err := writeFile(ctx, sink, mdir+"/"+SuccessName, nil); err != nil {
		return nil, err
	}
	return m, nil
}

// hiveEscape writes a partition value as Hive does: characters other
// than letters, digits, '.', '_' and '-' as %XX.
func hiveEscape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

package export

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Warehouse partitioning: by date (a later run of the same day replaces an
// earlier one) or by run (every run kept in a folder of its own).
const (
	PartitionByDate = "date"
	PartitionByRun  = "run"
)

// WarehouseOptions are the options of a warehouse export.
type WarehouseOptions struct {
	Options
	// Date names the partition, YYYY-MM-DD; empty: the run's snapshot
	// date (UTC).
	Date string
	// Partition is PartitionByDate (the default) or PartitionByRun.
	Partition string
}

// WarehouseTables are the tables of a warehouse export: the packet's, each
// led by the run identity columns (warehouseTable).
var WarehouseTables = PacketTables

// runIdentity are the columns every warehouse table starts with: which
// organization and run a row comes from, so that a reader can pick one
// consistent run without reading manifests.
var runIdentity = []Column{
	str("org_id", "the organization's id (the service's instance id), stable across renames and servers"),
	num("run_id", "the run of the snapshot store the row comes from"),
	{Name: "snapshot_time", Type: Timestamp, Doc: "the run's snapshot time: the service's clock when the run started (UTC)"},
}

// partitionColumns are the Hive partition columns of a warehouse export,
// which readers add to every table; run only with PartitionByRun.
var partitionColumns = []Column{
	str("org", "the organization's name, lower case (Hive-escaped in the path)"),
	str("org_id", "the organization's id"),
	{Name: "snapshot_date", Type: Date, Doc: "the partition's date, YYYY-MM-DD: the run's snapshot date (UTC) unless --date says otherwise"},
	num("run", "the run (--partition run only)"),
}

var warehouseTables sync.Map // *Table -> *Table

// warehouseTable is a table as the warehouse writes it: the run identity
// columns, then the table's own. Its key is the table's, within one run.
func warehouseTable(t *Table) *Table {
	if w, ok := warehouseTables.Load(t); ok {
		return w.(*Table)
	}
	w := *t
	w.Columns = append(append([]Column{}, runIdentity...), t.Columns...)
	w.Review = false
	v, _ := warehouseTables.LoadOrStore(t, &w)
	return v.(*Table)
}

// PartitionKey names one partition of a warehouse export.
type PartitionKey struct {
	Org   string // the organization's name (OrgName)
	OrgID string // its id
	Date  string // YYYY-MM-DD
	Run   int64  // with PartitionByRun; 0 otherwise
}

func (k PartitionKey) String() string {
	s := "org=" + hiveEscape(k.Org) + "/org_id=" + hiveEscape(k.OrgID) + "/snapshot_date=" + k.Date
	if k.Run > 0 {
		s += "/run=" + strconv.FormatInt(k.Run, 10)
	}
	return s
}

// Partition is the folder of one table's partition:
// {table}/org={org}/org_id={id}/snapshot_date={date}[/run={run}].
func Partition(table string, k PartitionKey) string { return table + "/" + k.String() }

// ManifestDir is the folder of a warehouse export's manifest.json,
// schema.json and _SUCCESS: _manifests/{the partition}.
func ManifestDir(k PartitionKey) string { return "_manifests/" + k.String() }

// PartName is the name of a run's n-th data file in a partition: every
// run writes files of its own, so a run being written never touches the
// files of the run a reader may be reading.
func PartName(run int64, n int) string { return fmt.Sprintf("part-%d-%05d.parquet", run, n) }

// isPart reports whether a file name is one PartName gives.
func isPart(name string) bool {
	rest, ok := strings.CutPrefix(name, "part-")
	if !ok || !strings.HasSuffix(rest, ".parquet") {
		return false
	}
	run, n, ok := strings.Cut(strings.TrimSuffix(rest, ".parquet"), "-")
	_, err1 := strconv.ParseInt(run, 10, 64)
	_, err2 := strconv.Atoi(n)
	return ok && err1 == nil && err2 == nil
}

// ExportWarehouse writes one run as Parquet, one file per table in
// Hive-style partitions ({table}/{partition}/part-{run}-00000.parquet, see
// Partition), then schema.json, manifest.json and _SUCCESS in
// _manifests/{partition}. The changes table holds the changes since the
// previous complete run.
//
// Publication never shows a reader half an export: the new run's files
// have names of their own beside the previous run's, the manifest and
// _SUCCESS are replaced only once all of them are committed, and the
// previous run's files are removed only after that. A crash leaves the
// previous run complete under its manifest, or the new run complete under
// its manifest plus the previous run's files, which the next export of the
// partition removes. Exporting the same run again writes the same names,
// each replaced whole.
func ExportWarehouse(ctx context.Context, st *snapshot.Store, sink Sink, opts WarehouseOptions) (*Manifest, error) {
	switch opts.Partition {
	case "":
		opts.Partition = PartitionByDate
	case PartitionByDate, PartitionByRun:
	default:
		return nil, fmt.Errorf("partition %q: want date or run", opts.Partition)
	}
	j, err := newJob(ctx, st, opts.Options)
	if err != nil {
		return nil, err
	}
	j.warehouse = true
	defer j.close()
	date := opts.Date
	if date == "" {
		date = j.snap.Format(time.DateOnly)
	} else if _, err := time.Parse(time.DateOnly, date); err != nil {
		return nil, fmt.Errorf("date %q: want YYYY-MM-DD", date)
	}
	orgID, err := j.orgID(ctx)
	if err != nil {
		return nil, err
	}
	key := PartitionKey{Org: OrgName(j.run.Org), OrgID: orgID, Date: date}
	if opts.Partition == PartitionByRun {
		key.Run = j.run.ID
	}
	if err := j.resolveRunBaseline(ctx, 0); err != nil {
		return nil, err
	}
	if err := j.prepareChanges(ctx); err != nil {
		return nil, err
	}
	mdir := ManifestDir(key)
	pf := j.parquetFile("")
	pf.meta["ado_access.snapshot_date"] = date
	pf.meta["ado_access.partition"] = key.String()
	pf.meta["ado_access.org_id"] = orgID
	identity := Row{orgID, j.run.ID, j.snap}
	var files []File
	var dirs []string
	for _, base := range WarehouseTables {
		start := time.Now()
		t := warehouseTable(base)
		dir := Partition(base.Name, key)
		dirs = append(dirs, dir)
		out := &tableOut{t: t, src: base, prefix: identity}
		err := out.addFile(ctx, sink, FormatParquet, dir+"/"+PartName(j.run.ID, 0), func(d *digest) (rowWriter, error) {
			return newParquetWriter(d, t, pf), nil
		})
		if err != nil {
			return nil, err
		}
		fs, err := j.produceTo(ctx, out)
		if err != nil {
			return nil, fmt.Errorf("warehouse table %s: %w", base.Name, err)
		}
		files = append(files, fs...)
		heap, rss := memory()
		j.opts.Logger.Debug("table written", "table", base.Name, "rows", out.rows, "took", time.Since(start).Round(time.Millisecond), "heap_mib", int(heap), "peak_rss_mib", int(rss))
	}
	layout := "{table}/org={org}/org_id={org_id}/snapshot_date={snapshot_date}/part-{run}-{n}.parquet"
	if key.Run > 0 {
		layout = "{table}/org={org}/org_id={org_id}/snapshot_date={snapshot_date}/run={run}/part-{run}-{n}.parquet"
	}
	schema, err := writeDictionary(ctx, sink, mdir+"/"+SchemaName, warehouseDictionary(layout, key.Run > 0))
	if err != nil {
		return nil, err
	}
	files = append(files, schema)
	m := &Manifest{
		Kind: "warehouse", SchemaVersion: SchemaVersion,
		Org: j.run.Org, OrgName: key.Org, OrgID: orgID, Run: j.run.ID, SnapshotTime: j.run.SnapshotTime, SnapshotDate: date,
		Partition: key.String(), ToolVersion: j.opts.ToolVersion, Baseline: j.changes.info,
		Options: &ManifestOptions{DormantDays: j.opts.DormantDays, PrivilegedGroups: j.opts.PrivilegedGroups, MaxPrivileged: j.opts.MaxPrivileged},
		Root:    strings.TrimSuffix(strings.Repeat("../", len(splitPath(mdir))), "/"), Files: files, CreatedAt: now(),
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
	// Published: now the previous run's files (and what a crashed export
	// left) can go.
	for _, dir := range append(dirs, mdir) {
		if err := removeStale(ctx, sink, dir, files, partitionNames(dir)); err != nil {
			return nil, fmt.Errorf("run %d is published, but removing what earlier exports left failed (the next export removes it): %w", j.run.ID, err)
		}
	}
	return m, nil
}

// partitionNames are the files of a partition folder an export may remove:
// data parts and partial files directly in it, never a deeper folder (a
// date partition's run= folders belong to --partition run).
func partitionNames(dir string) func(string) bool {
	return func(name string) bool {
		rest, ok := strings.CutPrefix(name, dir+"/")
		if !ok || strings.Contains(rest, "/") {
			return false
		}
		return isPart(rest) || isPartial(rest)
	}
}

// orgID is the organization's stable id: the run's, or for a run from
// before ids were recorded, the store's.
func (j *job) orgID(ctx context.Context) (string, error) {
	if j.run.OrgID != "" {
		return j.run.OrgID, nil
	}
	org, ok, err := j.st.Organization(ctx)
	if err != nil {
		return "", err
	}
	if !ok || org.ID == "" {
		return "", fmt.Errorf("the store does not know the id of %s yet: run 'exporter sync' once, then export again", j.run.Org)
	}
	return org.ID, nil
}

// writeDictionary writes a data dictionary and returns its manifest entry.
func writeDictionary(ctx context.Context, sink Sink, name string, d *DataDictionary) (File, error) {
	file, f, err := stageDictionary(ctx, sink, name, d)
	if err != nil {
		return File{}, err
	}
	return file, f.Commit()
}

// stageDictionary stages a data dictionary and returns its manifest entry.
func stageDictionary(ctx context.Context, sink Sink, name string, d *DataDictionary) (File, SinkFile, error) {
	body, err := d.encode()
	if err != nil {
		return File{}, nil, err
	}
	f, err := sink.Create(ctx, name)
	if err != nil {
		return File{}, nil, err
	}
	dig := newDigest(f)
	if _, err := dig.Write(body); err != nil {
		f.Abort()
		return File{}, nil, fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Stage(); err != nil {
		f.Abort()
		return File{}, nil, err
	}
	return File{Path: name, Format: "json", Bytes: dig.n, SHA256: dig.sum()}, f, nil
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

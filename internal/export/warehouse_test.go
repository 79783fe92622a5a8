package export

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The warehouse export writes one Parquet part per table and run in
// Hive-style partitions keyed by the organization's name and id, each
// table led by the run identity columns; schema.json, the manifest and
// _SUCCESS come after every part, and the previous run's parts go only
// after them.
func TestWarehousePartitionsAndReruns(t *testing.T) {
	f := storeFixture(t, "small")
	ctx := context.Background()
	dir := t.TempDir()
	org, ok, err := f.st.Organization(ctx)
	if err != nil || !ok || org.ID == "" {
		t.Fatalf("the fixture store has no organization id: %+v %v", org, err)
	}
	key := PartitionKey{Org: "fabrikam", OrgID: org.ID, Date: "2026-11-08"}
	mdir := ManifestDir(key)
	if want := "_manifests/org=fabrikam/org_id=" + org.ID + "/snapshot_date=2026-11-08"; mdir != want {
		t.Fatalf("manifest folder %s, want %s", mdir, want)
	}

	// Run 1 first, then run 2 replaces it on the same date.
	if _, err := ExportWarehouse(ctx, f.st, NewLocalSink(dir), WarehouseOptions{Options: Options{Run: f.run1.ID}, Date: key.Date}); err != nil {
		t.Fatal(err)
	}
	// A stray part of an old run, a partial file a crash left, and a
	// --partition run folder of the same date.
	acc := Partition("accounts", key)
	os.WriteFile(filepath.Join(dir, acc, PartName(99, 0)), []byte("old"), 0o644)
	os.WriteFile(filepath.Join(dir, acc, partialPrefix+"x"), []byte("half"), 0o644)
	os.MkdirAll(filepath.Join(dir, acc, "run=1"), 0o755)
	os.WriteFile(filepath.Join(dir, acc, "run=1", PartName(1, 0)), []byte("kept"), 0o644)

	rec := &recordingSink{Sink: NewLocalSink(dir)}
	m, err := ExportWarehouse(ctx, f.st, rec, WarehouseOptions{Date: key.Date, Options: Options{Version: "v9", Commit: "abc"}})
	if err != nil {
		t.Fatal(err)
	}
	// Order: every part of run 2, then schema.json, manifest, _SUCCESS,
	// then (only then) the deletions; the old manifest is never deleted.
	success := slices.Index(rec.ops, "commit "+mdir+"/_SUCCESS")
	manifest := slices.Index(rec.ops, "commit "+mdir+"/manifest.json")
	if manifest < 0 || success != manifest+1 {
		t.Fatalf("manifest then _SUCCESS expected: %v", rec.ops)
	}
	for i, op := range rec.ops {
		switch {
		case strings.HasPrefix(op, "delete "):
			if i < success {
				t.Fatalf("%s before the new run was published: %v", op, rec.ops)
			}
			if strings.Contains(op, "manifest.json") || strings.Contains(op, "_SUCCESS") || strings.Contains(op, PartName(f.run2.ID, 0)) {
				t.Fatalf("%s: deleted what the new run published", op)
			}
		case strings.HasPrefix(op, "commit ") && strings.HasSuffix(op, ".parquet"):
			if i > manifest || !strings.HasSuffix(op, "/"+PartName(f.run2.ID, 0)) {
				t.Fatalf("%s after the manifest, or not run 2's part", op)
			}
		}
	}
	if m.Kind != "warehouse" || m.SchemaVersion != 2 || m.OrgID != org.ID || m.SnapshotDate != key.Date || m.Root != "../../../.." || m.Partition != key.String() {
		t.Fatalf("manifest %+v", m)
	}
	snap := f.run2.SnapshotTime.UTC().Truncate(time.Second).Format(time.RFC3339)
	var want []string
	for _, tbl := range WarehouseTables {
		p := Partition(tbl.Name, key) + "/" + PartName(f.run2.ID, 0)
		want = append(want, p)
		data := dirReader{dir}.read(t, p)
		wt := warehouseTable(tbl)
		got := readParquet(t, wt, data)
		if int64(len(got.rows)) != countOf(m.Tables, tbl.Name) {
			t.Fatalf("%s: %d rows, manifest %d", p, len(got.rows), countOf(m.Tables, tbl.Name))
		}
		for _, r := range got.rows {
			if r[0] != org.ID || r[1] != strconv.FormatInt(f.run2.ID, 10) || r[2] != snap {
				t.Fatalf("%s: run identity %q, want %s, %d, %s", p, r[:3], org.ID, f.run2.ID, snap)
			}
		}
		assertParquetForOldReaders(t, wt, data, "ado-access exporter version v9 (build abc)")
		if wt.Columns[0].Name != "org_id" || wt.Columns[3].Name != tbl.Columns[0].Name {
			t.Fatalf("%s columns %v", tbl.Name, wt.ColumnNames())
		}
	}
	after := files(t, dir)
	for _, gone := range []string{acc + "/" + PartName(f.run1.ID, 0), acc + "/" + PartName(99, 0), acc + "/" + partialPrefix + "x"} {
		if slices.Contains(after, gone) {
			t.Fatalf("%s survived the export of run 2", gone)
		}
	}
	if !slices.Contains(after, acc+"/run=1/"+PartName(1, 0)) {
		t.Fatal("a --partition run folder of the same date was removed")
	}
	var parts []string
	for _, p := range after {
		if strings.HasSuffix(p, ".parquet") && !strings.Contains(p, "/run=") {
			parts = append(parts, p)
		}
	}
	slices.Sort(want)
	if !slices.Equal(parts, want) {
		t.Fatalf("parts %v\nwant %v", parts, want)
	}

	// schema.json: listed in the manifest, the warehouse tables with the
	// identity columns, the partition columns.
	var d DataDictionary
	if err := json.Unmarshal(dirReader{dir}.read(t, mdir+"/"+SchemaName), &d); err != nil {
		t.Fatal(err)
	}
	if d.SchemaVersion != 2 || d.Kind != "warehouse" || len(d.Tables) != len(WarehouseTables) || d.Partitioning == nil ||
		len(d.Partitioning.Columns) != 3 || d.Tables[0].Columns[0].Name != "org_id" || !slices.Equal(d.Tables[0].Key, Accounts.Key) {
		t.Fatalf("schema.json %+v", d)
	}
	if !slices.ContainsFunc(m.Files, func(f File) bool { return f.Path == mdir+"/"+SchemaName }) {
		t.Fatal("the manifest does not list schema.json")
	}
	// The partition columns are typed as Hive readers infer them from the
	// path (DuckDB, Spark: snapshot_date=2026-11-08 is a DATE).
	for _, c := range d.Partitioning.Columns {
		if want := map[string]string{"org": "string", "org_id": "string", "snapshot_date": "date"}[c.Name]; c.Type != want {
			t.Errorf("schema.json partition column %s is typed %s, want %s", c.Name, c.Type, want)
		}
	}

	// Same run again: the same files, nothing more.
	before := files(t, dir)
	if _, err := ExportWarehouse(ctx, f.st, NewLocalSink(dir), WarehouseOptions{Date: key.Date, Options: Options{Version: "v9", Commit: "abc"}}); err != nil {
		t.Fatal(err)
	}
	if after := files(t, dir); !slices.Equal(before, after) {
		t.Fatalf("re-run changed the files:\n%v\n%v", before, after)
	}
	// Verify through the manifest folder.
	root, mrel := SplitManifestLocation(filepath.Join(dir, mdir))
	rep, err := Verify(ctx, NewLocalSink(root), mrel)
	if err != nil || !rep.OK() || rep.Checked != len(WarehouseTables)+1 || len(rep.Unlisted) != 0 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	os.Remove(filepath.Join(dir, mdir, "_SUCCESS"))
	if rep, err := Verify(ctx, NewLocalSink(root), mrel); err != nil || rep.OK() {
		t.Fatalf("verify without _SUCCESS: %+v %v", rep, err)
	}

	// Another run on its own date: a partition beside the first.
	if _, err := ExportWarehouse(ctx, f.st, NewLocalSink(dir), WarehouseOptions{Options: Options{Run: f.run1.ID}}); err != nil {
		t.Fatal(err)
	}
	k1 := key
	k1.Date = f.run1.SnapshotTime.UTC().Format("2006-01-02")
	if _, err := os.Stat(filepath.Join(dir, Partition("accounts", k1), PartName(f.run1.ID, 0))); err != nil {
		t.Fatalf("no partition for run 1's date %s: %v", k1.Date, err)
	}
	if _, err := os.Stat(filepath.Join(dir, acc, PartName(f.run2.ID, 0))); err != nil {
		t.Fatal("the other date's partition went away")
	}
}

// --partition run keeps every run of a day: each in a folder of its own,
// with a manifest of its own.
func TestWarehousePartitionByRun(t *testing.T) {
	f := storeFixture(t, "small")
	ctx := context.Background()
	dir := t.TempDir()
	org, _, _ := f.st.Organization(ctx)
	for _, run := range []int64{f.run1.ID, f.run2.ID} {
		m, err := ExportWarehouse(ctx, f.st, NewLocalSink(dir), WarehouseOptions{Options: Options{Run: run}, Date: "2026-11-08", Partition: PartitionByRun})
		if err != nil {
			t.Fatal(err)
		}
		if m.Root != "../../../../.." || !strings.HasSuffix(m.Partition, "/run="+strconv.FormatInt(run, 10)) {
			t.Fatalf("manifest root %q partition %q", m.Root, m.Partition)
		}
	}
	for _, run := range []int64{f.run1.ID, f.run2.ID} {
		key := PartitionKey{Org: "fabrikam", OrgID: org.ID, Date: "2026-11-08", Run: run}
		if _, err := os.Stat(filepath.Join(dir, Partition("groups", key), PartName(run, 0))); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		rep, err := Verify(ctx, NewLocalSink(dir), ManifestDir(key))
		if err != nil || !rep.OK() || len(rep.Unlisted) != 0 {
			t.Fatalf("verify run %d: %+v %v", run, rep, err)
		}
		var d DataDictionary
		json.Unmarshal(dirReader{dir}.read(t, ManifestDir(key)+"/"+SchemaName), &d)
		if d.Partitioning == nil || len(d.Partitioning.Columns) != 4 || !strings.Contains(d.Partitioning.Layout, "/run={run}/") {
			t.Fatalf("schema.json partitioning %+v", d.Partitioning)
		}
	}
	if _, err := ExportWarehouse(ctx, f.st, NewLocalSink(dir), WarehouseOptions{Partition: "hour"}); err == nil || !strings.Contains(err.Error(), "want date or run") {
		t.Fatalf("--partition hour: %v", err)
	}
}

func TestPartNames(t *testing.T) {
	for name, want := range map[string]bool{
		PartName(12, 0): true, "part-1-00001.parquet": true, "part-00000.parquet": false, "part-x-00000.parquet": false,
		"part-1-00000.parquet.tmp": false, "notes.parquet": false,
	} {
		if isPart(name) != want {
			t.Errorf("isPart(%q) = %v", name, !want)
		}
	}
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	names, err := NewLocalSink(dir).List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return names
}

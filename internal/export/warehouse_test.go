package export

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// The warehouse export writes one Parquet part per table in Hive-style
// partitions, the manifest after the data and _SUCCESS last; running it
// again for the same date replaces the partition, another date adds one.
func TestWarehousePartitionsAndReruns(t *testing.T) {
	f := storeFixture(t, "small")
	ctx := context.Background()
	dir := t.TempDir()
	rec := &recordingSink{Sink: NewLocalSink(dir)}
	m, err := ExportWarehouse(ctx, f.st, rec, WarehouseOptions{Date: "2026-11-08"})
	if err != nil {
		t.Fatal(err)
	}
	mdir := "_manifests/org=fabrikam/snapshot_date=2026-11-08"
	if n := len(rec.ops); rec.ops[n-1] != "commit "+mdir+"/_SUCCESS" || rec.ops[n-2] != "commit "+mdir+"/manifest.json" {
		t.Fatalf("the export did not end with the manifest, then _SUCCESS: %v", rec.ops[n-2:])
	}
	if !strings.HasPrefix(rec.ops[0], "delete "+mdir+"/_SUCCESS") || rec.ops[1] != "delete "+mdir+"/manifest.json" {
		t.Fatalf("the export did not begin by removing _SUCCESS and the manifest: %v", rec.ops[:2])
	}
	if m.Kind != "warehouse" || m.SchemaVersion != SchemaVersion || m.SnapshotDate != "2026-11-08" || m.Root != "../../.." {
		t.Fatalf("manifest %+v", m)
	}
	var want []string
	for _, tbl := range WarehouseTables {
		p := "" + tbl.Name + "/org=fabrikam/snapshot_date=2026-11-08/part-00000.parquet"
		want = append(want, p)
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		got := readParquet(t, tbl, b)
		if int64(len(got.rows)) != countOf(m.Tables, tbl.Name) {
			t.Fatalf("%s: %d rows, manifest %d", p, len(got.rows), countOf(m.Tables, tbl.Name))
		}
		pf, _ := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
		if v, _ := pf.Lookup("ado_access.schema_version"); v != "1" {
			t.Fatalf("%s: schema version metadata %q", p, v)
		}
	}
	// Same date again: the same files, nothing more; a stray file in a
	// partition goes.
	stray := filepath.Join(dir, "accounts/org=fabrikam/snapshot_date=2026-11-08/part-00001.parquet")
	os.WriteFile(stray, []byte("old"), 0o644)
	before := files(t, dir)
	if _, err := ExportWarehouse(ctx, f.st, NewLocalSink(dir), WarehouseOptions{Date: "2026-11-08"}); err != nil {
		t.Fatal(err)
	}
	after := files(t, dir)
	if slices.Contains(after, "accounts/org=fabrikam/snapshot_date=2026-11-08/part-00001.parquet") {
		t.Fatal("a stray part survived the re-run")
	}
	before = slices.DeleteFunc(before, func(s string) bool { return strings.HasSuffix(s, "part-00001.parquet") })
	if !slices.Equal(before, after) {
		t.Fatalf("re-run changed the files:\n%v\n%v", before, after)
	}
	var parts []string
	for _, p := range after {
		if strings.HasSuffix(p, ".parquet") {
			parts = append(parts, p)
		}
	}
	slices.Sort(want)
	if !slices.Equal(parts, want) {
		t.Fatalf("parts %v\nwant %v", parts, want)
	}
	// Verify through the manifest folder.
	root, mrel := SplitManifestLocation(filepath.Join(dir, mdir))
	rep, err := Verify(ctx, NewLocalSink(root), mrel)
	if err != nil || !rep.OK() || rep.Checked != len(WarehouseTables) || len(rep.Unlisted) != 0 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	os.Remove(filepath.Join(dir, mdir, "_SUCCESS"))
	if rep, err := Verify(ctx, NewLocalSink(root), mrel); err != nil || rep.OK() {
		t.Fatalf("verify without _SUCCESS: %+v %v", rep, err)
	}

	// Another run on another date: a partition beside the first.
	if _, err := ExportWarehouse(ctx, f.st, NewLocalSink(dir), WarehouseOptions{Options: Options{Run: f.run1.ID}}); err != nil {
		t.Fatal(err)
	}
	date1 := f.run1.SnapshotTime.UTC().Format("2006-01-02")
	if _, err := os.Stat(filepath.Join(dir, "accounts/org=fabrikam/snapshot_date="+date1, PartFile)); err != nil {
		t.Fatalf("no partition for run 1's date %s: %v", date1, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "accounts/org=fabrikam/snapshot_date=2026-11-08", PartFile)); err != nil {
		t.Fatal("the other date's partition went away")
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

package export

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ado-access/ado-access/internal/duckdb"
)

// DuckDB, a reader that shares nothing with parquet-go, reads a warehouse
// export as a Hive-partitioned dataset: every table's rows per partition
// equal the manifests, one run per partition, the partition columns come
// from the paths, absent values are NULL (never ”), and the files say who
// wrote them.
func TestWarehouseReadByDuckDB(t *testing.T) {
	db := duckdb.Need(t)
	f := storeFixture(t, "small")
	ctx := context.Background()
	byDate, byRun := t.TempDir(), t.TempDir()
	var dated, perRun []*Manifest
	for _, run := range []int64{f.run1.ID, f.run2.ID} {
		m, err := ExportWarehouse(ctx, f.st, NewLocalSink(byDate), WarehouseOptions{Options: Options{Run: run, Version: "v2.0.0"}, Date: fmt.Sprintf("2026-11-0%d", run)})
		if err != nil {
			t.Fatal(err)
		}
		dated = append(dated, m)
		m, err = ExportWarehouse(ctx, f.st, NewLocalSink(byRun), WarehouseOptions{Options: Options{Run: run}, Date: "2026-11-09", Partition: PartitionByRun})
		if err != nil {
			t.Fatal(err)
		}
		perRun = append(perRun, m)
	}
	var stmts []string
	for _, tbl := range WarehouseTables {
		stmts = append(stmts,
			fmt.Sprintf(`SELECT org, org_id, CAST(snapshot_date AS VARCHAR) AS d, count(*) AS n, count(DISTINCT run_id) AS runs, min(run_id) AS run
				FROM read_parquet(%s, hive_partitioning = true) GROUP BY ALL ORDER BY d`, duckdb.Quote(filepath.Join(byDate, tbl.Name, "*", "*", "*", "*.parquet"))),
			fmt.Sprintf(`SELECT CAST(run AS BIGINT) AS partition_run, count(*) AS n, count(DISTINCT run_id) AS runs, min(run_id) AS run
				FROM read_parquet(%s, hive_partitioning = true) GROUP BY ALL ORDER BY partition_run`, duckdb.Quote(filepath.Join(byRun, tbl.Name, "*", "*", "*", "*", "*.parquet"))))
	}
	accounts := duckdb.Quote(filepath.Join(byDate, "accounts", "*", "*", "*", "*.parquet"))
	stmts = append(stmts,
		`SELECT count(*) FILTER (WHERE mail IS NULL) AS null_mail, count(*) FILTER (WHERE mail = '') AS empty_mail,
			count(*) FILTER (WHERE license_display_name IS NULL) AS no_license, count(*) FILTER (WHERE descriptor IS NULL) AS null_key
			FROM read_parquet(`+accounts+`)`,
		`SELECT DISTINCT created_by FROM parquet_file_metadata(`+accounts+`)`,
		`SELECT count(*) AS n FROM parquet_kv_metadata(`+accounts+`) WHERE CAST(key AS VARCHAR) = 'ado_access.schema'`)
	res := db.Query(t, stmts...)
	for i, tbl := range WarehouseTables {
		got := res[2*i]
		n := 0
		for j, m := range dated {
			want := countOf(m.Tables, tbl.Name)
			if want == 0 {
				continue
			}
			if n >= len(got) {
				t.Fatalf("%s: DuckDB found no rows for %s", tbl.Name, m.SnapshotDate)
			}
			r := got[n]
			n++
			if r["d"] != m.SnapshotDate || duckdb.Int(r["n"]) != want || duckdb.Int(r["runs"]) != 1 || duckdb.Int(r["run"]) != m.Run ||
				r["org"] != "fabrikam" || r["org_id"] != m.OrgID {
				t.Fatalf("%s, export %d: DuckDB read %v; the manifest says %s: %d rows of run %d", tbl.Name, j, r, m.SnapshotDate, want, m.Run)
			}
		}
		if n != len(got) {
			t.Fatalf("%s: DuckDB read partitions %v", tbl.Name, got)
		}
		got = res[2*i+1]
		n = 0
		for _, m := range perRun {
			if countOf(m.Tables, tbl.Name) == 0 {
				continue
			}
			r := got[n]
			n++
			if duckdb.Int(r["partition_run"]) != m.Run || duckdb.Int(r["run"]) != m.Run || duckdb.Int(r["runs"]) != 1 || duckdb.Int(r["n"]) != countOf(m.Tables, tbl.Name) {
				t.Fatalf("%s, --partition run: DuckDB read %v; manifest of run %d says %d rows", tbl.Name, r, m.Run, countOf(m.Tables, tbl.Name))
			}
		}
	}
	nulls := res[len(res)-3][0]
	if duckdb.Int(nulls["null_mail"]) == 0 || duckdb.Int(nulls["empty_mail"]) != 0 || duckdb.Int(nulls["no_license"]) == 0 || duckdb.Int(nulls["null_key"]) != 0 {
		t.Fatalf("nulls in accounts: %v", nulls)
	}
	if cb := res[len(res)-2]; len(cb) != 1 || !strings.HasPrefix(fmt.Sprint(cb[0]["created_by"]), "ado-access exporter version v2.0.0") {
		t.Fatalf("created_by: %v", cb)
	}
	if kv := res[len(res)-1]; duckdb.Int(kv[0]["n"]) != 2 {
		t.Fatalf("ado_access.schema in %v of 2 accounts files", kv)
	}
}

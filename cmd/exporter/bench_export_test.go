package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// BenchmarkExportLarge exports the large organization (50k users, 10k
// groups, ~600k direct memberships, ~1.5M effective memberships) as a
// review packet in every format (CSV, Parquet, XLSX) and as a warehouse
// export, the exporter in its own process so its peak RSS is its own.
// The store holds two runs, 1,000 audited changes apart, so the changes
// table has rows. Building it takes about two minutes of syncing;
// EXPORT_BENCH_DB=FILE keeps the store in FILE and reuses it next time.
func BenchmarkExportLarge(b *testing.B) {
	bin := exporterBinary(b)
	db := os.Getenv("EXPORT_BENCH_DB")
	if db == "" {
		db = filepath.Join(b.TempDir(), "large.db")
	}
	if _, err := os.Stat(db); err != nil {
		buildLargeStore(b, bin, db)
	}
	env := []string{"EXPORTER_DB=" + db, "EXPORTER_LOG_LEVEL=warn"}
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		packet := filepath.Join(dir, "packet")
		p := runExporter(b, bin, env, "export", "packet", "--to", packet)
		m := readManifest(b, filepath.Join(packet, export.ManifestName))
		rows, bytes := manifestTotals(m)
		benchLine("export.packet.large.wall", p.wall.Seconds(), "s")
		benchLine("export.packet.large.peak_rss", p.peakRSS, "MiB")
		benchLine("export.packet.large.rows", float64(rows), "rows")
		benchLine("export.packet.large.rows_per_second", float64(rows)/p.wall.Seconds(), "rows/s")
		benchLine("export.packet.large.bytes", float64(bytes)/(1<<20), "MiB")

		wh := filepath.Join(dir, "warehouse")
		w := runExporter(b, bin, env, "export", "warehouse", "--to", wh)
		key := export.PartitionKey{Org: m.OrgName, OrgID: m.OrgID, Date: m.SnapshotTime.UTC().Format("2006-01-02")}
		wm := readManifest(b, filepath.Join(wh, export.ManifestDir(key), export.ManifestName))
		wrows, wbytes := manifestTotals(wm)
		benchLine("export.warehouse.large.wall", w.wall.Seconds(), "s")
		benchLine("export.warehouse.large.peak_rss", w.peakRSS, "MiB")
		benchLine("export.warehouse.large.rows", float64(wrows), "rows")
		benchLine("export.warehouse.large.parquet_rows_per_second", float64(wrows)/w.wall.Seconds(), "rows/s")
		benchLine("export.warehouse.large.bytes", float64(wbytes)/(1<<20), "MiB")

		v := runExporter(b, bin, env, "verify", packet)
		benchLine("verify.packet.large.wall", v.wall.Seconds(), "s")
		if p.peakRSS > 512 || w.peakRSS > 512 {
			b.Errorf("peak RSS %.0f MiB (packet) / %.0f MiB (warehouse), over the 512 MiB budget", p.peakRSS, w.peakRSS)
		}
	}
}

// buildLargeStore syncs the large organization twice into db, with 1,000
// changes in between.
func buildLargeStore(b *testing.B, bin, db string) {
	b.Helper()
	sim, err := adosim.New(adosim.Options{Preset: "large"})
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	env := []string{"ADO_ORG_URL=" + sim.URL(), "ADO_PAT=" + sim.Credential("readonly"), "EXPORTER_DB=" + db, "EXPORTER_LOG_LEVEL=warn"}
	runExporter(b, bin, env, "sync")
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 1000, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	runExporter(b, bin, env, "sync")
	st, err := snapshot.OpenExisting(context.Background(), db)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if runs, _ := st.Runs(context.Background()); len(runs) != 2 {
		b.Fatalf("the large store has %d runs, want 2", len(runs))
	}
}

func readManifest(b *testing.B, path string) *export.Manifest {
	b.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	m, err := export.ParseManifest(body)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// manifestTotals are the table rows an export wrote (each table once,
// whatever the formats) and the bytes of all its files.
func manifestTotals(m *export.Manifest) (rows, bytes int64) {
	for _, t := range m.Tables {
		rows += t.N
	}
	for _, f := range m.Files {
		bytes += f.Bytes
	}
	return rows, bytes
}

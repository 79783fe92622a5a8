package export

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// A production-looking environment without an enabled Approval is found
// (medium), one with an Approval is not; Azure connections without one
// are found (low); resource_checks lists every check with its approvers
// named, and goes to the warehouse.
func TestEnvironmentWithoutApprovalFinding(t *testing.T) {
	sim, err := adosim.New(adosim.Options{Preset: "small", Seed: 8, GeneratedAt: genTime, Now: func() time.Time { return genTime.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	sim.PlantEnvironment("Production-planted-bare", false)
	sim.PlantEnvironment("prd-planted-guarded", true)
	sim.PlantEnvironment("preprod-planted", false) // not production-looking
	ctx := context.Background()
	st, err := snapshot.Open(ctx, filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c, err := collect.Dial(ctx, sim.URL(), collect.Credential{PAT: sim.Credential("readwrite")}, collect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := collect.Sync(ctx, c, st, collect.SyncOptions{Mode: "full", Teams: true, Pipelines: true}); err != nil {
		t.Fatal(err)
	}
	dir, warehouse := t.TempDir(), t.TempDir()
	if _, err := ExportPacket(ctx, st, NewLocalSink(dir), PacketOptions{Formats: []string{"csv"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ExportWarehouse(ctx, st, NewLocalSink(warehouse), WarehouseOptions{Date: "2026-11-01"}); err != nil {
		t.Fatal(err)
	}
	var envFindings []string
	azure := 0
	for _, r := range pipeCSV(t, filepath.Join(dir, "findings.csv"))[1:] {
		switch r[0] {
		case FindEnvNoApproval:
			if r[1] != severityMd {
				t.Errorf("%s has severity %s", r[0], r[1])
			}
			envFindings = append(envFindings, r[6])
		case FindAzureNoApproval:
			azure++
		}
	}
	has := func(name string) bool {
		return slices.ContainsFunc(envFindings, func(d string) bool { return strings.Contains(d, `"`+name+`"`) })
	}
	if !has("Production-planted-bare") {
		t.Errorf("no %s finding for the planted environment without approval: %q", FindEnvNoApproval, envFindings)
	}
	if has("prd-planted-guarded") || has("preprod-planted") {
		t.Errorf("%s found for an environment with an approval or not production-looking: %q", FindEnvNoApproval, envFindings)
	}
	if azure == 0 {
		t.Errorf("no %s finding on the small organization", FindAzureNoApproval)
	}
	recs := pipeCSV(t, filepath.Join(dir, "resource_checks.csv"))
	if got, want := len(recs)-1, len(sim.ResourceChecks()); got != want || want == 0 {
		t.Errorf("resource_checks.csv: %d rows, the simulator holds %d checks", got, want)
	}
	guarded := false
	for _, r := range recs[1:] {
		if r[ResourceChecksT.Index("resource_name")] == "prd-planted-guarded" {
			guarded = r[ResourceChecksT.Index("type")] == "Approval" && r[ResourceChecksT.Index("approver_names")] != "" &&
				strings.HasPrefix(r[ResourceChecksT.Index("approvers")], `["`)
		}
	}
	if !guarded {
		t.Error("resource_checks.csv lacks the planted environment's Approval with its approver named")
	}
	found := false
	filepath.Walk(filepath.Join(warehouse, "resource_checks"), func(path string, _ os.FileInfo, err error) error {
		found = found || err == nil && strings.HasSuffix(path, ".parquet")
		return nil
	})
	if !found {
		t.Error("the warehouse has no resource_checks table")
	}
}

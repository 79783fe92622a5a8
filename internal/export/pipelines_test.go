package export

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// pipelineFixture syncs a small organization with pipeline resources and
// tokens, changes some (secrets added, tokens issued), and syncs again.
func pipelineFixture(t *testing.T) (*adosim.Server, *snapshot.Store, string) {
	t.Helper()
	sim, err := adosim.New(adosim.Options{Preset: "small", Seed: 8, GeneratedAt: genTime, Now: func() time.Time { return genTime.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	ctx := context.Background()
	st, err := snapshot.Open(ctx, filepath.Join(dir, "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sync := func(mode string) {
		c, err := collect.Dial(ctx, sim.URL(), collect.Credential{PAT: sim.Credential("readwrite")}, collect.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := collect.Sync(ctx, c, st, collect.SyncOptions{Mode: mode, Teams: true, Permissions: true, Pipelines: true, Tokens: true}); err != nil {
			t.Fatal(err)
		}
	}
	sync("full")
	// Seed 3: with the check and SSH kinds in the mix, seed 2's changes
	// revoke the one token of an inactive account that small seed 8 has,
	// and TestPipelineFindings needs every kind of finding present.
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 15, Seed: 3, Kinds: adosim.PipelineMutationKinds()}); err != nil {
		t.Fatal(err)
	}
	sync("incremental")
	return sim, st, dir
}

// pipeCSV reads one packet table.
func pipeCSV(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// No secret the simulator holds (a connection's credential, a secret
// variable's value, a token) appears in the store, a packet (CSV, the
// workbook's XML, JSON) or the warehouse. Parquet files are compressed;
// they hold the rows the CSV files hold (the round-trip tests check that).
func TestPipelineSecretsReachNoOutput(t *testing.T) {
	sim, st, storeDir := pipelineFixture(t)
	ctx := context.Background()
	packet, warehouse := t.TempDir(), t.TempDir()
	if _, err := ExportPacket(ctx, st, NewLocalSink(packet), PacketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ExportWarehouse(ctx, st, NewLocalSink(warehouse), WarehouseOptions{Date: "2026-11-01"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	secrets := sim.Secrets()
	if len(secrets) < 20 {
		t.Fatalf("only %d secrets planted", len(secrets))
	}
	searched := 0
	search := func(name string, b []byte) {
		searched++
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the secret %q", name, s)
			}
		}
	}
	for _, root := range []string{storeDir, packet, warehouse} {
		filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			search(path, b)
			if strings.HasSuffix(path, ".xlsx") {
				zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range zr.File {
					rc, err := f.Open()
					if err != nil {
						t.Fatal(err)
					}
					x, _ := io.ReadAll(rc)
					rc.Close()
					search(path+"!"+f.Name, x)
				}
			}
			return nil
		})
	}
	if searched < 20 {
		t.Fatalf("searched only %d files", searched)
	}
	// The warehouse has the tables too.
	for _, name := range []string{"service_connections", "personal_access_tokens", "resource_roles"} {
		found := false
		filepath.Walk(filepath.Join(warehouse, name), func(path string, info os.FileInfo, err error) error {
			found = found || err == nil && strings.HasSuffix(path, ".parquet")
			return nil
		})
		if !found {
			t.Errorf("the warehouse has no %s table", name)
		}
	}
	// The tables are there and hold what the organization has.
	want := sim.PipelineCounts()
	for name, n := range map[string]int{"service_connections": want.Connections, "variable_groups": want.VariableGroups,
		"personal_access_tokens": want.Tokens, "agent_queues": want.Queues} {
		if got := len(pipeCSV(t, filepath.Join(packet, name+".csv"))) - 1; got != n {
			t.Errorf("%s.csv: %d rows, the organization holds %d", name, got, n)
		}
	}
}

// The findings about pipeline resources and tokens come out, each row
// naming what it is about.
func TestPipelineFindings(t *testing.T) {
	_, st, _ := pipelineFixture(t)
	dir := t.TempDir()
	if _, err := ExportPacket(context.Background(), st, NewLocalSink(dir), PacketOptions{Formats: []string{"csv"}, Options: Options{MaxPATDays: 60}}); err != nil {
		t.Fatal(err)
	}
	recs := pipeCSV(t, filepath.Join(dir, "findings.csv"))
	byKind := map[string]int{}
	for _, r := range recs[1:] {
		byKind[r[0]]++
		if r[0] == FindPATTooLong && !strings.Contains(r[6], "more than 60") {
			t.Errorf("pat_valid_too_long detail %q does not say the limit", r[6])
		}
		// SSH keys are found only for their accounts, under a kind of
		// their own.
		if (strings.HasPrefix(r[0], "pat_") || r[0] == FindSSHInactiveOwner) && strings.HasPrefix(r[0], "pat_") == strings.Contains(r[6], "SSH key") {
			t.Errorf("%s: detail %q", r[0], r[6])
		}
	}
	for _, k := range []string{FindOpenToAllPipelines, FindPATFullAccess, FindPATTooLong, FindPATGlobal, FindPATInactiveOwner, FindRoleToIndividual, FindAzureAdminOutside, FindSSHInactiveOwner} {
		if byKind[k] == 0 {
			t.Errorf("no %s finding (%v)", k, byKind)
		}
	}
	// Each open-to-all finding is a connection or a secret group the
	// packet lists as open.
	open := 0
	for _, r := range pipeCSV(t, filepath.Join(dir, "service_connections.csv"))[1:] {
		if r[ServiceConnections.Index("all_pipelines")] == "true" {
			open++
		}
	}
	if open == 0 || byKind[FindOpenToAllPipelines] < open {
		t.Errorf("%d connections open to all pipelines, %d findings", open, byKind[FindOpenToAllPipelines])
	}
}

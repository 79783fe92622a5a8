package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ado-access/ado-access/internal/adosim"
)

func TestExportPacketAndVerifyCommands(t *testing.T) {
	_, env := simEnv(t, adosim.Options{Preset: "small"})
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	dir := filepath.Join(t.TempDir(), "packet")
	code, out, errs := cli(t, env, "export", "packet", "--to", dir, "--privileged-groups", "Project Administrators,Project Collection Administrators", "--dormant-days", "60")
	if code != 0 {
		t.Fatalf("export packet: exit %d: %s", code, errs)
	}
	for _, want := range []string{"packet ", "effective_access", "manifest.json written to " + dir} {
		if !strings.Contains(out, want) {
			t.Errorf("export output lacks %q:\n%s", want, out)
		}
	}
	for _, name := range []string{"manifest.json", "accounts.csv", "accounts.parquet", "changes.csv", "findings.parquet", "packet.xlsx"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("the packet lacks %s", name)
		}
	}
	var m struct {
		Options struct {
			DormantDays      int      `json:"dormant_days"`
			PrivilegedGroups []string `json:"privileged_groups"`
		} `json:"options"`
		Baseline struct{ Kind string } `json:"baseline"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err := json.Unmarshal(b, &m); err != nil || m.Options.DormantDays != 60 || len(m.Options.PrivilegedGroups) != 2 || m.Baseline.Kind != "none" {
		t.Fatalf("manifest options %+v baseline %+v (%v)", m.Options, m.Baseline, err)
	}

	code, out, _ = cli(t, env, "verify", dir)
	if code != 0 || !strings.HasPrefix(out, "ok: packet ") {
		t.Fatalf("verify: exit %d %q", code, out)
	}
	code, out, _ = cli(t, env, "verify", dir, "--format", "json")
	var rep map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep["ok"] != true {
		t.Fatalf("verify --format json: exit %d %q", code, out)
	}

	// One changed byte: verify names the file and exits 1.
	p := filepath.Join(dir, "memberships.csv")
	data, _ := os.ReadFile(p)
	data[len(data)-3] ^= 0x20
	os.WriteFile(p, data, 0o644)
	code, out, errs = cli(t, env, "verify", dir)
	if code != 1 || !strings.Contains(out, "MISMATCH  memberships.csv: SHA-256") || !strings.Contains(errs, "1 of ") {
		t.Fatalf("verify after tampering: exit %d\n%s%s", code, out, errs)
	}
	os.Remove(filepath.Join(dir, "manifest.json"))
	if code, _, errs := cli(t, env, "verify", dir); code != 1 || !strings.Contains(errs, "no manifest.json") {
		t.Fatalf("verify without a manifest: exit %d %q", code, errs)
	}
	// JSON asked for, JSON answered, errors included.
	code, out, _ = cli(t, env, "verify", dir, "--format", "json")
	rep = nil
	if code != 1 || json.Unmarshal([]byte(out), &rep) != nil || rep["ok"] != false || !strings.Contains(fmt.Sprint(rep["error"]), "no manifest.json") {
		t.Fatalf("verify --format json without a manifest: exit %d %q", code, out)
	}

	// Default location, and changes since the first run.
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("second sync: %s", errs)
	}
	tmp := t.TempDir()
	t.Chdir(tmp)
	code, out, errs = cli(t, env, "export", "packet", "--format", "csv")
	if code != 0 || !strings.Contains(out, "written to packet-fabrikam-run2") {
		t.Fatalf("export to the default folder: exit %d %s %s", code, out, errs)
	}
	b, _ = os.ReadFile(filepath.Join(tmp, "packet-fabrikam-run2", "manifest.json"))
	if !strings.Contains(string(b), `"kind": "run"`) {
		t.Fatalf("the second packet's baseline is not the first run:\n%s", b)
	}
}

func TestExportWarehouseCommand(t *testing.T) {
	_, env := simEnv(t, adosim.Options{Preset: "small"})
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	dir := t.TempDir()
	for range 2 { // the second export replaces the partition
		code, out, errs := cli(t, env, "export", "warehouse", "--to", dir, "--date", "2026-11-02")
		if code != 0 || !strings.Contains(out, "partition org=fabrikam/org_id=") || !strings.Contains(out, "/snapshot_date=2026-11-02") {
			t.Fatalf("export warehouse: exit %d %s %s", code, out, errs)
		}
	}
	mdirs, _ := filepath.Glob(filepath.Join(dir, "_manifests/org=fabrikam/org_id=*/snapshot_date=2026-11-02"))
	if len(mdirs) != 1 {
		t.Fatalf("manifest folders %v", mdirs)
	}
	orgID := strings.TrimPrefix(filepath.Base(filepath.Dir(mdirs[0])), "org_id=")
	part := "org=fabrikam/org_id=" + orgID + "/snapshot_date=2026-11-02"
	for _, p := range []string{"accounts/" + part + "/part-1-00000.parquet", "changes/" + part + "/part-1-00000.parquet",
		"_manifests/" + part + "/manifest.json", "_manifests/" + part + "/schema.json", "_manifests/" + part + "/_SUCCESS"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("missing %s", p)
		}
	}
	if code, out, errs := cli(t, env, "verify", mdirs[0]); code != 0 || !strings.Contains(out, "ok: warehouse") {
		t.Fatalf("verify the warehouse export: exit %d %s %s", code, out, errs)
	}
	// The root itself: say what it holds and how to verify it (issue 19,
	// item 10).
	if code, _, errs := cli(t, env, "verify", dir); code != 1 || !strings.Contains(errs, "is a warehouse root holding 1 manifest: verify each by its folder") ||
		!strings.Contains(errs, "'exporter verify "+dir+"/_manifests/"+part+"'") || strings.Contains(errs, "still being written") {
		t.Fatalf("verify the warehouse root: exit %d %s", code, errs)
	}
	// Two runs the same day, each kept with --partition run.
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	for _, run := range []string{"1", "2"} {
		if code, out, errs := cli(t, env, "export", "warehouse", "--to", dir, "--date", "2026-11-03", "--partition", "run", "--run", run); code != 0 || !strings.Contains(out, "/run="+run) {
			t.Fatalf("export warehouse --partition run --run %s: exit %d %s %s", run, code, out, errs)
		}
	}
	for _, run := range []string{"1", "2"} {
		p := "groups/org=fabrikam/org_id=" + orgID + "/snapshot_date=2026-11-03/run=" + run + "/part-" + run + "-00000.parquet"
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("missing %s", p)
		}
	}
}

// --csv-bom: every CSV of the packet starts with a UTF-8 byte-order mark,
// and the packet still verifies and diffs.
func TestExportPacketCSVBOM(t *testing.T) {
	_, env := simEnv(t, adosim.Options{Preset: "small"})
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	dir := filepath.Join(t.TempDir(), "p")
	if code, _, errs := cli(t, env, "export", "packet", "--format", "csv", "--csv-bom", "--to", dir); code != 0 {
		t.Fatalf("export: %s", errs)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	if len(names) == 0 {
		t.Fatal("no CSV")
	}
	for _, n := range names {
		b, _ := os.ReadFile(n)
		if !bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) || bytes.HasPrefix(b[3:], []byte("\xef\xbb\xbf")) {
			t.Fatalf("%s does not start with one BOM: %q", n, b[:min(len(b), 8)])
		}
	}
	if code, out, errs := cli(t, env, "verify", dir); code != 0 {
		t.Fatalf("verify: %s %s", out, errs)
	}
	if code, out, errs := cli(t, env, "diff", "--packets", dir, dir, "--exit-code"); code != 0 {
		t.Fatalf("diff a BOM packet against itself: exit %d %s %s", code, out, errs)
	}
}

func TestExportUsageErrors(t *testing.T) {
	_, env := simEnv(t, adosim.Options{Preset: "small"})
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export"}, 2, "packet or warehouse"},
		{[]string{"export", "report"}, 2, `unknown export "report"`},
		{[]string{"export", "packet", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"export", "warehouse", "--format", "csv"}, 2, "--format does not apply to export warehouse"},
		{[]string{"export", "packet", "--date", "2026-11-01"}, 2, "--date does not apply to export packet"},
		{[]string{"export", "packet", "--format", "csv,pdf"}, 2, `unknown format "pdf"`},
		{[]string{"export", "packet", "--baseline", filepath.Join(t.TempDir(), "nope")}, 2, "no such run or packet folder"},
		{[]string{"export", "packet", "--baseline", "0"}, 2, "want a run id"},
		{[]string{"export", "packet", "--dormant-days", "0"}, 2, "--dormant-days 0"},
		{[]string{"export", "warehouse", "--date", "02/11/2026"}, 2, "want YYYY-MM-DD"},
		{[]string{"export", "warehouse", "--partition", "hour"}, 2, `--partition "hour": want date or run`},
		{[]string{"export", "warehouse", "--csv-bom"}, 2, "--csv-bom does not apply to export warehouse"},
		{[]string{"export", "packet", "--partition", "run"}, 2, "--partition does not apply to export packet"},
		{[]string{"export", "packet", "--run", "42"}, 1, "no such run"},
		{[]string{"export", "packet", "--baseline", "42", "--to", t.TempDir()}, 1, "no such run"},
		{[]string{"export", "packet", "--to", "azblob://reviews/q4"}, 1, "AZURE_STORAGE_CONNECTION_STRING"},
		{[]string{"verify"}, 2, "verify needs one LOCATION"},
	} {
		code, _, errs := cli(t, env, tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d %q; want exit %d and %q", tt.args, code, errs, tt.code, tt.want)
		}
	}
}

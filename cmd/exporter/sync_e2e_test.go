package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// cli runs the exporter in-process with the given environment and returns
// its exit code, stdout and stderr.
func cli(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	return code, out.String(), errb.String()
}

func simEnv(t *testing.T, opts adosim.Options) (*adosim.Server, map[string]string) {
	t.Helper()
	if opts.GeneratedAt.IsZero() {
		opts.GeneratedAt = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	sim, err := adosim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim, map[string]string{
		"ADO_ORG_URL": sim.URL(),
		"ADO_PAT":     sim.Credential("readonly"),
		"EXPORTER_DB": filepath.Join(t.TempDir(), "store.db"),
	}
}

func TestSyncRunsShowCommands(t *testing.T) {
	sim, env := simEnv(t, adosim.Options{Preset: "small"})
	code, out, errs := cli(t, env, "sync")
	if code != 0 {
		t.Fatalf("sync exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "run 1 (full)") || !strings.Contains(out, "versions written") {
		t.Fatalf("sync summary: %q", out)
	}
	if strings.Contains(out+errs, env["ADO_PAT"]) {
		t.Fatal("the PAT appears in the output")
	}

	code, out, _ = cli(t, env, "runs", "--format", "json")
	var runs []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &runs) != nil || len(runs) != 1 {
		t.Fatalf("runs json: exit %d %q", code, out)
	}
	for _, k := range []string{"id", "org", "kind", "status", "started_at", "finished_at", "api_requests", "versions_written"} {
		if _, ok := runs[0][k]; !ok {
			t.Errorf("runs json lacks %q", k)
		}
	}
	if runs[0]["status"] != "complete" || runs[0]["api_requests"].(float64) == 0 {
		t.Fatalf("run = %v", runs[0])
	}

	// CSV: a header row, one row per entity, descriptor columns, and no
	// value a spreadsheet would evaluate.
	counts := sim.Stats().Counts
	escaped := 0
	for kind, want := range map[string]struct {
		cols []string
		rows int
	}{
		"users":              {[]string{"descriptor", "display_name", "license", "last_accessed"}, counts.Users},
		"service-principals": {[]string{"descriptor", "application_id"}, counts.ServicePrincipals},
		"service-accounts":   {[]string{"descriptor"}, counts.ServiceAccounts},
		"groups":             {[]string{"descriptor", "principal_name"}, counts.Groups},
		"memberships":        {[]string{"group_descriptor", "member_descriptor"}, counts.Memberships},
		"projects":           {[]string{"id", "name"}, counts.Projects},
		"teams":              {[]string{"id", "name"}, counts.Teams},
		"repos":              {[]string{"id", "name"}, counts.Repositories},
	} {
		code, out, errs := cli(t, env, "show", kind, "--format", "csv")
		if code != 0 {
			t.Fatalf("show %s: exit %d %s", kind, code, errs)
		}
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("show %s: not CSV: %v", kind, err)
		}
		for _, c := range want.cols {
			if !contains(recs[0], c) {
				t.Errorf("show %s: header %v lacks %s", kind, recs[0], c)
			}
		}
		if len(recs)-1 != want.rows {
			t.Errorf("show %s: %d rows, want %d", kind, len(recs)-1, want.rows)
		}
		escaped += formulaFree(t, "show "+kind, recs)
	}
	if escaped == 0 {
		t.Error("no value was defused: the simulator's hostile names (a leading '=') did not reach the CSV")
	}

	// Access through nested groups: "Cycle A" and "Cycle B" contain each
	// other; a member of A reaches B through A, and the query ends.
	code, out, errs = cli(t, env, "show", "members", "Cycle A", "--format", "json")
	var members []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &members) != nil || len(members) < 2 {
		t.Fatalf("show members: exit %d %s %s", code, out, errs)
	}
	var user string
	for _, m := range members {
		if m["kind"] == "user" {
			user = m["descriptor"].(string)
		}
	}
	code, out, errs = cli(t, env, "show", "access", user, "--format", "json")
	var access []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &access) != nil {
		t.Fatalf("show access: exit %d %s %s", code, out, errs)
	}
	nested := false
	for _, a := range access {
		// Paths name groups, as diff does; descriptors are beside them.
		if strings.HasSuffix(a["group_name"].(string), `\Cycle B`) && a["via"] == "nested" &&
			strings.HasPrefix(a["path"].(string), "via ") && strings.HasSuffix(a["path"].(string), `\Cycle A → `+a["group_name"].(string)) &&
			strings.Contains(a["path_descriptors"].(string), " > ") {
			nested = true
		}
		if a["via"] == "direct" && a["path"] != "direct" {
			t.Errorf("a direct membership's path is %q, want \"direct\"", a["path"])
		}
	}
	if !nested {
		t.Fatalf("access of a Cycle A member lacks nested Cycle B with a path: %v", access)
	}

	// Mistakes are usage errors with exit code 2.
	if code, _, errs := cli(t, env, "show", "widgets"); code != 2 || !strings.Contains(errs, "unknown kind") {
		t.Fatalf("show widgets: exit %d %q", code, errs)
	}
	if code, _, errs := cli(t, env, "show", "users", "--run", "99"); code != 1 || !strings.Contains(errs, "no such run") {
		t.Fatalf("show --run 99: exit %d %q", code, errs)
	}
}

// A credential in the organization URL is refused by every command that
// takes one, and never repeated.
func TestOrgURLWithCredentialIsRefused(t *testing.T) {
	const secret = "S3cretPAT"
	db := filepath.Join(t.TempDir(), "s.db")
	for _, env := range []map[string]string{
		{"ADO_ORG_URL": "https://x:" + secret + "@dev.azure.com/org", "ADO_PAT": "p", "EXPORTER_DB": db},
		{"ADO_ORG_URL": "https://" + secret + "@dev.azure.com/org", "ADO_PAT": "p", "EXPORTER_DB": db},
	} {
		for _, args := range [][]string{{"sync"}, {"runs"}, {"show", "users"}, {"diff"}, {"export", "packet"}} {
			code, out, errs := cli(t, env, args...)
			if code != 2 || !strings.Contains(errs, "never in the URL") || strings.Contains(out+errs, secret) {
				t.Errorf("%v: exit %d, %q; want 2, a refusal that never repeats the secret", args, code, errs)
			}
		}
	}
	if _, err := os.Stat(db); err == nil {
		t.Fatal("a refused sync left a store")
	}
}

func TestSyncNeedsOrgAndCredential(t *testing.T) {
	if code, _, errs := cli(t, map[string]string{}, "sync"); code != 2 || !strings.Contains(errs, "ADO_ORG_URL") {
		t.Fatalf("sync without org: exit %d %q", code, errs)
	}
	env := map[string]string{"ADO_ORG_URL": "https://dev.azure.com/x", "EXPORTER_DB": filepath.Join(t.TempDir(), "s.db")}
	if code, _, errs := cli(t, env, "sync"); code != 2 || !strings.Contains(errs, "no credential") {
		t.Fatalf("sync without credential: exit %d %q, want 2 (a usage error)", code, errs)
	}
	if _, err := os.Stat(env["EXPORTER_DB"]); err == nil {
		t.Fatal("a sync that never started left a store file")
	}
	if code, _, errs := cli(t, map[string]string{"EXPORTER_DB": filepath.Join(t.TempDir(), "none.db")}, "runs"); code != 1 || !strings.Contains(errs, "exporter sync") {
		t.Fatalf("runs without a store: exit %d %q", code, errs)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// exporterBinary builds the exporter once per test run, for tests that need
// a real process (to kill it).
func exporterBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "exporter-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "exporter")
		out, err := osexec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = &buildError{out: string(out), err: err}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// A sync killed with SIGKILL part-way leaves the last good snapshot intact;
// the next sync marks the broken run failed and completes.
func TestKillNineMidSyncKeepsTheLastSnapshot(t *testing.T) {
	t.Parallel()
	bin := exporterBinary(t)
	// Latency makes the sync take long enough to be killed in the middle.
	spec := adosim.Presets["small"]
	spec.Users, spec.Projects = 1500, 30
	sim, env := simEnv(t, adosim.Options{Spec: &spec, Faults: adosim.Faults{Latency: adosim.Duration(60 * time.Millisecond)}})
	ctx := context.Background()

	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("first sync: %s", errs)
	}
	st, err := snapshot.OpenExisting(ctx, env["EXPORTER_DB"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	first, _ := st.LatestRun(ctx)
	before := storeDigest(t, st, first.ID)

	if _, err := sim.Mutate(adosim.MutateRequest{Count: 30, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	cmd := osexec.Command(bin, "sync", "--mode", "full", "--concurrency", "2")
	cmd.Env = append(os.Environ(), "ADO_ORG_URL="+env["ADO_ORG_URL"], "ADO_PAT="+env["ADO_PAT"], "EXPORTER_DB="+env["EXPORTER_DB"])
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once it has recorded its run and read for a while.
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs, _ := st.Runs(ctx)
		if len(runs) == 2 && runs[1].Status == "running" {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the second sync never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(400 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	runs, _ := st.Runs(ctx)
	if len(runs) != 2 || runs[1].Status != "running" {
		t.Fatalf("the killed sync finished before it was killed (runs %+v); raise the latency", runs)
	}
	if latest, _ := st.LatestRun(ctx); latest.ID != first.ID {
		t.Fatalf("latest complete run is %d, want %d", latest.ID, first.ID)
	}
	if !sameDigest(before, storeDigest(t, st, first.ID)) {
		t.Fatal("the last good snapshot changed after the kill")
	}

	code, _, errs := cli(t, env, "sync")
	if code != 0 {
		t.Fatalf("sync after the kill: %s", errs)
	}
	runs, _ = st.Runs(ctx)
	if len(runs) != 3 || runs[1].Status != "failed" || runs[2].Status != "complete" {
		t.Fatalf("runs after recovery: %+v", runs)
	}
	var users int
	st.DB().QueryRow(`SELECT count(*) FROM accounts WHERE kind = 'user' AND `+snapshot.AtRun, runs[2].ID, runs[2].ID).Scan(&users)
	if users != sim.Stats().Counts.Users {
		t.Fatalf("recovered sync has %d users, the organization %d", users, sim.Stats().Counts.Users)
	}
}

func storeDigest(t *testing.T, st *snapshot.Store, run int64) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, tbl := range snapshot.Tables {
		var n, sum sql.NullInt64
		st.DB().QueryRow(`SELECT count(*), total(hash) FROM `+tbl.Name+` WHERE `+snapshot.AtRun, run, run).Scan(&n, &sum)
		out[tbl.Name] = n.Int64*1_000_003 + sum.Int64
	}
	return out
}

func sameDigest(a, b map[string]int64) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

// The main job on the embedded default: the demo syncs, changes, syncs
// incrementally, diffs and exports a packet that verifies.
func TestDemoRunsTheMainJob(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo")
	code, stdout, errs := cli(t, map[string]string{}, "demo", "--out", out, "--changes", "10")
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s", code, errs)
	}
	files := 2*len(export.PacketTables) + 3 // each table's CSV and Parquet, the workbook, schema.json and report.html
	for _, want := range []string{"run 1 (full)", "run 2 (incremental)",
		// Seed 7's ten changes are mapped to re-reads, and Entra ID is swept.
		"10 entries read", "mapped to re-reads", "Entra ID swept", "access_gained", fmt.Sprintf("verified: %d checked, 0 problems", files),
		"3 done, 0 failed; verified live: 3 of 3 as wanted", "run 3 (incremental)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	// The reviewer filled the workbook in: it alone differs from the manifest.
	if code, vout, errs := cli(t, map[string]string{}, "verify", filepath.Join(out, "packet-run2")); code != 1 || !strings.Contains(errs, fmt.Sprintf("1 of %d files", files)) || !strings.Contains(vout, "MISMATCH  packet.xlsx") {
		t.Fatalf("verify of the demo packet: exit %d %s %s", code, vout, errs)
	}
	// The loop: exactly the revoked memberships are gone in the last run.
	_, last, _ := strings.Cut(stdout, "9. Sync again")
	last, _, _ = strings.Cut(last, "\nStore: ")
	if strings.Count(last, "memberships removed: ") != 3 || strings.Count(last, " removed: ")+strings.Count(last, " added: ")+strings.Count(last, " modified: ") != 3 {
		t.Errorf("the diff after apply does not show the 3 revokes alone:\n%s", stdout)
	}
	signedEvidencePacket(t, filepath.Join(out, "ado-access.db"))

	// The "Next:" commands work as printed.
	_, next, _ := strings.Cut(stdout, "\nNext")
	ran := 0
	for _, line := range strings.Split(next, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "exporter" {
			continue
		}
		if code, _, errs := cli(t, map[string]string{}, fields[1:]...); code != 0 {
			t.Errorf("%q: exit %d %s", line, code, errs)
		}
		ran++
	}
	if ran < 4 {
		t.Errorf("the demo printed %d commands to try next, want 4:\n%s", ran, next)
	}

	// A second demo empties the folder the first made; a folder it did not
	// make is refused unless --force.
	if code, _, errs := cli(t, map[string]string{}, "demo", "--out", out, "--changes", "0"); code != 0 {
		t.Fatalf("second demo into its own folder: exit %d %s", code, errs)
	}
	mine := t.TempDir()
	os.WriteFile(filepath.Join(mine, "thesis.txt"), []byte("irreplaceable"), 0o644)
	if code, _, errs := cli(t, map[string]string{}, "demo", "--out", mine); code != 2 || !strings.Contains(errs, "--force") {
		t.Fatalf("demo into a folder it did not make: exit %d %q", code, errs)
	}
	if b, _ := os.ReadFile(filepath.Join(mine, "thesis.txt")); string(b) != "irreplaceable" {
		t.Fatal("the demo touched a folder it did not make")
	}
}

// formulaFree fails the test if a CSV field would be evaluated by a
// spreadsheet, and returns how many fields were defused with a leading
// apostrophe.
func formulaFree(t *testing.T, what string, recs [][]string) int {
	t.Helper()
	n := 0
	for _, rec := range recs[1:] {
		for _, f := range rec {
			if strings.HasPrefix(f, "'") {
				n++
				continue
			}
			if f != "" && (strings.ContainsRune("\t\r\n", rune(f[0])) || strings.ContainsAny(strings.TrimLeft(f, " ")[:min(len(strings.TrimLeft(f, " ")), 1)], "=+-@")) {
				t.Errorf("%s: field %q would be evaluated by a spreadsheet", what, f)
			}
		}
	}
	return n
}

package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
)

// threeOrgSim serves fabrikam, contoso (another tenant's people) and
// northwind (fabrikam's people: one Entra tenant, two organizations).
func threeOrgSim(t *testing.T) (*adosim.Server, map[string]string) {
	t.Helper()
	sim, env := simEnv(t, adosim.Options{Preset: "small", MoreOrgs: []adosim.OrgOptions{
		{Name: "contoso", Preset: "small", Seed: 2},
		{Name: "northwind", Preset: "small", Seed: 1},
	}})
	env["ADO_ACCOUNTS_URL"] = sim.AccountsURL()
	env["EXPORTER_DB"] = filepath.Join(t.TempDir(), "stores") + "/"
	delete(env, "ADO_ORG_URL")
	return sim, env
}

func runsOf(t *testing.T, env map[string]string, org string) []map[string]any {
	t.Helper()
	code, out, errs := cli(t, env, "runs", "--org", org, "--format", "json")
	var runs []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &runs) != nil {
		t.Fatalf("runs --org %s: exit %d %s %s", org, code, out, errs)
	}
	return runs
}

// --org all: every organization the credential sees, each into its own
// store; a new one is picked up, a failing one fails alone, a removed one
// is recorded as gone with its history kept.
func TestSyncEveryOrganization(t *testing.T) {
	t.Parallel()
	sim, env := threeOrgSim(t)
	code, out, errs := cli(t, env, "sync", "--org", "all")
	if code != 0 || !strings.Contains(out, "3 organizations: 3 synced, 0 failed, 0 gone") {
		t.Fatalf("first sync: exit %d\n%s%s", code, out, errs)
	}
	for _, org := range []string{"fabrikam", "contoso", "northwind"} {
		if runs := runsOf(t, env, org); len(runs) != 1 || runs[0]["status"] != "complete" || runs[0]["org_id"] != sim.OrgByName(org).ID {
			t.Fatalf("%s: runs %v", org, runs)
		}
	}
	stores, _ := filepath.Glob(env["EXPORTER_DB"] + "*.db")
	if len(stores) != 3 {
		t.Fatalf("stores %v, want one per organization", stores)
	}

	// A new organization appears; one fails throughout; one goes.
	if _, err := sim.AddOrg(adosim.OrgOptions{Name: "tailspin", Preset: "small", Seed: 4}); err != nil {
		t.Fatal(err)
	}
	if err := sim.SetOrgFaults("northwind", adosim.Faults{Rate5xx: 1}); err != nil {
		t.Fatal(err)
	}
	if err := sim.RemoveOrg("contoso"); err != nil {
		t.Fatal(err)
	}
	sim.Mutate(adosim.MutateRequest{Count: 3, Seed: 2})
	start := time.Now()
	code, out, errs = cli(t, env, "sync", "--org", "all", "--retry-budget", "1s")
	if code != 1 {
		t.Fatalf("second sync: exit %d, want 1 (one organization failed)\n%s%s", code, out, errs)
	}
	for _, want := range []string{"northwind            FAILED", "contoso              gone since", "its history stays in", "tailspin             run 1 (full)",
		"fabrikam             run 2 (incremental)", "4 organizations: 2 synced, 1 failed, 1 gone"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("a failing organization held the run for %v", d)
	}
	if runs := runsOf(t, env, "contoso"); len(runs) != 1 {
		t.Fatalf("contoso's history: %v", runs)
	}
	if runs := runsOf(t, env, "northwind"); len(runs) != 1 || runs[0]["status"] != "complete" {
		t.Fatalf("northwind: %v, want its last good run untouched", runs)
	}
	// A gone organization is left out of what all organizations show,
	// unless named.
	if _, out, _ := cli(t, env, "show", "projects", "--format", "csv"); strings.Contains(out, "\ncontoso,") || !strings.Contains(out, "\ntailspin,") {
		t.Errorf("show across organizations:\n%s", out)
	}
	if code, out, _ := cli(t, env, "show", "projects", "--org", "contoso"); code != 0 || !strings.Contains(out, "NAME") {
		t.Errorf("show of a gone organization by name: exit %d", code)
	}
	// orgs list says the same.
	code, out, _ = cli(t, env, "orgs", "list", "--db", env["EXPORTER_DB"], "--retry-budget", "1s")
	if code != 0 || !strings.Contains(out, "gone: not listed") || !strings.Contains(out, "tailspin") || !strings.Contains(out, "failing: ") {
		t.Errorf("orgs list: exit %d\n%s", code, out)
	}
}

// One person in two organizations of one tenant has one descriptor; shown
// across the store folder, their access is listed in both.
func TestAccessAcrossOrganizations(t *testing.T) {
	sim, env := threeOrgSim(t)
	if code, _, errs := cli(t, env, "sync", "--org", "fabrikam,northwind"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	// An exported ADO_ORG_URL does not narrow a folder silently: commands
	// reading every organization read them all and say the variable was
	// not used; one reading one organization says it picked it (issue 19,
	// item 9).
	withURL := maps.Clone(env)
	withURL["ADO_ORG_URL"] = sim.URL()
	code, out, errs := cli(t, withURL, "runs", "--format", "json")
	if code != 0 || !strings.Contains(out, `/fabrikam"`) || !strings.Contains(out, `/northwind"`) || !strings.Contains(errs, "ADO_ORG_URL does not narrow it (--org does)") {
		t.Fatalf("runs over a folder with ADO_ORG_URL: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := cli(t, withURL, "runs", "--org", "northwind", "--format", "json"); code != 0 || strings.Contains(out, `/fabrikam"`) || !strings.Contains(out, `/northwind"`) {
		t.Fatalf("runs --org narrows: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := cli(t, withURL, "diff"); code == 2 || !strings.Contains(errs, "picking the organization ADO_ORG_URL names") {
		t.Fatalf("diff over a folder with ADO_ORG_URL: exit %d %s", code, errs)
	}
	code, out, errs = cli(t, env, "show", "access", "morgan.admin@fabrikam.example", "--format", "csv")
	if code != 0 || !strings.HasPrefix(out, "org,") || !strings.Contains(out, "\nfabrikam,") || !strings.Contains(out, "\nnorthwind,") {
		t.Fatalf("show access across organizations: exit %d\n%s%s", code, out, errs)
	}
	// A run id means nothing across organizations.
	if code, _, errs := cli(t, env, "show", "users", "--run", "1"); code != 2 || !strings.Contains(errs, "per organization") {
		t.Fatalf("--run across organizations: exit %d %s", code, errs)
	}
	// Commands of one organization ask which.
	if code, _, errs := cli(t, env, "diff"); code != 2 || !strings.Contains(errs, "name one with --org") {
		t.Fatalf("diff over a folder: exit %d %s", code, errs)
	}
	// One packet per organization.
	to := t.TempDir()
	if code, _, errs := cli(t, env, "export", "packet", "--split-by", "org", "--to", to, "--format", "csv"); code != 0 {
		t.Fatalf("export --split-by org: %s", errs)
	}
	for _, org := range []string{"fabrikam", "northwind"} {
		if code, _, errs := cli(t, env, "verify", filepath.Join(to, org)); code != 0 {
			t.Errorf("packet of %s: %s", org, errs)
		}
	}
	// One packet spanning the organizations: every table led by org, the
	// person in both organizations on a row of each.
	span := t.TempDir()
	code, out, errs = cli(t, env, "export", "packet", "--to", span, "--format", "csv,xlsx")
	if code != 0 || !strings.Contains(out, "of 2 organizations") {
		t.Fatalf("a packet of two organizations: exit %d %s %s", code, out, errs)
	}
	if code, vout, errs := cli(t, env, "verify", span); code != 0 || !strings.Contains(vout, "(2 organizations)") {
		t.Fatalf("verify of it: exit %d %s %s", code, vout, errs)
	}
	b, _ := os.ReadFile(filepath.Join(span, "accounts.csv"))
	admins := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "morgan.admin@fabrikam.example") {
			admins++
			if !strings.HasPrefix(line, "fabrikam,") && !strings.HasPrefix(line, "northwind,") {
				t.Errorf("a row without its organization: %q", line)
			}
		}
	}
	if !strings.HasPrefix(string(b), "org,descriptor,") || admins != 2 {
		t.Fatalf("accounts of both organizations: header %.40q, the shared person on %d rows, want 2", b, admins)
	}
	// It is for review: a diff or an apply takes one organization's packet.
	if code, _, errs := cli(t, env, "diff", "--packets", span, span); code == 0 || !strings.Contains(errs, "spans several organizations") {
		t.Fatalf("diff of a packet of several organizations: exit %d %s", code, errs)
	}
}

// A scheduled job with org: all picks up every organization.
func TestScheduledSyncOfEveryOrganization(t *testing.T) {
	_, env := threeOrgSim(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "jobs.yaml"), []byte("jobs:\n  - name: all-orgs\n    schedule: \"@hourly\"\n    kind: sync\n    org: all\n    store: "+env["EXPORTER_DB"]+"\n"), 0o644)
	code, out, errs := cli(t, env, "--log-level", "warn", "run", "--schedules", dir, "all-orgs")
	s := lastJSON(t, out)
	if code != 0 || s.Status != "ok" || s.Requests == 0 || len(s.Outputs) != 1 {
		t.Fatalf("run all-orgs: exit %d %+v %s", code, s, errs)
	}
	if stores, _ := filepath.Glob(env["EXPORTER_DB"] + "*.db"); len(stores) != 3 {
		t.Fatalf("stores %v", stores)
	}
}

// Two collections called DefaultCollection on two servers are two
// organizations: their stores and warehouse partitions never collide.
func TestSameNameOnTwoServers(t *testing.T) {
	t.Parallel()
	simA, envA := simEnv(t, adosim.Options{Preset: "small", Org: "DefaultCollection", Seed: 5})
	simB, _ := simEnv(t, adosim.Options{Preset: "small", Org: "DefaultCollection", Seed: 6})
	env := map[string]string{"ADO_PAT": envA["ADO_PAT"], "EXPORTER_DB": filepath.Join(t.TempDir(), "stores") + "/"}
	// One credential for both: the second simulator takes the first's PAT.
	env["ADO_PAT"] = simA.Credential("readonly")
	if code, out, errs := cli(t, env, "sync", "--org", simA.URL()); code != 0 {
		t.Fatalf("sync A: %s %s", out, errs)
	}
	env["ADO_PAT"] = simB.Credential("readonly")
	if code, out, errs := cli(t, env, "sync", "--org", simB.URL()); code != 0 {
		t.Fatalf("sync B: %s %s", out, errs)
	}
	stores, _ := filepath.Glob(env["EXPORTER_DB"] + "defaultcollection-*.db")
	if len(stores) != 2 {
		t.Fatalf("stores %v, want two", stores)
	}
	wh := t.TempDir()
	if code, _, errs := cli(t, env, "export", "warehouse", "--to", wh); code != 0 {
		t.Fatalf("warehouse: %s", errs)
	}
	parts, _ := filepath.Glob(filepath.Join(wh, "accounts", "org=defaultcollection", "org_id=*"))
	manifests, _ := filepath.Glob(filepath.Join(wh, "_manifests", "org=defaultcollection", "org_id=*", "snapshot_date=*"))
	if len(parts) != 2 || len(manifests) != 2 {
		t.Fatalf("partitions %v, manifests %v: want two of each", parts, manifests)
	}
	for _, m := range manifests {
		if code, _, errs := cli(t, env, "verify", m); code != 0 {
			t.Errorf("verify %s: %s", m, errs)
		}
	}
}

// One organization named by name with one store file: say to give its URL,
// not "for several, name a folder" (issue 19, item 10).
func TestSyncOneFileByOrgName(t *testing.T) {
	t.Parallel()
	env := map[string]string{"ADO_PAT": "x"}
	db := filepath.Join(t.TempDir(), "one.db")
	code, _, errs := cli(t, env, "sync", "--db", db, "--org", "contoso")
	if code != 2 || !strings.Contains(errs, "give its URL (--org https://dev.azure.com/contoso)") || strings.Contains(errs, "for several") {
		t.Fatalf("exit %d %s", code, errs)
	}
	if code, _, errs := cli(t, env, "sync", "--db", db, "--org", "contoso,fabrikam"); code != 2 || !strings.Contains(errs, "for several, name a folder") {
		t.Fatalf("several into one file: exit %d %s", code, errs)
	}
}

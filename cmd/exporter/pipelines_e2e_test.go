package main

import (
	"encoding/csv"
	"slices"
	"strings"
	"testing"

	"github.com/ado-access/ado-access/internal/adosim"
)

// A reviewer's questions about pipelines at the command line: which
// connections exist, which checks guard them, which tokens, who can use
// one connection.
func TestShowServiceConnectionsPATsAndWhoCanUse(t *testing.T) {
	sim, env := simEnv(t, adosim.Options{Preset: "small"})
	env["ADO_PAT"] = sim.Credential("readwrite")
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	code, out, errs := cli(t, env, "show", "service-connections", "--format", "csv")
	if code != 0 {
		t.Fatalf("show service-connections: exit %d %s", code, errs)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("service connections: %v, %d rows", err, len(recs))
	}
	if got, want := len(recs)-1, sim.PipelineCounts().Connections; got != want {
		t.Errorf("show service-connections: %d rows, the organization has %d", got, want)
	}
	name, id := recs[1][3], recs[1][2]
	// Checks and approvals, one row per check, approvers named.
	code, out, errs = cli(t, env, "show", "checks", "--format", "csv")
	checks, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(checks) < 2 {
		t.Fatalf("show checks: exit %d %v %s", code, err, errs)
	}
	if got, want := len(checks)-1, len(sim.ResourceChecks()); got != want {
		t.Errorf("show checks: %d rows, the organization has %d checks", got, want)
	}
	named := 0
	for _, r := range checks[1:] {
		if r[slices.Index(checks[0], "type")] == "Approval" && r[slices.Index(checks[0], "approver_names")] != "" {
			named++
		}
	}
	if named == 0 {
		t.Errorf("show checks: no Approval with its approvers named:\n%s", out)
	}
	code, out, errs = cli(t, env, "show", "pats")
	if code != 0 || !strings.Contains(out, "vso.") && !strings.Contains(out, "app_token") {
		t.Fatalf("show pats: exit %d %q %s", code, out, errs)
	}
	// Tokens and SSH keys, told apart; the first sync swept them and said so.
	code, out, errs = cli(t, env, "show", "pats", "--format", "csv")
	kinds := map[string]int{}
	pats, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(pats) < 2 || !slices.Contains(pats[0], "kind") {
		t.Fatalf("show pats --format csv: exit %d %v %s", code, err, errs)
	}
	k := slices.Index(pats[0], "kind")
	for _, r := range pats[1:] {
		kinds[r[k]]++
	}
	if counts := sim.PipelineCounts(); kinds["ssh"] != counts.SSHKeys || kinds["pat"] != counts.Tokens-counts.SSHKeys || kinds["ssh"] == 0 {
		t.Errorf("show pats: %v, the organization has %d tokens and %d SSH keys", kinds, counts.Tokens-counts.SSHKeys, counts.SSHKeys)
	}
	// A second full sync within the default cadence (168h) reads no token
	// and says when the last sweep was.
	if code, _, errs := cli(t, env, "sync", "--mode", "full"); code != 0 {
		t.Fatalf("second sync: %s", errs)
	}
	if code, out, errs := cli(t, env, "runs", "--format", "json"); code != 0 || !strings.Contains(out, "tokens not swept (--token-sweep 168h0m0s): carried forward from the sweep of run 1") {
		t.Errorf("runs after a full sync within the token cadence: exit %d %s %s", code, out, errs)
	}
	code, out, errs = cli(t, env, "show", "who-can", "use", id, "--format", "csv")
	if code != 0 {
		t.Fatalf("who-can use %s: exit %d %s", id, code, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("who-can use %s: %v, %q", name, err, out)
	}
	direct, nested := 0, 0
	for _, r := range rows[1:] {
		switch {
		case r[5] == "direct":
			direct++
		case strings.HasPrefix(r[5], "via ") && strings.Contains(r[5], "Endpoint Administrators") || strings.Contains(r[5], "Project Administrators"):
			nested++
		}
	}
	if direct == 0 || nested == 0 {
		t.Errorf("who-can use %s: %d direct holders, %d through the project's administrator groups; want both:\n%s", name, direct, nested, out)
	}
	if code, _, errs := cli(t, env, "show", "who-can", "use", "no-such-connection"); code == 0 || !strings.Contains(errs, "no service connection") {
		t.Errorf("an unknown connection: exit %d %s", code, errs)
	}
}

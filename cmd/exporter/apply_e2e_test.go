package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/audit"
	"github.com/xuri/excelize/v2"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// fillRevokes marks Revoke (with a reviewer) on n direct memberships of
// users in Azure DevOps groups on the packet workbook's effective_access
// sheet, and returns them as "group > member" keys.
func fillRevokes(t *testing.T, workbook string, n int) []string {
	t.Helper()
	f, err := excelize.OpenFile(workbook)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("effective_access")
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var keys []string
	for i, r := range rows[1:] {
		get := func(c string) string {
			if col[c] < len(r) {
				return r[col[c]]
			}
			return ""
		}
		if len(keys) == n {
			break
		}
		// Built-in project groups back no team: removing a member changes
		// that one membership and nothing else.
		builtin := strings.HasSuffix(get("group_name"), `\Contributors`) || strings.HasSuffix(get("group_name"), `\Readers`)
		if get("direct") != "TRUE" || !strings.HasPrefix(get("group_descriptor"), "vssgp.") || get("member_kind") != "user" || !builtin {
			continue
		}
		for c, v := range map[string]string{"Decision": "Revoke", "Reviewer": "reviewer@fabrikam.example", "Comment": "left the project"} {
			cell, _ := excelize.CoordinatesToCellName(col[c]+1, i+2)
			f.SetCellStr("effective_access", cell, v)
		}
		keys = append(keys, get("group_descriptor")+" > "+get("member_descriptor"))
	}
	if len(keys) != n {
		t.Fatalf("found %d rows to revoke, want %d", len(keys), n)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	return keys
}

// The whole loop: sync, export a packet, fill in Revoke, plan (changes
// nothing), apply, sync, diff shows exactly those memberships lost, and
// applying again changes nothing.
func TestApplyFullLoop(t *testing.T) {
	sim, env := simEnv(t, adosim.Options{Preset: "small"})
	env["ADO_PAT"] = sim.Credential("readwrite")
	dir := filepath.Join(t.TempDir(), "review")
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	if code, _, errs := cli(t, env, "export", "packet", "--to", dir); code != 0 {
		t.Fatalf("export: %s", errs)
	}
	workbook := filepath.Join(dir, "packet.xlsx")
	revoked := fillRevokes(t, workbook, 3)
	writes := func() int64 {
		r := sim.Stats().Requests
		return r["graph.memberships.remove"] + r["graph.memberships.add"] + r["entitlements.users.add"] + r["entitlements.users.update"] + r["entitlements.users.delete"]
	}

	before := writes()
	code, out, errs := cli(t, env, "apply", "--decisions", workbook)
	if code != 0 || !strings.Contains(out, "3 apply") || !strings.Contains(out, "dry run: nothing was changed") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errs)
	}
	// The dry run only probes write access (a removal that cannot change anything).
	if n := sim.Stats().Requests["graph.memberships.remove"]; writes()-before > 1 || n-before > 1 {
		t.Fatalf("the dry run wrote %d times", writes()-before)
	}

	before = writes()
	code, out, errs = cli(t, env, "apply", "--decisions", workbook, "--apply")
	if code != 0 || !strings.Contains(out, "3 done") || !strings.Contains(out, "Verification, read live") || strings.Contains(out, " NO\n") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errs)
	}
	if n := writes() - before; n != 4 { // the write check, then the three removals
		t.Fatalf("%d writes for 3 revokes", n)
	}

	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync after apply: %s", errs)
	}
	code, out, errs = cli(t, env, "diff", "--format", "json")
	if code != 0 {
		t.Fatalf("diff: %s", errs)
	}
	var changes []struct{ Kind, Entity, Key string }
	if err := json.Unmarshal([]byte(out), &changes); err != nil {
		t.Fatalf("diff json: %v\n%s", err, out)
	}
	var got []string
	for _, c := range changes {
		if c.Entity != "memberships" || c.Kind != "removed" {
			t.Errorf("diff shows more than the revokes: %+v", c)
			continue
		}
		got = append(got, c.Key)
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(revoked, "\n") {
		t.Fatalf("memberships lost:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(revoked, "\n"))
	}

	before = writes()
	code, out, errs = cli(t, env, "apply", "--decisions", workbook, "--apply")
	if code != 0 || writes() != before || !strings.Contains(out, "3 done") {
		t.Fatalf("apply again: exit %d, %d writes\n%s\n%s", code, writes()-before, out, errs)
	}
	code, out, _ = cli(t, env, "apply", "--status")
	if code != 0 || strings.Count(out, "\n") != 2 {
		t.Fatalf("status: %s", out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	code, out, _ = cli(t, env, "apply", "--status", id[:8])
	if code != 0 || strings.Count(out, "revoke") != 3 || !strings.Contains(out, "reviewer@fabrikam.example") || !strings.Contains(out, "effective_access row") {
		t.Fatalf("status of the plan: %s", out)
	}
}

// apply's usage errors and bad input exit 2; its help teaches.
func TestApplyUsage(t *testing.T) {
	_, env := simEnv(t, adosim.Options{Preset: "small"})
	if code, out, _ := cli(t, env, "help", "apply"); code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "--allow-account-removal") {
		t.Fatalf("help: %d %s", code, out)
	}
	if code, _, errs := cli(t, env, "apply"); code != 2 || !strings.Contains(errs, "--decisions") {
		t.Fatalf("no decisions: %d %s", code, errs)
	}
	if code, _, errs := cli(t, env, "apply", "--decisions", "x.csv", "--entra-group-provisioning"); code != 2 || !strings.Contains(errs, "--auth entra") {
		t.Fatalf("provisioning without entra: %d %s", code, errs)
	}
	bad := filepath.Join(t.TempDir(), "plan.csv")
	os.WriteFile(bad, []byte("action,subject,approver\r\nexplode,a@b.example,x\r\n"), 0o644)
	if code, _, errs := cli(t, env, "apply", "--decisions", bad); code != 2 || !strings.Contains(errs, `plan.csv row 2: action "explode"`) {
		t.Fatalf("bad plan: %d %s", code, errs)
	}
}

// A dry run exits as the apply would: 1 when the plan holds refused
// items; an apply with nothing to do says so in one sane line.
func TestApplyDryRunExitAndNothingToDo(t *testing.T) {
	_, env := simEnv(t, adosim.Options{Preset: "small"})
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	st, _ := snapshot.OpenExisting(context.Background(), env["EXPORTER_DB"])
	var account string
	st.DB().QueryRow(`SELECT principal_name FROM accounts WHERE valid_to IS NULL AND kind = 'user' AND subject_type = 'aad' LIMIT 1`).Scan(&account)
	st.Close()
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.csv")
	os.WriteFile(plan, []byte("action,subject,approver\r\nremove-account,"+account+",hr@fabrikam.example\r\n"), 0o644)
	code, out, errs := cli(t, env, "apply", "--decisions", plan)
	if code != 1 || !strings.Contains(out, "1 refused") || !strings.Contains(errs, "1 refused") {
		t.Fatalf("dry run of a refused item: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, errs := cli(t, env, "apply", "--decisions", plan, "--format", "json"); code != 1 {
		t.Fatalf("dry run as JSON: exit %d %s", code, errs)
	}
	empty := filepath.Join(dir, "empty.json")
	os.WriteFile(empty, []byte("[]"), 0o644)
	code, out, errs = cli(t, env, "apply", "--decisions", empty, "--apply")
	if code != 0 || !strings.Contains(out, ": nothing to apply") || strings.Contains(out, ":;") {
		t.Fatalf("apply of nothing: exit %d\n%s\n%s", code, out, errs)
	}
	null := filepath.Join(dir, "null.json")
	os.WriteFile(null, []byte("null"), 0o644)
	if code, _, errs := cli(t, env, "apply", "--decisions", null); code != 2 || !strings.Contains(errs, "null") {
		t.Fatalf("a null plan: exit %d %s", code, errs)
	}
}

// A real apply process killed with SIGKILL part-way: the same command
// again finishes the plan, and no membership is removed twice.
func TestApplyKilledMidRunResumes(t *testing.T) {
	t.Parallel()
	bin := exporterBinary(t)
	sim, env := simEnv(t, adosim.Options{Preset: "small"})
	env["ADO_PAT"] = sim.Credential("readwrite")
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	ctx := context.Background()
	st, err := snapshot.OpenExisting(ctx, env["EXPORTER_DB"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.DB().Query(`SELECT m.member, m.container FROM memberships m JOIN accounts a ON a.descriptor = m.member AND a.valid_to IS NULL
		JOIN groups g ON g.descriptor = m.container AND g.valid_to IS NULL AND g.subject_type = 'vssgp'
		WHERE m.valid_to IS NULL AND a.kind = 'user' AND g.display_name NOT LIKE '%Administrators' ORDER BY 2, 1 LIMIT 40`)
	if err != nil {
		t.Fatal(err)
	}
	plan := [][]string{{"action", "subject", "target", "approver", "ticket"}}
	for rows.Next() {
		var m, g string
		rows.Scan(&m, &g)
		plan = append(plan, []string{"revoke", m, g, "owner@fabrikam.example", "CHG-42"})
	}
	rows.Close()
	const n = 40
	if len(plan) != n+1 {
		t.Fatalf("%d memberships to revoke", len(plan)-1)
	}
	planFile := filepath.Join(t.TempDir(), "plan.csv")
	f, _ := os.Create(planFile)
	csv.NewWriter(f).WriteAll(plan)
	f.Close()

	removedBefore := auditCount(t, sim, "Group.UpdateGroupMembership.Remove")
	// Slow writes, one at a time, so the process is killed in the middle.
	sim.SetFaults(adosim.Faults{Latency: adosim.Duration(40 * time.Millisecond), Paths: []string{"graph/memberships"}})
	args := []string{"apply", "--decisions", planFile, "--apply", "--concurrency", "1", "--max-changes", "100"}
	cmd := osexec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "ADO_ORG_URL="+env["ADO_ORG_URL"], "ADO_PAT="+env["ADO_PAT"], "EXPORTER_DB="+env["EXPORTER_DB"])
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		plans, _ := st.Plans(ctx)
		if len(plans) == 1 && plans[0].Statuses[snapshot.JournalDone] >= 8 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the apply never got going")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	plans, _ := st.Plans(ctx)
	done, started := plans[0].Statuses[snapshot.JournalDone], plans[0].Statuses[snapshot.JournalStarted]
	if done >= n {
		t.Fatalf("the apply finished before it was killed (%d done); slow it down", done)
	}
	t.Logf("killed with %d of %d done, %d started", done, n, started)

	sim.SetFaults(adosim.Faults{})
	code, out, errs := cli(t, env, args...)
	if code != 0 {
		t.Fatalf("apply again: exit %d\n%s\n%s", code, out, errs)
	}
	// Done earlier: what the journal said done, and the action in flight
	// at the kill if a read shows it was carried out.
	if !strings.Contains(out, fmt.Sprintf(" %d done earlier", done)) && !strings.Contains(out, fmt.Sprintf(" %d done earlier", done+started)) {
		t.Errorf("the resumed apply does not count %d actions done earlier:\n%s", done, out)
	}
	// The journal agrees with the Audit Log: every revoke done, none
	// skipped (the one in flight at the kill included).
	plans, _ = st.Plans(ctx)
	if s := plans[0].Statuses; s[snapshot.JournalDone] != n || s[snapshot.JournalSkipped] != 0 {
		t.Errorf("journal after resume: %v, want %d done", s, n)
	}
	// Every membership was removed once, as the service's Audit Log shows;
	// nothing finished was sent again. At most the action in flight at
	// the kill was sent again, after a read showed it had not happened
	// (two write checks, one per run, are removals that change nothing).
	if removed := auditCount(t, sim, "Group.UpdateGroupMembership.Remove") - removedBefore; removed != n {
		t.Fatalf("%d removals in the Audit Log for %d revokes", removed, n)
	}
	if removals := sim.Stats().Requests["graph.memberships.remove"]; removals > int64(n+2+started) {
		t.Fatalf("%d removals sent for %d revokes (+2 checks, +%d in flight at the kill)", removals, n, started)
	}
	j, _ := st.Journal(ctx, plans[0].ID)
	for _, e := range j {
		if e.Status != snapshot.JournalDone && e.Status != snapshot.JournalSkipped {
			t.Errorf("action %d: %s", e.Seq, e.Status)
		}
	}
	if len(j) != n {
		t.Fatalf("journal has %d actions", len(j))
	}
}

// auditCount counts the organization's Audit Log entries of an action,
// read through the v7 client.
func auditCount(t testing.TB, sim *adosim.Server, action string) int {
	t.Helper()
	ac, err := audit.NewClient(context.Background(), azuredevops.NewPatConnection(sim.URL(), sim.Credential("readwrite")))
	if err != nil {
		t.Fatal(err)
	}
	batch, n := 1000, 0
	args := audit.QueryLogArgs{BatchSize: &batch}
	for {
		res, err := ac.QueryLog(context.Background(), args)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range *res.DecoratedAuditLogEntries {
			if *e.ActionId == action {
				n++
			}
		}
		if res.HasMore == nil || !*res.HasMore {
			return n
		}
		args.ContinuationToken = res.ContinuationToken
	}
}

// --auth entra end to end: the exporter process signs in to the simulated
// Entra ID through azidentity from the environment alone (client secret,
// AZURE_AUTHORITY_HOST, the endpoint's certificate in SSL_CERT_FILE) and
// changes an Entra group's membership through Microsoft Graph.
func TestApplyEntraGroupThroughMicrosoftGraph(t *testing.T) {
	bin := exporterBinary(t)
	sim, env := simEnv(t, adosim.Options{Preset: "small"})
	if err := sim.StartEntra(""); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	st, err := snapshot.OpenExisting(context.Background(), env["EXPORTER_DB"])
	if err != nil {
		t.Fatal(err)
	}
	var member, principal, group, groupName string
	err = st.DB().QueryRow(`SELECT m.member, a.principal_name, m.container, g.principal_name FROM memberships m
		JOIN accounts a ON a.descriptor = m.member AND a.valid_to IS NULL AND a.subject_type = 'aad'
		JOIN groups g ON g.descriptor = m.container AND g.valid_to IS NULL AND g.subject_type = 'aadgp'
		WHERE m.valid_to IS NULL ORDER BY 3, 1 LIMIT 1`).Scan(&member, &principal, &group, &groupName)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.csv")
	os.WriteFile(plan, []byte("action,subject,target,approver\r\nrevoke,"+principal+",\""+groupName+"\",owner@fabrikam.example\r\n"), 0o644)
	app := sim.EntraApps()[0]
	cmd := osexec.Command(bin, "apply", "--decisions", plan, "--apply", "--auth", "entra", "--entra-group-provisioning")
	cmd.Env = append(append(os.Environ(), "ADO_ORG_URL="+env["ADO_ORG_URL"], "EXPORTER_DB="+env["EXPORTER_DB"]), entraAppEnv(t, sim)...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 done") {
		t.Fatalf("apply --auth entra: %v\n%s", err, out)
	}
	if strings.Contains(string(out), app.Secret) {
		t.Fatal("the client secret appears in the output")
	}
	r := sim.Stats().Requests
	if r["entra.token"] < 2 || r["msgraph.members.remove"] != 1 || r["graph.memberships.remove"] != 0 {
		t.Fatalf("requests: %d tokens, %d Graph removals, %d Azure DevOps removals", r["entra.token"], r["msgraph.members.remove"], r["graph.memberships.remove"])
	}
}

// A read-only PAT: the plan warns, apply refuses before anything, naming
// the scope it lacks.
func TestApplyWithReadOnlyPAT(t *testing.T) {
	sim, env := simEnv(t, adosim.Options{Preset: "small"}) // ADO_PAT is read-only
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	refusedBySync := sim.Stats().Faults["auth_403"] // the ACLs a read-only PAT may not read
	st, _ := snapshot.OpenExisting(context.Background(), env["EXPORTER_DB"])
	var member, group string
	st.DB().QueryRow(`SELECT m.member, m.container FROM memberships m JOIN groups g ON g.descriptor = m.container AND g.valid_to IS NULL
		WHERE m.valid_to IS NULL AND g.subject_type = 'vssgp' AND m.member LIKE 'aad.%' AND g.display_name = 'Contributors' LIMIT 1`).Scan(&member, &group)
	st.Close()
	plan := filepath.Join(t.TempDir(), "plan.csv")
	os.WriteFile(plan, []byte("action,subject,target,approver\r\nrevoke,"+member+","+group+",owner@fabrikam.example\r\n"), 0o644)
	code, out, _ := cli(t, env, "apply", "--decisions", plan)
	if code != 0 || !strings.Contains(out, "warning: this credential cannot carry the plan out") || !strings.Contains(out, "Graph (Read & manage)") {
		t.Fatalf("dry run with a read-only PAT: exit %d\n%s", code, out)
	}
	code, _, errs := cli(t, env, "apply", "--decisions", plan, "--apply")
	if code != 1 || !strings.Contains(errs, "nothing was applied") || !strings.Contains(errs, "Graph (Read & manage), vso.graph_manage") {
		t.Fatalf("apply with a read-only PAT: exit %d %s", code, errs)
	}
	if strings.Contains(out+errs, env["ADO_PAT"]) {
		t.Fatal("the PAT appears in the output")
	}
	if n := sim.Stats().Faults["auth_403"] - refusedBySync; n != 2 {
		t.Fatalf("%d refused requests, want the two write checks", n)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/ado-access/ado-access/internal/adosim"
)

// reviseSheet marks Revoke on the first row of a packet workbook's sheet
// that pick accepts, and returns that row's value of column want.
func reviseSheet(t *testing.T, workbook, sheet, want string, pick func(get func(string) string) bool) string {
	t.Helper()
	f, err := excelize.OpenFile(workbook)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for i, r := range rows[1:] {
		get := func(c string) string {
			if col[c] < len(r) {
				return r[col[c]]
			}
			return ""
		}
		if !pick(get) {
			continue
		}
		for c, v := range map[string]string{"Decision": "Revoke", "Reviewer": "reviewer@fabrikam.example", "Comment": "left"} {
			cell, _ := excelize.CoordinatesToCellName(col[c]+1, i+2)
			f.SetCellStr(sheet, cell, v)
		}
		if err := f.Save(); err != nil {
			t.Fatal(err)
		}
		return get(want)
	}
	t.Fatalf("sheet %s: no row to revoke", sheet)
	return ""
}

// A personal access token, a User role on a service connection and a
// service connection open to all pipelines revoked in the packet workbook:
// apply carries them out, 'apply --status' names the actions, and the next
// sync's packet shows the token and the role gone and the connection closed.
func TestApplyPipelineRevokes(t *testing.T) {
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
	token := reviseSheet(t, workbook, "personal_access_tokens", "authorization_id", func(get func(string) string) bool {
		return strings.EqualFold(get("full_access"), "true") && !strings.ContainsAny(get("owner_name")[:1], "+=-@")
	})
	role := reviseSheet(t, workbook, "resource_roles", "identity", func(get func(string) string) bool {
		return get("role") == "User" && strings.EqualFold(get("inherited"), "false") && strings.HasPrefix(get("subject_descriptor"), "aad.")
	})
	conn := reviseSheet(t, workbook, "pipeline_permissions", "resource_id", func(get func(string) string) bool {
		return get("resource_type") == "endpoint" && strings.EqualFold(get("all_pipelines"), "true")
	})

	code, out, errs := cli(t, env, "apply", "--decisions", workbook, "--apply")
	if code != 0 || !strings.Contains(out, "3 done") || strings.Contains(out, " NO\n") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errs)
	}
	if n := sim.Stats().Requests["tokenadmin.revocations"]; n != 2 { // the write check, then the revocation
		t.Fatalf("%d revocation requests", n)
	}
	code, out, _ = cli(t, env, "apply", "--status")
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	code, out, _ = cli(t, env, "apply", "--status", id[:8])
	if code != 0 || !strings.Contains(out, "revoke-pat") || !strings.Contains(out, "remove-role") || !strings.Contains(out, "close-pipelines") {
		t.Fatalf("status of the plan: %s", out)
	}

	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync after apply: %s", errs)
	}
	next := filepath.Join(t.TempDir(), "next")
	if code, _, errs := cli(t, env, "export", "packet", "--to", next, "--format", "csv"); code != 0 {
		t.Fatalf("export: %s", errs)
	}
	// Its report's evidence confirms the three actions by this snapshot.
	page, err := os.ReadFile(filepath.Join(next, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "3 confirmed by this snapshot") {
		t.Fatalf("report.html does not confirm the three actions")
	}
	pats, err := os.ReadFile(filepath.Join(next, "personal_access_tokens.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(pats), token) {
		t.Fatalf("token %s still listed after the next sync", token)
	}
	roles, err := os.ReadFile(filepath.Join(next, "resource_roles.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(roles), "\n") {
		if strings.Contains(line, role) && strings.Contains(line, ",User,") {
			t.Fatalf("role of %s still listed after the next sync: %s", role, line)
		}
	}
	perms, err := os.ReadFile(filepath.Join(next, "pipeline_permissions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(perms), "\n") {
		if strings.Contains(line, conn) && !strings.Contains(line, ",false,") {
			t.Fatalf("connection %s after the next sync: %s", conn, line)
		}
	}
	if !strings.Contains(string(perms), conn) {
		t.Fatalf("connection %s not in the next packet", conn)
	}
}

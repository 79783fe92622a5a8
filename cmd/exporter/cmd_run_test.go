package main

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// writeSchedules writes one schedule file into a new folder; OUT in body
// becomes a temporary output folder.
func writeSchedules(t *testing.T, body string) (dir, out string) {
	t.Helper()
	dir, out = t.TempDir(), t.TempDir()
	body = strings.ReplaceAll(body, "OUT", out)
	if err := os.WriteFile(filepath.Join(dir, "jobs.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, out
}

type runSummary struct {
	Job      string   `json:"job"`
	RunID    string   `json:"run_id"`
	Kind     string   `json:"kind"`
	Status   string   `json:"status"`
	Duration float64  `json:"duration_seconds"`
	StoreRun int64    `json:"store_run"`
	Requests int64    `json:"requests"`
	Rows     int64    `json:"rows"`
	Versions int64    `json:"versions"`
	Outputs  []string `json:"outputs"`
	Error    string   `json:"error"`
}

// lastJSON reads the one-line JSON summary that ends run's stdout.
func lastJSON(t *testing.T, stdout string) runSummary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var s runSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("the last line of stdout is not a JSON summary: %q: %v", stdout, err)
	}
	return s
}

const runJobs = `
jobs:
  - name: sync
    schedule: "@hourly"
    kind: sync
  - name: review
    schedule: "@daily"
    kind: pipeline
    steps:
      - kind: sync
        mode: full
      - kind: packet
        to: OUT/{org}-{date}
        formats: [csv]
      - kind: diff-report
        to: OUT/diffs
        format: csv
  - name: orphan-export
    schedule: "@daily"
    kind: warehouse
    store: OUT/none.db
    to: OUT/wh
  - name: approve
    schedule: "@daily"
    kind: apply-plan
    plan: plan.json
  - name: folder-in-a-blob
    schedule: "@daily"
    kind: sync
    org: all
    store: OUT/stores/
    state: azblob://state/all.sqlite
`

// exporter run: exit 0, 1, 2 or 3 and a one-line JSON summary, against
// the simulator.
func TestRunJobExitCodesAndSummary(t *testing.T) {
	t.Parallel()
	_, env := simEnv(t, adosim.Options{Preset: "small"})
	dir, out := writeSchedules(t, runJobs)
	run := func(vars map[string]string, args ...string) (int, runSummary, string) {
		t.Helper()
		code, stdout, stderr := cli(t, vars, append([]string{"--log-level", "warn", "run", "--schedules", dir}, args...)...)
		if strings.Contains(stdout+stderr, vars["ADO_PAT"]) && vars["ADO_PAT"] != "" {
			t.Fatal("the PAT appears in the output")
		}
		if n := strings.Count(strings.TrimSpace(stdout), "\n"); n != 0 {
			t.Errorf("stdout has %d lines, want the one-line summary only: %q", n+1, stdout)
		}
		return code, lastJSON(t, stdout), stderr
	}

	code, s, stderr := run(env, "sync")
	if code != 0 || s.Status != "ok" || s.Job != "sync" || s.Kind != "sync" || s.StoreRun != 1 || s.Requests == 0 || s.Rows == 0 || s.Versions == 0 || s.RunID == "" || s.Duration <= 0 || len(s.Outputs) != 1 || s.Outputs[0] != env["EXPORTER_DB"] {
		t.Fatalf("run sync: exit %d, summary %+v, stderr %s", code, s, stderr)
	}

	code, s, stderr = run(env, "review")
	if code != 0 || s.Status != "ok" || s.Kind != "pipeline" || s.StoreRun != 2 || len(s.Outputs) != 3 {
		t.Fatalf("run review: exit %d, summary %+v, stderr %s", code, s, stderr)
	}
	if _, err := os.Stat(filepath.Join(s.Outputs[1], "manifest.json")); err != nil || !strings.HasPrefix(s.Outputs[1], out+"/fabrikam-20") {
		t.Errorf("packet output %s: %v", s.Outputs[1], err)
	}
	if b, err := os.ReadFile(s.Outputs[2]); err != nil || !strings.HasSuffix(s.Outputs[2], "diffs/diff-fabrikam-run1-run2.csv") || !strings.HasPrefix(string(b), "kind,entity,key") {
		t.Errorf("diff report %s: %v %.80q", s.Outputs[2], err, b)
	}

	for _, tt := range []struct {
		name   string
		vars   map[string]string
		args   []string
		code   int
		status string
		stderr string
	}{
		{"unknown job", env, []string{"nope"}, 2, "bad-config", `no job "nope" (jobs: sync, review, orphan-export, approve, folder-in-a-blob)`},
		{"plan file missing", env, []string{"approve"}, 2, "bad-config", "plan.json"},
		{"store folder in a state blob", env, []string{"folder-in-a-blob"}, 2, "bad-config", "a state blob holds one organization's store file"},
		{"no organization", without(env, "ADO_ORG_URL"), []string{"sync"}, 2, "bad-config", "no organization"},
		{"no credential", without(env, "ADO_PAT"), []string{"sync"}, 2, "bad-config", "no credential"},
		{"no store to export", env, []string{"orphan-export"}, 1, "failed", "no snapshot store"},
		{"bad lease", env, []string{"sync", "--lease", "5s"}, 2, "bad-config", "--lease 5s: want 15s to 60s"},
		// A service principal with no secret: a short configuration error,
		// not the credential chain's dump (issue 19, item 7).
		{"entra without a secret", halfEntra(env), []string{"sync"}, 2, "bad-config", "AZURE_CLIENT_ID and AZURE_TENANT_ID are set, but none of AZURE_CLIENT_SECRET"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, s, stderr := run(tt.vars, tt.args...)
			if code != tt.code || s.Status != tt.status || !strings.Contains(stderr, tt.stderr) || !strings.Contains(s.Error, tt.stderr) {
				t.Errorf("exit %d, summary %+v, stderr %q; want exit %d, status %s, %q", code, s, stderr, tt.code, tt.status, tt.stderr)
			}
		})
	}

	// Another sync holding the store: exit 3, naming the holder.
	ctx := context.Background()
	st, err := snapshot.Open(ctx, env["EXPORTER_DB"])
	if err != nil {
		t.Fatal(err)
	}
	lock, err := st.Lock(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	code, s, stderr = run(env, "sync")
	lock.Unlock()
	st.Close()
	if code != 3 || s.Status != "locked" || !strings.Contains(stderr, "held by pid") {
		t.Errorf("locked store: exit %d, summary %+v, stderr %q", code, s, stderr)
	}
	// run has no --wait: its hint must not offer one (issue 19, item 7).
	if strings.Contains(stderr, "--wait") || strings.Contains(s.Error, "--wait") {
		t.Errorf("run's locked-store message suggests --wait, which run lacks: %q", stderr)
	}

	// A broken schedule file is a configuration error.
	bad, _ := writeSchedules(t, "jobs:\n  - name: sync\n    schedule: \"0 24 * * *\"\n    kind: sync\n")
	code, stdout, stderr := cli(t, env, "run", "--schedules", bad, "sync")
	if s := lastJSON(t, stdout); code != 2 || s.Status != "bad-config" || !strings.Contains(stderr, `jobs.yaml: job "sync": schedule: hour 24 out of range 0-23`) {
		t.Errorf("bad file: exit %d, %+v, %q", code, s, stderr)
	}
	if code, _, stderr := cli(t, env, "run", "--schedules", dir); code != 2 || !strings.Contains(stderr, "want one job name") {
		t.Errorf("run without a job: exit %d %q", code, stderr)
	}
}

// halfEntra is env with a service principal's client and tenant ids but
// no PAT and no secret.
func halfEntra(env map[string]string) map[string]string {
	m := without(env, "ADO_PAT")
	m["AZURE_CLIENT_ID"], m["AZURE_TENANT_ID"] = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
	return m
}

// The same from 'exporter sync': exit 2, a few lines, no request dump.
func TestSyncEntraWithoutSecret(t *testing.T) {
	t.Parallel()
	_, env := simEnv(t, adosim.Options{Preset: "small"})
	code, _, stderr := cli(t, halfEntra(env), "sync")
	if code != 2 || !strings.Contains(stderr, "none of AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE") || strings.Count(stderr, "\n") > 2 || strings.Contains(stderr, "Attempted credentials") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and a short message", code, stderr)
	}
}

func without(env map[string]string, key string) map[string]string {
	m := maps.Clone(env)
	delete(m, key)
	return m
}

func TestSchedulesCheck(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := cli(t, nil, "schedules", "check", "--schedules", "../../schedules", "--now", "2026-11-01T00:30:00Z", "-n", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"hourly-sync", "Sun 2026-11-01 01:05 UTC", "Sun 2026-11-08 03:35 UTC", "Fri 2027-01-01 06:00 UTC", "5 jobs in ../../schedules: OK"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	dir, _ := writeSchedules(t, "jobs:\n  - name: nightly\n    schedule: \"61 2 * * *\"\n    kind: sync\n  - name: leak\n    schedule: \"@daily\"\n    kind: sync\n    pat: abcd1234\n")
	code, _, stderr = cli(t, nil, "schedules", "check", "--schedules", dir)
	for _, want := range []string{`jobs.yaml: job "nightly": schedule: minute 61 out of range 0-59`, `jobs.yaml: job "leak": pat: a key named like a secret`} {
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, stderr lacks %q:\n%s", code, want, stderr)
		}
	}
	if strings.Contains(stderr, "abcd1234") {
		t.Error("the check repeats the secret")
	}
	dir, _ = writeSchedules(t, "jobs:\n  - name: d\n    schedule: \"@daily\"\n    kind: diff-report\n    changes: [widgets]\n")
	if code, _, stderr := cli(t, nil, "schedules", "check", "--schedules", dir); code != 2 || !strings.Contains(stderr, `job "d": changes: "widgets": want entity kinds`) {
		t.Errorf("diff change kinds are not checked: exit %d %s", code, stderr)
	}
	if code, _, stderr := cli(t, nil, "schedules", "list"); code != 2 || !strings.Contains(stderr, "want 'exporter schedules check'") {
		t.Errorf("schedules list: exit %d %s", code, stderr)
	}
}

// A scheduled apply-plan job applies a plan approved elsewhere with the
// code of 'exporter apply': a dry run changes nothing, apply: true carries
// it out, and the next sync shows it.
func TestRunApplyPlanJob(t *testing.T) {
	t.Parallel()
	sim, env := simEnv(t, adosim.Options{Preset: "small"})
	env["ADO_PAT"] = sim.Credential("readwrite")
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	st, err := snapshot.OpenExisting(context.Background(), env["EXPORTER_DB"])
	if err != nil {
		t.Fatal(err)
	}
	var member, group string
	err = st.DB().QueryRow(`SELECT m.member, m.container FROM memberships m JOIN accounts a ON a.descriptor = m.member
		WHERE m.valid_to IS NULL AND a.valid_to IS NULL AND a.kind = 'user' AND m.container LIKE 'vssgp.%' ORDER BY m.member LIMIT 1`).Scan(&member, &group)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	dir, out := writeSchedules(t, `
jobs:
  - name: approve-dry
    schedule: "@daily"
    kind: apply-plan
    plan: OUT/plan.csv
  - name: approve
    schedule: "@daily"
    kind: apply-plan
    plan: OUT/plan.csv
    apply: true
    max_changes: 5
`)
	plan := "action,subject,target,approver,ticket\r\nrevoke," + member + "," + group + ",owner@fabrikam.example,CHG-7\r\n"
	if err := os.WriteFile(filepath.Join(out, "plan.csv"), []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	member1 := func() bool {
		_, o, _ := cli(t, env, "show", "members", group, "--format", "csv")
		return strings.Contains(o, member)
	}
	for _, job := range []struct {
		name    string
		actions int64
		gone    bool
	}{{"approve-dry", 0, false}, {"approve", 1, true}, {"approve", 0, true}} {
		code, stdout, stderr := cli(t, env, "--log-level", "warn", "run", "--schedules", dir, job.name)
		s := lastJSON(t, stdout)
		if code != 0 || s.Status != "ok" || s.Kind != "apply-plan" || s.Rows != job.actions || s.Requests == 0 || strings.Count(strings.TrimSpace(stdout), "\n") != 0 {
			t.Fatalf("run %s: exit %d, summary %+v, stderr %s", job.name, code, s, stderr)
		}
		if code, _, errs := cli(t, env, "sync"); code != 0 {
			t.Fatalf("sync: %s", errs)
		}
		if member1() == job.gone {
			t.Fatalf("after %s: membership present = %v", job.name, !job.gone)
		}
	}
}

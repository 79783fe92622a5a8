package schedule

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodFile = `
jobs:
  - name: hourly-sync
    schedule: "0 * * * *"
    kind: sync
    mode: auto
    full_every: 7d
    token_sweep: 168h
  - name: nightly
    schedule: "CRON_TZ=Europe/Berlin 30 2 * * *"
    kind: warehouse
    to: azblob://lake/ado-access
  - name: review
    schedule: "@monthly"
    timezone: America/New_York
    kind: pipeline
    org: https://dev.azure.com/fabrikam
    store: /data/fabrikam.db
    steps:
      - kind: sync
        mode: full
      - kind: packet
        to: reviews/{org}/{date}
        formats: [xlsx, csv]
`

func TestParseGood(t *testing.T) {
	jobs, err := Parse("schedules/good.yaml", []byte(goodFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 3 {
		t.Fatalf("got %d jobs", len(jobs))
	}
	if jobs[0].Mode != "auto" || time.Duration(jobs[0].FullEvery) != 7*24*time.Hour || jobs[0].Location != time.UTC {
		t.Errorf("hourly-sync = %+v", jobs[0])
	}
	if jobs[1].Location.String() != "Europe/Berlin" {
		t.Errorf("nightly in %s, want Europe/Berlin", jobs[1].Location)
	}
	// 02:30 in Berlin is 01:30 UTC in winter.
	ref := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	if got := jobs[1].Next(ref, 1)[0]; !got.Equal(time.Date(2026, 11, 2, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("nightly next = %s", got.UTC())
	}
	work := jobs[2].Work()
	if len(work) != 2 || work[1].Org != "https://dev.azure.com/fabrikam" || work[1].Store != "/data/fabrikam.db" || work[1].Formats[0] != "xlsx" {
		t.Errorf("pipeline steps = %+v", work)
	}
	if got := jobs[2].Next(ref, 1)[0]; !got.Equal(time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)) {
		t.Errorf("review next = %s, want midnight in New York on 1 December", got.UTC())
	}
}

// Every error names the file, the job and the field.
func TestParseErrors(t *testing.T) {
	job := func(body string) string {
		return "jobs:\n  - name: nightly\n" + body
	}
	tests := []struct {
		name, file, want string
	}{
		{"minute out of range", job("    schedule: \"61 2 * * *\"\n    kind: sync\n"), `schedules/bad.yaml: job "nightly": schedule: minute 61 out of range 0-59`},
		{"hour out of range", job("    schedule: \"0 24 * * *\"\n    kind: sync\n"), `job "nightly": schedule: hour 24 out of range 0-23`},
		{"day of month zero", job("    schedule: \"0 0 0 * *\"\n    kind: sync\n"), `job "nightly": schedule: day-of-month 0 out of range 1-31`},
		{"bad month name", job("    schedule: \"0 0 1 foo *\"\n    kind: sync\n"), `job "nightly": schedule: month "foo": failed to parse int from foo`},
		{"too few fields", job("    schedule: \"0 2 * *\"\n    kind: sync\n"), `job "nightly": schedule: "0 2 * *" has 4 fields, want 5`},
		{"six fields", job("    schedule: \"0 0 2 * * *\"\n    kind: sync\n"), `job "nightly": schedule: "0 0 2 * * *" has 6 fields, want 5`},
		{"bad descriptor", job("    schedule: \"@nightly\"\n    kind: sync\n"), `job "nightly": schedule: unrecognized descriptor: @nightly`},
		{"never runs", job("    schedule: \"0 0 30 2 *\"\n    kind: sync\n"), `job "nightly": schedule: "0 0 30 2 *" never runs`},
		{"missing schedule", job("    kind: sync\n"), `job "nightly": schedule: missing`},
		{"bad time zone", job("    schedule: \"0 2 * * *\"\n    timezone: Mars/Olympus\n    kind: sync\n"), `job "nightly": schedule: unknown time zone "Mars/Olympus"`},
		{"bad CRON_TZ", job("    schedule: \"CRON_TZ=Nowhere 0 2 * * *\"\n    kind: sync\n"), `job "nightly": schedule: unknown time zone "Nowhere"`},
		{"two zones", job("    schedule: \"CRON_TZ=UTC 0 2 * * *\"\n    timezone: Europe/Paris\n    kind: sync\n"), `job "nightly": schedule: CRON_TZ=UTC conflicts with timezone: Europe/Paris`},
		{"CRON_TZ alone", job("    schedule: \"CRON_TZ=UTC\"\n    kind: sync\n"), `job "nightly": schedule: nothing after CRON_TZ=UTC`},
		{"unknown key", job("    schedule: \"0 2 * * *\"\n    kind: sync\n    colour: blue\n"), `job "nightly": colour: unknown key`},
		{"key of another kind", job("    schedule: \"0 2 * * *\"\n    kind: sync\n    formats: [csv]\n"), `job "nightly": formats: does not apply to kind sync`},
		{"missing kind", job("    schedule: \"0 2 * * *\"\n"), `job "nightly": kind: missing; want one of sync, packet`},
		{"unknown kind", job("    schedule: \"0 2 * * *\"\n    kind: backup\n"), `job "nightly": kind: "backup": want one of sync`},
		{"bad mode", job("    schedule: \"0 2 * * *\"\n    kind: sync\n    mode: sometimes\n"), `job "nightly": mode: "sometimes": want auto, full or incremental`},
		{"bad bool", job("    schedule: \"0 2 * * *\"\n    kind: sync\n    teams: perhaps\n"), `job "nightly": teams: cannot unmarshal !!str ` + "`perhaps`" + ` into bool`},
		{"bad duration", job("    schedule: \"0 2 * * *\"\n    kind: sync\n    full_every: weekly\n"), `job "nightly": full_every: "weekly": want a duration such as 90m, 12h or 7d`},
		{"bad token sweep", job("    schedule: \"0 2 * * *\"\n    kind: sync\n    token_sweep: weekly\n"), `job "nightly": token_sweep: "weekly": want every-run, off, or a duration such as 168h or 7d`},
		{"concurrency", job("    schedule: \"0 2 * * *\"\n    kind: sync\n    concurrency: 500\n"), `job "nightly": concurrency: 500: want 1 to 64`},
		{"bad format", job("    schedule: \"0 2 * * *\"\n    kind: packet\n    formats: [pdf]\n"), `job "nightly": formats: "pdf": want csv, parquet or xlsx`},
		{"negative dormant days", job("    schedule: \"0 2 * * *\"\n    kind: warehouse\n    dormant_days: -1\n"), `job "nightly": dormant_days: -1: must not be negative`},
		{"unknown placeholder", job("    schedule: \"0 2 * * *\"\n    kind: packet\n    to: reviews/{week}\n"), `job "nightly": to: unknown placeholder {week}`},
		{"campaign split", job("    schedule: \"0 2 * * *\"\n    kind: packet\n    split_by: team\n"), `job "nightly": split_by: "team": want project`},
		{"reviewers without split", job("    schedule: \"0 2 * * *\"\n    kind: packet\n    reviewers: r.yaml\n"), `job "nightly": reviewers: needs split_by: project`},
		{"review status without campaign", job("    schedule: \"0 2 * * *\"\n    kind: review-status\n"), `job "nightly": campaign: missing`},
		{"diff format", job("    schedule: \"0 2 * * *\"\n    kind: diff-report\n    format: xml\n"), `job "nightly": format: "xml": want json or csv`},
		{"apply without plan", job("    schedule: \"0 2 * * *\"\n    kind: apply-plan\n    apply: true\n"), `job "nightly": plan: missing`},
		{"apply max changes", job("    schedule: \"0 2 * * *\"\n    kind: apply-plan\n    plan: p.json\n    max_changes: -3\n"), `job "nightly": max_changes: must not be negative`},
		{"state not blob", job("    schedule: \"0 2 * * *\"\n    kind: sync\n    state: /data/x.db\n"), `job "nightly": state: "/data/x.db": want a blob location`},
		{"pipeline without steps", job("    schedule: \"0 2 * * *\"\n    kind: pipeline\n"), `job "nightly": steps: a pipeline needs a list of steps`},
		{"step option of another kind", job("    schedule: \"0 2 * * *\"\n    kind: pipeline\n    steps:\n      - kind: sync\n        to: x\n"), `job "nightly": steps[0].to: does not apply to kind sync`},
		{"step without kind", job("    schedule: \"0 2 * * *\"\n    kind: pipeline\n    steps:\n      - mode: full\n"), `job "nightly": steps[0].kind: missing`},
		{"nested pipeline", job("    schedule: \"0 2 * * *\"\n    kind: pipeline\n    steps:\n      - kind: pipeline\n"), `job "nightly": steps[0].kind: a pipeline cannot hold a pipeline`},
		{"step with a schedule", job("    schedule: \"0 2 * * *\"\n    kind: pipeline\n    steps:\n      - kind: sync\n        schedule: \"@daily\"\n"), `job "nightly": steps[0].schedule: unknown key`},
		{"pipeline with to", job("    schedule: \"0 2 * * *\"\n    kind: pipeline\n    to: x\n    steps:\n      - kind: sync\n"), `job "nightly": to: does not apply to kind pipeline`},
		{"bad name", "jobs:\n  - name: Nightly Sync\n    schedule: \"@daily\"\n    kind: sync\n", `job "Nightly Sync": name: "Nightly Sync": want lower-case letters`},
		{"key twice", job("    schedule: \"0 2 * * *\"\n    kind: sync\n    mode: full\n    mode: auto\n"), `job "nightly": mode: given twice`},
		{"unknown top-level key", "version: 2\njobs:\n  - name: a\n    schedule: \"@daily\"\n    kind: sync\n", `schedules/bad.yaml:1: version: unknown key`},
		{"no jobs", "jobs: []\n", `schedules/bad.yaml:1: jobs: missing or empty`},
		{"empty file", "", `schedules/bad.yaml: empty file`},
		{"not a mapping", "- a\n- b\n", `schedules/bad.yaml:1: want a mapping with a jobs: list`},
		{"job not a mapping", "jobs:\n  - nightly\n", `schedules/bad.yaml:2: jobs[0]: want a mapping`},
		{"yaml syntax", "jobs:\n  - name: a\n   schedule: x\n", `schedules/bad.yaml: line 1: did not find expected`},
		{"job without a name", "jobs:\n  - schedule: \"@daily\"\n    kind: sync\n", `job "#1": name: "": want lower-case letters`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("schedules/bad.yaml", []byte(tt.file), nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error does not wrap ErrConfig: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
			if !strings.Contains(err.Error(), "schedules/bad.yaml") {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

// A file that looks like it holds a secret is refused, and the error
// never repeats the secret.
func TestParseRefusesSecrets(t *testing.T) {
	const secret = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst" // 52 chars of base32, like a PAT
	tests := []struct{ name, body, field string }{
		{"pat key", "    pat: " + secret + "\n", "pat"},
		{"ado_pat key", "    ado_pat: x1y2z3\n", "ado_pat"},
		{"client secret", "    client_secret: hunter22\n", "client_secret"},
		{"nested token", "    steps:\n      - kind: sync\n        auth:\n          token: abcd\n", "steps.auth.token"},
		{"SAS in to", "    to: \"https://acme.blob.core.windows.net/lake/x?sv=2024-01-01&sp=rw&sig=SECRETSIG\"\n", "to"},
		{"SAS in state", "    state: \"https://acme.blob.core.windows.net/state/f.sqlite?se=2030&sig=SECRETSIG\"\n", "state"},
		{"connection string", "    to: \"DefaultEndpointsProtocol=https;AccountName=a;AccountKey=SECRETKEY==\"\n", "to"},
		{"PAT as a value", "    org: " + secret + "\n", "org"},
		{"password in URL", "    org: https://user:SECRETPW@dev.azure.com/fabrikam\n", "org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := "jobs:\n  - name: nightly\n    schedule: \"@daily\"\n    kind: warehouse\n" + tt.body
			_, err := Parse("schedules/leak.yaml", []byte(file), nil)
			if err == nil {
				t.Fatal("a file with a secret was accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, `schedules/leak.yaml: job "nightly": `+tt.field+": ") || !strings.Contains(msg, "must not hold secrets") {
				t.Errorf("error does not name file, job and field %s:\n%s", tt.field, msg)
			}
			for _, leak := range []string{secret, "SECRETSIG", "SECRETKEY", "hunter22", "x1y2z3", "SECRETPW"} {
				if strings.Contains(msg, leak) {
					t.Errorf("the error repeats the secret %q: %s", leak, msg)
				}
			}
		})
	}
	// A secret is found anywhere in a value or a comment, not only as the
	// whole value (issue 19, item 5).
	newPAT := strings.Repeat("Ab3d", 19) + "AZDO" + "x9Y8"
	anywhere := []struct{ name, body, field, leak string }{
		{"PAT in a description", "    description: \"nightly, uses " + secret + " for now\"\n", "description", secret},
		{"PAT in a path", "    to: \"w/" + secret + "/{date}\"\n", "to", secret},
		{"new PAT in a path", "    to: w/" + newPAT + "/{date}\n", "to", newPAT},
		{"PAT in a line comment", "    to: w/{date} # was " + secret + "\n", "", secret},
		{"PAT in a comment line", "    # token: " + newPAT + "\n    to: w/{date}\n", "", newPAT},
		{"SAS URL in a comment", "    to: w/{date}\n# copy to https://acme.blob.core.windows.net/lake?sv=1&sig=SECRETSIG\n", "", "SECRETSIG"},
		{"password URL in a description", "    description: see https://u:SECRETPW@dev.azure.com/x\n", "description", "SECRETPW"},
	}
	for _, tt := range anywhere {
		t.Run(tt.name, func(t *testing.T) {
			file := "jobs:\n  - name: nightly\n    schedule: \"@daily\"\n    kind: warehouse\n" + tt.body
			_, err := Parse("schedules/leak.yaml", []byte(file), nil)
			if err == nil {
				t.Fatal("a file with a secret was accepted")
			}
			msg := err.Error()
			if !errors.Is(err, ErrConfig) || !strings.Contains(msg, "must not hold secrets") {
				t.Errorf("not refused as a secret: %v", msg)
			}
			want := `schedules/leak.yaml: job "nightly": ` + tt.field + ": "
			if tt.field == "" {
				want = "schedules/leak.yaml:"
			}
			if !strings.Contains(msg, want) {
				t.Errorf("error does not name %q:\n%s", want, msg)
			}
			if strings.Count(msg, "must not hold secrets") != 1 {
				t.Errorf("the secret is reported more than once:\n%s", msg)
			}
			if strings.Contains(msg, tt.leak) {
				t.Errorf("the error repeats the secret: %s", msg)
			}
		})
	}

	// Keys and values that only resemble secrets pass.
	ok := "jobs:\n  - name: nightly\n    schedule: \"@daily\"\n    kind: packet\n    to: \"https://acme.blob.core.windows.net/lake/x?comp=list\"\n    baseline: patches/2026\n" +
		"    # a comment with a long word: abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstu (53 letters)\n" +
		"    description: \"weekly packets for https://dev.azure.com/fabrikam?view=all\"\n"
	if _, err := Parse("ok.yaml", []byte(ok), nil); err != nil {
		t.Errorf("a file without secrets was refused: %v", err)
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), "holds no schedule files") {
		t.Fatalf("empty folder: %v", err)
	}
	write("a.yaml", "jobs:\n  - name: one\n    schedule: \"@daily\"\n    kind: sync\n")
	write("b.yml", "jobs:\n  - name: one\n    schedule: \"@hourly\"\n    kind: sync\n  - name: two\n    schedule: \"61 * * * *\"\n    kind: sync\n")
	write("README.md", "not a schedule")
	jobs, err := Load(dir, nil)
	if err == nil {
		t.Fatal("duplicate names and a bad schedule were accepted")
	}
	for _, want := range []string{filepath.Join(dir, "b.yml") + `: job "one": name: also defined in ` + filepath.Join(dir, "a.yaml"), `job "two": schedule: minute 61 out of range`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if len(jobs) != 1 || jobs[0].Name != "one" {
		t.Errorf("valid jobs = %v", jobs)
	}
	if _, err := Find(jobs, "nope"); err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "jobs: one") {
		t.Errorf("Find of a missing job: %v", err)
	}
	// A checker from cmd/exporter reports through the same errors.
	write("b.yml", "jobs:\n  - name: two\n    schedule: \"@daily\"\n    kind: diff-report\n    changes: [widgets]\n")
	_, err = Load(dir, map[string]Checker{KindDiffReport: func(s Step) (string, error) {
		return "changes", errors.New(`"widgets": unknown`)
	}})
	if err == nil || !strings.Contains(err.Error(), `b.yml: job "two": changes: "widgets": unknown`) {
		t.Errorf("checker error: %v", err)
	}
}

func TestExpand(t *testing.T) {
	got := Expand("reviews/{org}/{date}", "fabrikam", time.Date(2026, 10, 1, 23, 30, 0, 0, time.FixedZone("x", -2*3600)))
	if got != "reviews/fabrikam/2026-10-02" {
		t.Errorf("Expand = %q", got)
	}
	for at, want := range map[time.Time]string{
		time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC): "2026-Q1",
		time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC):   "2026-Q2",
		time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC): "2026-Q4",
	} {
		if got := Expand("{quarter}", "x", at); got != want {
			t.Errorf("Expand({quarter}) at %s = %q, want %q", at, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(goodFile))
	f.Add([]byte("jobs:\n  - name: a\n    schedule: \"CRON_TZ=UTC\"\n    kind: sync\n"))
	f.Add([]byte("jobs:\n  - name: a\n    schedule: \"TZ=\"\n    kind: pipeline\n    steps: [{kind: x}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		jobs, err := Parse("fuzz.yaml", data, nil)
		if err != nil && !errors.Is(err, ErrConfig) {
			t.Fatalf("error does not wrap ErrConfig: %v", err)
		}
		for _, j := range jobs {
			if j.Cron == nil || j.Location == nil || j.Name == "" {
				t.Fatalf("a job without schedule or name passed: %+v", j)
			}
		}
	})
}

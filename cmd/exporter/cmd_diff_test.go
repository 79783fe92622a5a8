package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/export"
)

func TestDiffCommand(t *testing.T) {
	sim, env := simEnv(t, adosim.Options{Preset: "small", Seed: 5})
	mustCLI := func(args ...string) string {
		t.Helper()
		code, out, errs := cli(t, env, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		return out
	}
	mustCLI("sync")

	// One run: nothing to compare with.
	if code, _, errs := cli(t, env, "diff"); code != 1 || !strings.Contains(errs, "first complete run") {
		t.Fatalf("diff with one run: exit %d %q", code, errs)
	}
	if code, _, _ := cli(t, env, "diff", "--exit-code"); code != 2 {
		t.Fatalf("diff --exit-code with one run: exit %d, want 2", code)
	}

	// Nothing changed: exit 0 with --exit-code.
	mustCLI("sync")
	code, out, errs := cli(t, env, "diff", "--exit-code")
	if code != 0 || !strings.Contains(out, "run 1") || !strings.Contains(out, "run 2") || !strings.Contains(out, "no changes") {
		t.Fatalf("diff of unchanged runs: exit %d %q %q", code, out, errs)
	}

	// Changes, some of each kind the table should name.
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 40, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 4, Seed: 3, Kinds: []string{"nested.add", "license.change", "user.disable", "group.rename"}}); err != nil {
		t.Fatal(err)
	}
	mustCLI("sync")
	code, out, _ = cli(t, env, "diff", "--exit-code", "--effective")
	if code != 1 {
		t.Fatalf("diff --exit-code with changes: exit %d, want 1", code)
	}
	for _, want := range []string{"run 2", "run 3", "KIND", "ENTITY", "NAME", "DETAIL", "added", "memberships", "license_changed", "access_gained", " → ", "changes\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	// JSON: one object per change; CSV: one row per changed field.
	var changes []struct {
		Kind, Entity, Key, Name string
		Fields                  []struct{ Name, Before, After string }
		Path                    string
	}
	out = mustCLI("diff", "--effective", "--format", "json")
	if err := json.Unmarshal([]byte(out), &changes); err != nil || len(changes) == 0 {
		t.Fatalf("diff json: %v\n%s", err, out)
	}
	rows := 0
	for _, c := range changes {
		rows += max(1, len(c.Fields))
		if c.Kind == "" || c.Entity == "" || c.Key == "" {
			t.Errorf("incomplete change %+v", c)
		}
		if strings.HasPrefix(c.Kind, "access_") && !strings.HasPrefix(c.Path, "direct") && !strings.HasPrefix(c.Path, "via ") {
			t.Errorf("access change without a path: %+v", c)
		}
	}
	out = mustCLI("diff", "--effective", "--format", "csv")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "kind,entity,key,subject,subject_kind,name,field,before,after,path" || len(recs)-1 != rows {
		t.Fatalf("csv header %v, %d rows; want %d", recs[0], len(recs)-1, rows)
	}
	formulaFree(t, "diff --format csv", recs)

	// --kind narrows, and access kinds imply --effective.
	out = mustCLI("diff", "--from", "1", "--to", "latest", "--kind", "access_gained", "--format", "json")
	changes = nil
	json.Unmarshal([]byte(out), &changes)
	if len(changes) == 0 {
		t.Fatal("--kind access_gained shows nothing")
	}
	for _, c := range changes {
		if c.Kind != "access_gained" {
			t.Fatalf("--kind access_gained shows %s", c.Kind)
		}
	}
	out = mustCLI("diff", "--kind", "users,license_changed", "--format", "json")
	changes = nil
	json.Unmarshal([]byte(out), &changes)
	for _, c := range changes {
		if c.Kind != "license_changed" || c.Entity != "accounts" {
			t.Fatalf("--kind users,license_changed shows %+v", c)
		}
	}
	if len(changes) == 0 {
		t.Fatal("--kind users,license_changed shows nothing")
	}

	// Dates pick runs; a date before every run is an error.
	if got := mustCLI("diff", "--to", time.Now().AddDate(0, 0, 1).Format(time.DateOnly), "--format", "csv"); got != mustCLI("diff", "--format", "csv") {
		t.Error("--to tomorrow differs from --to latest")
	}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"diff", "--from", "2000-01-01"}, 1, "no complete run at or before"},
		{[]string{"diff", "--exit-code", "--from", "2000-01-01"}, 2, "no complete run at or before"},
		{[]string{"diff", "--from", "3", "--to", "1"}, 2, "swap them"},
		{[]string{"diff", "--from", "yesterday"}, 2, "want a run id"},
		{[]string{"diff", "--kind", "widgets"}, 2, "--kind \"widgets\""},
		{[]string{"diff", "--exit-code", "--format", "xml"}, 2, "want one of table, json, csv"},
		{[]string{"diff", "--exit-code", "--to", "99"}, 2, "no such run"},
		{[]string{"diff", "--exit-code", "--db", filepath.Join(t.TempDir(), "none.db")}, 2, "exporter sync"},
		{[]string{"diff", "extra"}, 2, "--packets OLD NEW"},
	} {
		code, _, errs := cli(t, env, tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d %q; want exit %d and %q", tt.args, code, errs, tt.code, tt.want)
		}
	}
}

// Two small packets written by hand: a renamed group, a membership gone,
// values escaped for spreadsheets.
func TestDiffPacketsCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(packet, table, content string) {
		t.Helper()
		os.MkdirAll(filepath.Join(dir, packet), 0o755)
		if err := os.WriteFile(filepath.Join(dir, packet, table+".csv"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	groupsHeader := "descriptor,subject_type,scope_id,origin,origin_id,display_name,principal_name,description,domain,mail,entra_managed\n"
	write("old", "groups", groupsHeader+
		"vssgp.a,vssgp,,vsts,1,Admins,[org]\\Admins,,,,0\n"+
		"vssgp.f,vssgp,,vsts,2,'=Formula,'=Formula,,,,0\n")
	write("new", "groups", groupsHeader+
		"vssgp.a,vssgp,,vsts,1,Administrators,[org]\\Administrators,,,,0\n"+
		"vssgp.f,vssgp,,vsts,2,'=Formula,'=Formula,,,,false\n")
	write("old", "memberships", "group_descriptor,member_descriptor\nvssgp.a,vssgp.f\n")
	write("new", "memberships", "member_descriptor,group_descriptor\n")
	env := map[string]string{}
	old, nu := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	sealPacket(t, old)
	sealPacket(t, nu)

	code, out, errs := cli(t, env, "diff", "--packets", old, nu, "--format", "json", "--exit-code")
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var changes []map[string]any
	if err := json.Unmarshal([]byte(out), &changes); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || changes[0]["kind"] != "modified" || changes[0]["name"] != `[org]\Administrators` ||
		changes[1]["kind"] != "removed" || changes[1]["name"] != `[org]\Administrators > =Formula` {
		t.Fatalf("packet diff: %s", out)
	}
	if code, out, _ := cli(t, env, "diff", "--packets", old, old, "--exit-code"); code != 0 || !strings.Contains(out, "no changes") {
		t.Fatalf("a packet against itself: exit %d %q", code, out)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"diff", "--packets", old}, "two folders"},
		{[]string{"diff", "--packets", old, nu, "--from", "1"}, "--from"},
		{[]string{"diff", "--packets", old, filepath.Join(dir, "none"), "--exit-code"}, "none"},
		{[]string{"diff", "--packets", old, nu, "--kind", "accounts", "--exit-code"}, "none of the tables"},
	} {
		if code, _, errs := cli(t, env, tt.args...); code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d %q; want 2 and %q", tt.args, code, errs, tt.want)
		}
	}
}

// A packet is evidence only whole: an edited, half-written or
// manifest-less packet is refused before anything is compared, and junk
// costs no more than the manifest's declared sizes to read.
func TestDiffPacketsRefusesUnverifiedPackets(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(p, 0o755)
		os.WriteFile(filepath.Join(p, "memberships.csv"), []byte("group_descriptor,member_descriptor\nvssgp.a,aad.x\n"), 0o644)
		sealPacket(t, p)
		return p
	}
	good := mk("good")
	edited := mk("edited")
	os.WriteFile(filepath.Join(edited, "memberships.csv"), []byte("group_descriptor,member_descriptor\nvssgp.a,aad.y\n"), 0o644)
	half := mk("half")
	os.Remove(filepath.Join(half, "manifest.json"))
	junk := mk("junk")
	f, _ := os.OpenFile(filepath.Join(junk, "memberships.csv"), os.O_APPEND|os.O_WRONLY, 0)
	f.Write(bytes.Repeat([]byte("vssgp.z,aad.z\n"), 1<<20)) // 14 MiB appended
	f.Close()
	for _, tt := range []struct{ packet, want string }{
		{edited, "SHA-256"},
		{half, "no manifest.json"},
		{junk, "larger than"},
	} {
		code, out, errs := cli(t, nil, "diff", "--packets", good, tt.packet, "--exit-code")
		if code != 2 || !strings.Contains(errs, tt.want) || out != "" {
			t.Errorf("diff with %s: exit %d, %q; want 2 and %q, nothing compared", filepath.Base(tt.packet), code, errs, tt.want)
		}
	}
	if code, _, errs := cli(t, nil, "diff", "--packets", good, good, "--exit-code"); code != 0 {
		t.Fatalf("a verified packet against itself: exit %d %s", code, errs)
	}
}

// sealPacket writes the manifest.json an export would write for the CSV
// tables in dir.
func sealPacket(t *testing.T, dir string) {
	t.Helper()
	m := export.Manifest{Kind: "packet", SchemaVersion: export.SchemaVersion, Org: "https://dev.azure.com/org", OrgName: "org", Run: 1}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".csv") {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		m.Files = append(m.Files, export.File{Path: e.Name(), Table: strings.TrimSuffix(e.Name(), ".csv"), Format: "csv",
			Rows: int64(len(recs) - 1), Bytes: int64(len(b)), SHA256: hex.EncodeToString(sum[:])})
	}
	b, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDiffHelp(t *testing.T) {
	code, out, _ := cli(t, nil, "help", "diff")
	for _, want := range []string{"Usage: exporter diff", "--exit-code", "--packets", "access_gained", "Examples:", "--effective"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("help diff lacks %q", want)
		}
	}
}

// Packets written at schema version 1 (testdata: required strings with ”
// for none, data page v2 Parquet) still diff, as either side, against
// each other and against version-2 packets of the same organization, and
// still serve as an export's baseline: the same data, no changes but one
// the simulator made since. The fixtures predate directoryAlias on its
// service principals (Microsoft's examples carry it: the object id), so a
// packet written now differs from them in exactly that: each service
// principal's directory_alias, from none to a value.
func TestDiffReadsVersion1Packets(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 1, 0, 0, time.UTC) // the fixtures' clock, a minute on
	sim, env := simEnv(t, adosim.Options{Preset: "small", Seed: 7, Now: func() time.Time { return at }})
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatal(errs)
	}
	// The fixtures' simulator served on another port: their manifests
	// name the organization by this one's URL (the files stay as written).
	tmp := t.TempDir()
	v1 := map[string]string{}
	for _, f := range []string{"csv", "parquet"} {
		dir := filepath.Join(tmp, "v1-"+f)
		if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "packet-v1-"+f))); err != nil {
			t.Fatal(err)
		}
		mp := filepath.Join(dir, export.ManifestName)
		var m map[string]any
		b, _ := os.ReadFile(mp)
		if err := json.Unmarshal(b, &m); err != nil || m["schema_version"] != 1.0 {
			t.Fatalf("fixture manifest: %v %v", m["schema_version"], err)
		}
		m["org"] = sim.URL()
		b, _ = json.Marshal(m)
		os.WriteFile(mp, b, 0o644)
		v1[f] = dir
	}
	v2 := map[string]string{}
	for _, f := range []string{"csv", "parquet"} {
		v2[f] = filepath.Join(tmp, "v2-"+f)
		if code, _, errs := cli(t, env, "export", "packet", "--format", f, "--to", v2[f]); code != 0 {
			t.Fatal(errs)
		}
	}
	if code, out, errs := cli(t, env, "diff", "--packets", v1["csv"], v1["parquet"], "--effective", "--exit-code"); code != 0 || !strings.Contains(out, "no changes") {
		t.Fatalf("diff --packets v1-csv v1-parquet: exit %d\n%s%s", code, out, errs)
	}
	const servicePrincipals = 3 // in the small preset, seed 7
	for _, pair := range [][2]string{{v1["parquet"], v2["csv"]}, {v1["csv"], v2["parquet"]}, {v1["parquet"], v2["parquet"]}} {
		code, out, errs := cli(t, env, "diff", "--packets", pair[0], pair[1], "--effective", "--format", "csv")
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if code != 0 || err != nil || len(recs) != 1+servicePrincipals {
			t.Fatalf("diff --packets %s %s: exit %d %v\n%s%s", filepath.Base(pair[0]), filepath.Base(pair[1]), code, err, out, errs)
		}
		for _, r := range recs[1:] { // kind entity key subject subject_kind name field before after path
			if r[0] != "modified" || r[1] != "accounts" || r[4] != "service_principal" || r[6] != "directory_alias" || r[7] != "" || r[8] == "" {
				t.Errorf("diff --packets %s %s: a change the fixtures do not explain: %q", filepath.Base(pair[0]), filepath.Base(pair[1]), r)
			}
		}
	}
	out := filepath.Join(tmp, "since-v1")
	if code, _, errs := cli(t, env, "export", "packet", "--format", "csv", "--baseline", v1["parquet"], "--to", out); code != 0 {
		t.Fatal(errs)
	}
	f, _ := os.Open(filepath.Join(out, "changes.csv"))
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(recs) != 1+servicePrincipals {
		t.Fatalf("changes since the version-1 packet of the same data: %v %q", err, recs)
	}
	for _, r := range recs[1:] { // kind entity key subject subject_kind name details …
		if r[0] != "modified" || r[1] != "accounts" || r[4] != "service_principal" || !strings.HasPrefix(r[6], "directory_alias: ") {
			t.Errorf("a change since the version-1 packet the fixtures do not explain: %q", r)
		}
	}
}

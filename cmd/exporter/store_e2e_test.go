package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// A store holds one organization, known by its id: another organization is
// refused before anything is written, even under the same URL; the same
// organization reached by a new URL keeps its store.
func TestAStoreHoldsOneOrganization(t *testing.T) {
	simA, env := simEnv(t, adosim.Options{Preset: "small", Seed: 1})
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync A: %s", errs)
	}
	_, groupsBefore, _ := cli(t, env, "show", "groups", "--format", "csv")
	// Booleans are true and false, as in packets, not SQLite's 0 and 1
	// (issue 19, item 10).
	for _, kind := range []string{"groups", "repos", "users"} {
		_, js, _ := cli(t, env, "show", kind, "--format", "json")
		var rows []map[string]any
		if err := json.Unmarshal([]byte(js), &rows); err != nil || len(rows) == 0 {
			t.Fatalf("show %s --format json: %v %.200s", kind, err, js)
		}
		for _, col := range []string{"entra_managed", "is_disabled", "deleted_in_origin"} {
			if v, ok := rows[0][col]; ok {
				if _, isBool := v.(bool); !isBool {
					t.Errorf("show %s: %s = %v (%T), want true or false", kind, col, v, v)
				}
			}
		}
	}
	if !strings.Contains(groupsBefore, ",false\n") && !strings.Contains(groupsBefore, ",true\n") && !strings.Contains(groupsBefore, ",false,") && !strings.Contains(groupsBefore, ",true,") {
		t.Errorf("show groups --format csv has no true/false:\n%.300s", groupsBefore)
	}

	// Another organization into the same store.
	_, envB := simEnv(t, adosim.Options{Preset: "small", Org: "contoso", Seed: 2})
	envB["EXPORTER_DB"] = env["EXPORTER_DB"]
	code, _, errs := cli(t, envB, "sync")
	if code != 1 || !strings.Contains(errs, "another organization") || !strings.Contains(errs, "--db") {
		t.Fatalf("sync of another organization: exit %d %q", code, errs)
	}
	// Another organization under the very same URL (a simulator of another
	// seed on A's port is not possible, so: same name, other seed).
	_, envC := simEnv(t, adosim.Options{Preset: "small", Seed: 3})
	envC["EXPORTER_DB"] = env["EXPORTER_DB"]
	if code, _, errs := cli(t, envC, "sync"); code != 1 || !strings.Contains(errs, "another organization") {
		t.Fatalf("sync of another organization with the same name: exit %d %q", code, errs)
	}
	// Nothing of either was written: one run, A's groups.
	_, runsOut, _ := cli(t, env, "runs", "--format", "json")
	if n := strings.Count(runsOut, `"id"`); n != 1 {
		t.Fatalf("runs after refused syncs:\n%s", runsOut)
	}
	if _, after, _ := cli(t, env, "show", "groups", "--format", "csv"); after != groupsBefore {
		t.Fatal("the snapshot changed")
	}

	// The same organization (same name and seed) on another port.
	simA.Close()
	_, envA2 := simEnv(t, adosim.Options{Preset: "small", Seed: 1})
	envA2["EXPORTER_DB"] = env["EXPORTER_DB"]
	if code, out, errs := cli(t, envA2, "sync"); code != 0 || !strings.Contains(out, "run 2") {
		t.Fatalf("sync of the same organization by a new URL: exit %d %s %s", code, out, errs)
	}
	// Reading commands pointed at an organization the store does not hold
	// say which one it holds.
	env["ADO_ORG_URL"] = "https://dev.azure.com/contoso"
	if code, _, errs := cli(t, env, "show", "users"); code != 1 || !strings.Contains(errs, "holds organization fabrikam") {
		t.Fatalf("show with another organization: exit %d %q", code, errs)
	}
}

// A damaged store is caught: a full sync (which checks the whole file, as
// does the first run of each day) does not add a run to it, and reading
// commands say what to do.
func TestDamagedStoreIsNoticed(t *testing.T) {
	sim, env := simEnv(t, adosim.Options{Preset: "small"})
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync: %s", errs)
	}
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 5, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	db := env["EXPORTER_DB"]
	f, _ := os.OpenFile(db, os.O_RDWR, 0)
	fi, _ := f.Stat()
	junk := bytes.Repeat([]byte{0x5A, 0xA5, 0x00, 0xFF, 0x13, 0x37, 0x42}, 64<<10/7+1)[:64<<10]
	f.WriteAt(junk, fi.Size()/2)
	f.Close()

	code, out, errs := cli(t, env, "sync", "--mode", "full")
	if code != 1 || !strings.Contains(errs, "damaged") || !strings.Contains(errs, "backup") || strings.Contains(out, "complete") {
		t.Fatalf("full sync of a damaged store: exit %d %q %q", code, out, errs)
	}
	oneLine(t, errs)
	// Reading commands fail where they meet the damage, saying what it is.
	failed := 0
	for _, kind := range []string{"users", "groups", "memberships", "projects", "teams", "repos"} {
		code, _, errs := cli(t, env, "show", kind)
		if code != 0 {
			failed++
			if !strings.Contains(errs, "damaged") || !strings.Contains(errs, "backup") {
				t.Errorf("show %s on a damaged store: exit %d %q", kind, code, errs)
			}
			oneLine(t, errs)
		}
	}
	if failed == 0 {
		t.Error("no reading command met the damage")
	}
	st, err := openRaw(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var complete int
	st.QueryRow(`SELECT count(*) FROM runs WHERE status = 'complete'`).Scan(&complete)
	if complete != 1 {
		t.Fatalf("%d complete runs, want only the first", complete)
	}
}

// oneLine fails unless every line of stderr is a log line or the
// exporter's one-line message: the damage is said on one line (issue 19,
// item 10).
func oneLine(t *testing.T, stderr string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.Contains(line, "level=") && !strings.HasPrefix(line, "exporter") && !strings.HasPrefix(line, "run 'exporter help") {
			t.Errorf("the message spans several lines; this one continues it: %q\nstderr:\n%s", line, stderr)
		}
	}
}

func openRaw(p string) (*sql.DB, error) { return sql.Open("sqlite", "file:"+p+"?mode=ro") }

// Reading commands never change a file, and refuse what is not a store.
func TestReadingCommandsNeverWrite(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "app.db")
	db, _ := sql.Open("sqlite", "file:"+foreign)
	db.Exec(`CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine')`)
	db.Close()
	before, _ := os.ReadFile(foreign)
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o644)
	emptyDir := t.TempDir()
	for _, tt := range []struct{ db, want string }{
		{foreign, "not an ado-access store"},
		{empty, "empty file"},
		{dir, "app.db is an SQLite database of something else"}, // a folder is a store folder: it holds app.db
		{emptyDir, "holds no organization yet"},
	} {
		for _, args := range [][]string{{"runs"}, {"show", "users"}, {"diff"}, {"export", "packet", "--to", filepath.Join(t.TempDir(), "p")}} {
			code, _, errs := cli(t, map[string]string{"EXPORTER_DB": tt.db}, args...)
			if code == 0 || !strings.Contains(errs, tt.want) {
				t.Errorf("%v on %s: exit %d %q, want %q", args, filepath.Base(tt.db), code, errs, tt.want)
			}
		}
	}
	if after, _ := os.ReadFile(foreign); !bytes.Equal(before, after) {
		t.Error("a reading command changed a foreign database")
	}
	if fi, _ := os.Stat(empty); fi.Size() != 0 {
		t.Error("a reading command made an empty file a store")
	}
	if _, err := os.Stat(foreign + "-wal"); err == nil {
		t.Error("a reading command switched a foreign database to WAL")
	}
}

// A second sync through a symlink or a hard link to the store meets the
// first one's lock (real processes).
func TestLockHoldsThroughLinksAcrossProcesses(t *testing.T) {
	t.Parallel()
	bin := exporterBinary(t)
	spec := adosim.Presets["small"]
	spec.Users, spec.Projects = 1200, 20
	_, env := simEnv(t, adosim.Options{Spec: &spec, Faults: adosim.Faults{Latency: adosim.Duration(40 * time.Millisecond)}})
	dir := t.TempDir()
	db := filepath.Join(dir, "store.db")
	first := osexec.Command(bin, "sync", "--concurrency", "2")
	first.Env = append(os.Environ(), "ADO_ORG_URL="+env["ADO_ORG_URL"], "ADO_PAT="+env["ADO_PAT"], "EXPORTER_DB="+db)
	var firstErr bytes.Buffer
	first.Stderr = &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	// Wait until the first sync runs (its run is recorded).
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, err := snapshot.OpenExisting(context.Background(), db); err == nil {
			runs, _ := st.Runs(context.Background())
			st.Close()
			if len(runs) == 1 && runs[0].Status == "running" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first sync never started: %s", firstErr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	sym, hard := filepath.Join(t.TempDir(), "sym.db"), filepath.Join(dir, "hard.db")
	os.Symlink(db, sym)
	if err := os.Link(db, hard); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{sym, hard} {
		second := osexec.Command(bin, "sync")
		second.Env = append(os.Environ(), "ADO_ORG_URL="+env["ADO_ORG_URL"], "ADO_PAT="+env["ADO_PAT"], "EXPORTER_DB="+p)
		out, err := second.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "locked by another sync") || !strings.Contains(string(out), "or use --wait") {
			t.Errorf("second sync through %s: %v %s", filepath.Base(p), err, out)
		}
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("the first sync failed: %v %s", err, firstErr.String())
	}
	st, err := snapshot.OpenExisting(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, _ := st.Runs(context.Background())
	if len(runs) != 1 || runs[0].Status != "complete" {
		t.Fatalf("runs: %+v; want the first sync's run, complete, and nothing else", runs)
	}
}

// An organization that does not answer fails within seconds, saying what
// to check, and leaves no store behind.
func TestUnreachableOrganizationFailsFast(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	db := filepath.Join(t.TempDir(), "s.db")
	start := time.Now()
	code, _, errs := cli(t, map[string]string{"ADO_ORG_URL": "http://" + addr + "/org", "ADO_PAT": "p", "EXPORTER_DB": db}, "sync")
	if code != 1 || !strings.Contains(errs, "cannot reach") || !strings.Contains(errs, "check the organization URL") {
		t.Fatalf("exit %d %q", code, errs)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("failed after %v, want within seconds", d)
	}
	if _, err := os.Stat(db); err == nil {
		t.Fatal("a sync that never reached the organization left a store")
	}
}

// The documented throttling example, a burst of ten 429s every hundred
// requests, starting with the first (discovery), is waited out.
func TestThrottlingBurstDuringDiscovery(t *testing.T) {
	t.Parallel()
	sim, env := simEnv(t, adosim.Options{Preset: "small", Faults: adosim.Faults{Burst429Every: 100, Burst429Len: 10, RetryAfter: adosim.Duration(time.Millisecond)}})
	if code, _, errs := cli(t, env, "sync"); code != 0 {
		t.Fatalf("sync under a 429 burst: exit %d %s", code, errs)
	}
	if n := sim.Stats().Faults["429"]; n < 10 {
		t.Fatalf("%d throttled answers, want the burst of 10", n)
	}
}

// A full disk gets a message that says so, not "disk I/O error". Needs a
// small file system (tmpfs), which only root can mount.
func TestFullDiskSaysSo(t *testing.T) {
	mnt := t.TempDir()
	if out, err := osexec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small file system here: %v %s", err, out)
	}
	defer osexec.Command("umount", mnt).Run()
	_, env := simEnv(t, adosim.Options{Preset: "small"})
	env["EXPORTER_DB"] = filepath.Join(mnt, "store.db")
	code, _, errs := cli(t, env, "sync")
	if code != 1 || !strings.Contains(errs, "is full") || !strings.Contains(errs, "free some space") {
		t.Fatalf("sync onto a full disk: exit %d %q", code, errs)
	}
}

// A sync leaves the store as one file, and runs, show, diff and export
// read it without creating any (no -wal, no -shm) (issue 19, item 8).
func TestReadingCommandsCreateNoFile(t *testing.T) {
	t.Parallel()
	sim, env := simEnv(t, adosim.Options{Preset: "small"})
	for range 2 {
		if code, _, errs := cli(t, env, "sync"); code != 0 {
			t.Fatalf("sync: %s", errs)
		}
		sim.Mutate(adosim.MutateRequest{Count: 3, Seed: 1})
	}
	dir := filepath.Dir(env["EXPORTER_DB"])
	files := func() []string {
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	if got := files(); len(got) != 1 {
		t.Fatalf("files after the syncs: %v, want the store alone", got)
	}
	for _, args := range [][]string{{"runs"}, {"show", "users"}, {"diff"}, {"export", "packet", "--format", "csv", "--to", filepath.Join(t.TempDir(), "p")}} {
		if code, _, errs := cli(t, env, args...); code != 0 {
			t.Fatalf("%v: exit %d %s", args, code, errs)
		}
		if got := files(); len(got) != 1 {
			t.Fatalf("files after %v: %v, want the store alone", args, got)
		}
	}
}

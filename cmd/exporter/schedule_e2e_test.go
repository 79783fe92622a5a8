package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/azurite"
	"github.com/ado-access/ado-access/internal/snapshot"
)

func TestMain(m *testing.M) {
	code := m.Run()
	azurite.Stop()
	os.Exit(code)
}

// slowSim is an organization whose full sync takes a few seconds, long
// enough to stop a process in the middle of it.
func slowSim(t *testing.T) (*adosim.Server, map[string]string) {
	spec := adosim.Presets["small"]
	spec.Users, spec.Projects = 1500, 30
	return simEnv(t, adosim.Options{Spec: &spec, Faults: adosim.Faults{Latency: adosim.Duration(60 * time.Millisecond)}})
}

func processEnv(vars map[string]string) []string {
	out := os.Environ()
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SIGTERM to the daemon mid-sync: no new run, the running sync gets the
// grace period, then is aborted; its run is marked failed, the last good
// snapshot is intact, and the next run succeeds.
func TestScheduleDaemonSIGTERMMidSync(t *testing.T) {
	t.Parallel()
	bin := exporterBinary(t)
	sim, env := slowSim(t)
	ctx := context.Background()
	dir, _ := writeSchedules(t, "jobs:\n  - name: sync\n    schedule: \"@every 1s\"\n    kind: sync\n    mode: full\n    concurrency: 2\n")
	if code, _, errs := cli(t, env, "run", "--schedules", dir, "sync"); code != 0 {
		t.Fatalf("first run: %s", errs)
	}
	st, err := snapshot.OpenExisting(ctx, env["EXPORTER_DB"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	before := storeDigest(t, st, 1)
	if _, err := sim.Mutate(adosim.MutateRequest{Count: 30, Seed: 9}); err != nil {
		t.Fatal(err)
	}

	var stderr bytes.Buffer
	cmd := osexec.Command(bin, "schedule", "--schedules", dir, "--listen", "127.0.0.1:0", "--grace", "300ms")
	cmd.Env = processEnv(env)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, "the daemon's sync", 15*time.Second, func() bool {
		runs, _ := st.Runs(ctx)
		return len(runs) == 2 && runs[1].Status == "running"
	})
	time.Sleep(200 * time.Millisecond)
	t0 := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	took := time.Since(t0)
	logs := stderr.String()
	if err != nil {
		t.Fatalf("the daemon exited with %v after SIGTERM:\n%s", err, logs)
	}
	if took > 5*time.Second {
		t.Errorf("the daemon took %s to stop with a grace of 300ms", took)
	}
	for _, want := range []string{`msg="next run" job=sync`, "stopping: no new runs", "grace period over: aborting running jobs", `msg="run ended" job=sync`, "status=failed"} {
		if !strings.Contains(logs, want) {
			t.Errorf("daemon log lacks %q:\n%s", want, logs)
		}
	}
	runs, _ := st.Runs(ctx)
	if len(runs) != 2 || runs[1].Status != "failed" {
		t.Fatalf("after SIGTERM, runs = %+v; want the aborted run marked failed", runs)
	}
	if latest, _ := st.LatestRun(ctx); latest.ID != 1 || !sameDigest(before, storeDigest(t, st, 1)) {
		t.Fatal("the last good snapshot changed")
	}
	code, stdout, errs := cli(t, env, "run", "--schedules", dir, "sync")
	if s := lastJSON(t, stdout); code != 0 || s.StoreRun != 3 {
		t.Fatalf("run after the abort: exit %d %+v %s", code, s, errs)
	}
}

// The state store in Blob Storage, with real processes standing for
// containers that are thrown away: a second run while the first holds the
// lease exits 3 naming it; a run killed mid-way leaves the blob as it was
// and holds it until its lease lapses, then the next run proceeds; a run
// that fails uploads nothing.
func TestRunStateBlobLease(t *testing.T) {
	t.Parallel()
	a := azurite.Need(t)
	bin := exporterBinary(t)
	_, env := slowSim(t)
	ctr := a.NewContainer(t)
	env["AZURE_STORAGE_CONNECTION_STRING"] = a.ConnString()
	state := "azblob://" + ctr + "/fabrikam.sqlite"
	dir, out := writeSchedules(t, "jobs:\n  - name: sync\n    schedule: \"@hourly\"\n    kind: sync\n    concurrency: 4\n"+
		"  - name: sync-and-export\n    schedule: \"@daily\"\n    kind: pipeline\n    steps:\n      - kind: sync\n      - kind: warehouse\n        to: OUT/lake\n"+
		"  - name: sync-then-fail\n    schedule: \"@daily\"\n    kind: pipeline\n    steps:\n      - kind: sync\n      - kind: packet\n        baseline: /no/such/packet\n")
	c, err := container.NewClientFromConnectionString(a.ConnString(), ctr, nil)
	if err != nil {
		t.Fatal(err)
	}
	bc := c.NewBlockBlobClient("fabrikam.sqlite")
	blobSum := func() string {
		resp, err := bc.DownloadStream(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		h := sha256.New()
		io.Copy(h, resp.Body)
		return hex.EncodeToString(h.Sum(nil))
	}
	// Each run gets a fresh local folder, as a new container would.
	runIn := func(args ...string) (int, runSummary, string) {
		t.Helper()
		vars := maps2(env, "EXPORTER_DB", filepath.Join(t.TempDir(), "store.db"))
		code, stdout, stderr := cli(t, vars, append([]string{"run", "--schedules", dir, "--state", state, "--lease", "15s"}, args...)...)
		if strings.Contains(stdout+stderr, azurite.AccountKey) {
			t.Fatal("the account key appears in the output")
		}
		return code, lastJSON(t, stdout), stderr
	}

	code, s, stderr := runIn("sync-and-export")
	if code != 0 || s.StoreRun != 1 || len(s.Outputs) != 3 || s.Outputs[1] != out+"/lake" || !strings.HasPrefix(s.Outputs[2], "azblob://"+ctr+"/fabrikam.sqlite") {
		t.Fatalf("first run: exit %d %+v %s", code, s, stderr)
	}
	good := blobSum()

	// A run that fails after its sync step uploads nothing.
	if code, s, stderr := runIn("sync-then-fail"); code != 2 || !strings.Contains(stderr, "the state blob keeps its last good store") || blobSum() != good {
		t.Fatalf("failed run: exit %d %+v %s (blob changed: %v)", code, s, stderr, blobSum() != good)
	}

	// A real process holds the lease...
	cmd := osexec.Command(bin, "run", "--schedules", dir, "--state", state, "--lease", "15s", "sync")
	cmd.Env = processEnv(maps2(env, "EXPORTER_DB", filepath.Join(t.TempDir(), "store.db")))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, "the lease", 10*time.Second, func() bool {
		p, err := bc.GetProperties(context.Background(), nil)
		return err == nil && p.LeaseState != nil && *p.LeaseState == lease.StateTypeLeased
	})
	// ... so a second run is refused with exit 3, naming the holder.
	code, s, stderr = runIn("sync")
	if code != 3 || s.Status != "locked" || !strings.Contains(stderr, "is leased by job sync run") {
		t.Fatalf("second run while the first holds the lease: exit %d %+v %s", code, s, stderr)
	}
	// The holder crashes mid-sync: the blob keeps the last good store.
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	killed := time.Now()
	if blobSum() != good {
		t.Fatal("a crashed run changed the state blob")
	}
	// Its lease lapses within 15 s; then the next run proceeds.
	for {
		code, s, stderr = runIn("sync")
		if code != 3 {
			break
		}
		if time.Since(killed) > 25*time.Second {
			t.Fatalf("the crashed run's lease did not lapse: %s", stderr)
		}
		time.Sleep(time.Second)
	}
	if code != 0 || s.StoreRun != 2 || blobSum() == good {
		t.Fatalf("run after the crash: exit %d %+v %s", code, s, stderr)
	}
	if waited := time.Since(killed); waited < 10*time.Second {
		t.Errorf("the next run got in %s after the crash, before the lease could lapse", waited)
	}
	// The blob holds both good runs and nothing of the crashed one.
	local := filepath.Join(t.TempDir(), "check.db")
	f, _ := os.Create(local)
	if _, err := bc.DownloadFile(context.Background(), f, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	st, err := snapshot.OpenExisting(context.Background(), local)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, _ := st.Runs(context.Background())
	if len(runs) != 2 || runs[0].Status != "complete" || runs[1].Status != "complete" {
		t.Fatalf("runs in the state blob: %+v", runs)
	}
}

func maps2(env map[string]string, k, v string) map[string]string {
	m := without(env, k)
	m[k] = v
	return m
}

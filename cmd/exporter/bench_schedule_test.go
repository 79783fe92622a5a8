package main

import (
	"bytes"
	"context"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/azurite"
	"github.com/ado-access/ado-access/internal/schedule"
)

// BenchmarkScheduleMedium measures what scheduling adds: the state blob's
// upload and download for the store of the medium organization (~5k users)
// against Azurite, the wall time of an 'exporter run' of an unchanged
// incremental sync with and without the state blob, and the idle daemon's
// memory and CPU.
func BenchmarkScheduleMedium(b *testing.B) {
	a := azurite.Need(b)
	bin := exporterBinary(b)
	sim, err := adosim.New(adosim.Options{Preset: "medium"})
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	dir := b.TempDir()
	db := filepath.Join(dir, "medium.db")
	vars := map[string]string{"ADO_ORG_URL": sim.URL(), "ADO_PAT": sim.Credential("readonly"), "EXPORTER_DB": db, "EXPORTER_LOG_LEVEL": "warn",
		"AZURE_STORAGE_CONNECTION_STRING": a.ConnString()}
	var stderr bytes.Buffer
	if code := run([]string{"sync", "--mode", "full"}, &Env{Stdout: io.Discard, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }}); code != 0 {
		b.Fatalf("sync: %s", stderr.String())
	}
	fi, _ := os.Stat(db)
	ctx := context.Background()
	ctr := a.NewContainer(b)
	loc := "azblob://" + ctr + "/medium.sqlite"
	for i := 0; i < b.N; i++ {
		st, err := schedule.OpenState(ctx, loc, a.Getenv, schedule.StateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := st.Acquire(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if _, err := st.Upload(ctx, db, "bench"); err != nil {
			b.Fatal(err)
		}
		up := time.Since(t0)
		st.Release()
		if err := st.Acquire(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		if n, err := st.Download(ctx, filepath.Join(b.TempDir(), "copy.db")); err != nil || n != fi.Size() {
			b.Fatalf("download: %d %v", n, err)
		}
		down := time.Since(t0)
		st.Release()
		benchLine("schedule.state.medium.bytes", float64(fi.Size())/(1<<20), "MiB")
		benchLine("schedule.state.medium.upload", up.Seconds(), "s")
		benchLine("schedule.state.medium.download", down.Seconds(), "s")

		// One unchanged incremental run, as a container would do it: with
		// the store on a volume, and with the store in the state blob.
		sched := filepath.Join(b.TempDir())
		os.WriteFile(filepath.Join(sched, "j.yaml"), []byte("jobs:\n  - name: sync\n    schedule: \"@hourly\"\n    kind: sync\n"), 0o644)
		env := []string{"ADO_ORG_URL=" + sim.URL(), "ADO_PAT=" + sim.Credential("readonly"), "EXPORTER_LOG_LEVEL=warn", "AZURE_STORAGE_CONNECTION_STRING=" + a.ConnString()}
		local := runExporter(b, bin, append(env, "EXPORTER_DB="+db), "run", "--schedules", sched, "sync")
		blob := runExporter(b, bin, append(env, "EXPORTER_DB="+filepath.Join(b.TempDir(), "fresh.db")), "run", "--schedules", sched, "--state", loc, "sync")
		benchLine("schedule.run.medium.incremental.local.wall", local.wall.Seconds(), "s")
		benchLine("schedule.run.medium.incremental.state_blob.wall", blob.wall.Seconds(), "s")
		benchLine("schedule.run.medium.state_blob_overhead", (blob.wall - local.wall).Seconds(), "s")

		// The idle daemon with the shipped schedules (no job falls due in
		// the few seconds measured).
		cmd := osexec.Command(bin, "schedule", "--schedules", "../../schedules", "--listen", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), append(env, "EXPORTER_DB="+db)...)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		cpu0 := procCPU(b, cmd.Process.Pid)
		time.Sleep(5 * time.Second)
		cpu := procCPU(b, cmd.Process.Pid) - cpu0
		rss := procRSS(b, cmd.Process.Pid)
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		benchLine("schedule.daemon.idle.rss", rss, "MiB")
		benchLine("schedule.daemon.idle.cpu", cpu.Seconds()*1000/5*60, "ms/min")
	}
}

// procCPU is a process's user and system CPU time so far (Linux).
func procCPU(b *testing.B, pid int) time.Duration {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Skip("no /proc")
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ 100
}

// procRSS is a process's resident memory in MiB (Linux).
func procRSS(b *testing.B, pid int) float64 {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Skip("no /proc")
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

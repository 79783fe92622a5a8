package snapshot

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// storeWithRun writes a store holding one committed run in dir and closes
// it, as a sync leaves it.
func storeWithRun(t *testing.T, dir string) string {
	t.Helper()
	ctx := context.Background()
	p := filepath.Join(dir, "store.db")
	s, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Begin(ctx, "https://dev.azure.com/fabrikam", "full")
	if err != nil {
		t.Fatal(err)
	}
	w.Put(Projects, project("p1", "A"))
	commit(t, w)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// readAll reads the store as the reading commands do.
func readAll(t *testing.T, p string) {
	t.Helper()
	ctx := context.Background()
	s, err := OpenExisting(ctx, p)
	if err != nil {
		t.Fatalf("open to read: %v", err)
	}
	defer s.Close()
	r, err := s.LatestRun(ctx)
	if err != nil {
		t.Fatalf("read the latest run: %v", err)
	}
	if got := snapshotOf(t, s, Projects, r.ID); len(got) != 1 {
		t.Fatalf("snapshot = %v", got)
	}
}

// A writer leaves the store as one self-contained file in rollback-journal
// mode, and reading it creates no file (issue 19, item 8).
func TestWriterLeavesOneFileAndReadersCreateNone(t *testing.T) {
	dir := t.TempDir()
	p := storeWithRun(t, dir)
	if walMode(p) {
		t.Error("the closed store is still in WAL mode")
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"store.db"}) {
		t.Errorf("files after the writer closed: %v, want the store alone", got)
	}
	readAll(t, p)
	if got := dirNames(t, dir); !slices.Equal(got, []string{"store.db"}) {
		t.Errorf("files after reading: %v, want the store alone", got)
	}
	// The next writer goes back to WAL while it works.
	s, err := Open(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !walMode(p) {
		t.Error("an open writer is not in WAL mode")
	}
	s.Close()
}

// A store still in WAL mode (an older exporter wrote it) in a folder the
// reader cannot write is opened immutable, creating nothing; one with a
// write-ahead log left gets a clear refusal. Root ignores permission bits,
// so the folder's state is what dirWritable says; the real permission
// check runs in TestReadOnlyFolderAsAnotherUser.
func TestReaderInAReadOnlyFolder(t *testing.T) {
	dir := t.TempDir()
	p := storeWithRun(t, dir)
	// Put the store back into WAL, as stores written before leaveWAL are.
	setWAL(t, p)
	saved := dirWritable
	dirWritable = func(string) bool { return false }
	defer func() { dirWritable = saved }()

	if extra, err := readOnlyParams(p); err != nil || extra != "&immutable=1" {
		t.Fatalf("params for a WAL store in a read-only folder: %q %v", extra, err)
	}
	readAll(t, p)
	if got := dirNames(t, dir); !slices.Equal(got, []string{"store.db"}) {
		t.Errorf("files after reading a WAL store in a read-only folder: %v, want the store alone", got)
	}

	os.WriteFile(p+"-wal", []byte("unmerged pages"), 0o644)
	_, err := OpenExisting(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "holds changes not yet merged") || strings.Contains(err.Error(), "readonly database") {
		t.Errorf("a WAL store with its log in a read-only folder: %v", err)
	}
}

func setWAL(t *testing.T, p string) {
	t.Helper()
	db, err := openDB(p, "rwc") // the writer's pragmas switch it to WAL
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`SELECT 1`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if !walMode(p) {
		t.Fatal("could not put the store in WAL mode")
	}
}

// The reading commands work on a read-only store in a folder the process
// cannot write. As root (CI), permission bits do not apply, so the check
// runs in a copy of this test binary as the unprivileged user nobody.
func TestReadOnlyFolderAsAnotherUser(t *testing.T) {
	if dir := os.Getenv("SNAPSHOT_READONLY_DIR"); dir != "" {
		// The child: a store of root's in a folder only root may write.
		p := filepath.Join(dir, "store.db")
		if dirWritable(dir) {
			t.Fatalf("the folder %s is writable by uid %d: the test proves nothing", dir, os.Geteuid())
		}
		readAll(t, p)
		if got := dirNames(t, dir); !slices.Equal(got, []string{"store.db"}) {
			t.Errorf("files after reading: %v", got)
		}
		return
	}
	base, err := os.MkdirTemp("", "readonly-store-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	dir := filepath.Join(base, "ro")
	os.Mkdir(dir, 0o755)
	p := storeWithRun(t, dir)
	os.Chmod(p, 0o444)
	os.Chmod(dir, 0o555)
	defer os.Chmod(dir, 0o755)
	os.Chmod(base, 0o755)

	cmd := exec.Command(os.Args[0], "-test.run=^TestReadOnlyFolderAsAnotherUser$", "-test.count=1")
	if os.Geteuid() == 0 {
		// Run a copy nobody may execute, as nobody.
		bin := filepath.Join(base, "snapshot.test")
		if err := copyFile(os.Args[0], bin); err != nil {
			t.Fatal(err)
		}
		os.Chmod(bin, 0o755)
		cmd = exec.Command(bin, "-test.run=^TestReadOnlyFolderAsAnotherUser$", "-test.count=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Dir = base
	}
	cmd.Env = append(os.Environ(), "SNAPSHOT_READONLY_DIR="+dir, "HOME="+base, "TMPDIR="+base)
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		// A container without CAP_SETUID, or a noexec /tmp.
		t.Skipf("cannot start the reader as another user here: %v", err)
	}
	err = cmd.Wait()
	out := buf.String()
	if err != nil {
		t.Fatalf("reading as uid %d: %v\n%s", map[bool]int{true: 65534, false: os.Geteuid()}[os.Geteuid() == 0], err, out)
	}
	if !strings.Contains(out, "PASS") {
		t.Fatalf("the child did not run the test:\n%s", out)
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

package schedule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/ado-access/ado-access/internal/azurite"
	"github.com/ado-access/ado-access/internal/blobloc"
)

func TestMain(m *testing.M) {
	code := m.Run()
	azurite.Stop()
	os.Exit(code)
}

var fastRetry = StateOptions{Blob: blobloc.Options{Retry: policy.RetryOptions{MaxRetries: 1, RetryDelay: 5 * time.Millisecond}}}

func blobContent(t *testing.T, a *azurite.Emulator, ctr, name string) string {
	t.Helper()
	c, err := container.NewClientFromConnectionString(a.ConnString(), ctr, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.NewBlobClient(name).DownloadStream(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The lease keeps a second run out and names the holder; after a release
// the next run gets in and downloads what the first uploaded.
func TestStateLeaseAndRoundTrip(t *testing.T) {
	t.Parallel()
	a := azurite.Need(t)
	ctx := context.Background()
	ctr := a.NewContainer(t) + "-new" // the state creates its container
	loc := "azblob://" + ctr + "/fabrikam.sqlite"
	dir := t.TempDir()
	path := filepath.Join(dir, "store.db")

	s1, err := OpenState(ctx, loc, a.Getenv, fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Acquire(ctx, "job one"); err != nil {
		t.Fatal(err)
	}
	if n, err := s1.Download(ctx, path); err != nil || n != 0 {
		t.Fatalf("download of a new state: %d %v", n, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("an empty state wrote a local file")
	}

	s2, _ := OpenState(ctx, loc, a.Getenv, fastRetry)
	err = s2.Acquire(ctx, "job two")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "leased by job one") {
		t.Fatalf("second acquire: %v; want ErrLocked naming the holder", err)
	}
	if strings.Contains(err.Error(), azurite.AccountKey) {
		t.Fatal("the error shows the account key")
	}

	os.WriteFile(path, []byte("version 1"), 0o600)
	if _, err := s1.Upload(ctx, path, "job one"); err != nil {
		t.Fatal(err)
	}
	if err := s1.Release(); err != nil {
		t.Fatal(err)
	}
	if err := s2.Acquire(ctx, "job two"); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	defer s2.Release()
	os.Remove(path)
	os.WriteFile(path+"-wal", []byte("stale"), 0o600)
	if n, err := s2.Download(ctx, path); err != nil || n != 9 {
		t.Fatalf("download: %d %v", n, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "version 1" {
		t.Fatalf("downloaded %q", b)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a stale write-ahead log was left beside the downloaded store")
	}
	// A local copy equal to the blob is kept as it is.
	if n, err := s2.Download(ctx, path); err != nil || n != 0 {
		t.Fatalf("download of an unchanged store: %d %v", n, err)
	}
	// A store still open (its log not merged) is not uploaded.
	os.WriteFile(path+"-wal", []byte("pages"), 0o600)
	if _, err := s2.Upload(ctx, path, "job two"); err == nil || !strings.Contains(err.Error(), "write-ahead log") {
		t.Fatalf("upload with a write-ahead log: %v", err)
	}
}

// A crashed run's lease lapsing is tested on a killed process in
// cmd/exporter (TestRunStateBlobLease): it takes the 15 s of the shortest
// lease, once.

// The executor uploads the store only when every step succeeded.
func TestExecutorUploadsOnlyOnSuccess(t *testing.T) {
	t.Parallel()
	a := azurite.Need(t)
	ctr := a.NewContainer(t)
	dir := t.TempDir()
	job := &Job{Name: "p", State: "azblob://" + ctr + "/s.sqlite", Step: Step{Kind: KindPipeline, Store: filepath.Join(dir, "s.db")},
		Steps: []Step{{Kind: KindSync}, {Kind: KindWarehouse}}}
	var content string
	failWarehouse := false
	e := &Executor{
		Getenv: a.Getenv, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), StateOptions: fastRetry,
		Runners: map[string]Runner{
			KindSync: func(ctx context.Context, s Step, info RunInfo) (Result, error) {
				if err := os.WriteFile(s.Store, []byte(content), 0o600); err != nil {
					return Result{}, err
				}
				return Result{StoreRun: 4, Requests: 10, Rows: 5, Versions: 2, Outputs: []string{s.Store}}, nil
			},
			KindWarehouse: func(ctx context.Context, s Step, info RunInfo) (Result, error) {
				if failWarehouse {
					return Result{Requests: 0}, errors.New("the lake is gone")
				}
				return Result{Rows: 7, Outputs: []string{"lake"}}, nil
			},
		},
	}
	content = "good"
	sum, err := e.Run(context.Background(), job)
	if err != nil || sum.Status != StatusOK || sum.Rows != 12 || sum.Requests != 10 || sum.StoreRun != 4 || len(sum.Outputs) != 3 {
		t.Fatalf("run: %+v %v", sum, err)
	}
	if got := blobContent(t, a, ctr, "s.sqlite"); got != "good" {
		t.Fatalf("blob = %q after a good run", got)
	}
	content, failWarehouse = "half done", true
	sum, err = e.Run(context.Background(), job)
	if err == nil || sum.Status != StatusFailed || !strings.Contains(sum.Error, "step 2 (warehouse): the lake is gone") {
		t.Fatalf("failed run: %+v %v", sum, err)
	}
	if got := blobContent(t, a, ctr, "s.sqlite"); got != "good" {
		t.Fatalf("blob = %q after a failed run, want the last good store", got)
	}
	// The lease was released: the next run gets in at once.
	content, failWarehouse = "better", false
	if sum, err := e.Run(context.Background(), job); err != nil || blobContent(t, a, ctr, "s.sqlite") != "better" {
		t.Fatalf("run after a failure: %+v %v", sum, err)
	}
}

// A state blob that lost its store is refused, not taken as a new store:
// an empty blob other than the one a first run creates, and a truncated
// SQLite file. The message says the blob is the source (issue 19, item 6).
func TestStateRefusesALostStore(t *testing.T) {
	t.Parallel()
	a := azurite.Need(t)
	ctx := context.Background()
	ctr := a.NewContainer(t)
	c, err := container.NewClientFromConnectionString(a.ConnString(), ctr, nil)
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string, body []byte) {
		t.Helper()
		if _, err := c.NewBlockBlobClient(name).UploadBuffer(ctx, body, nil); err != nil {
			t.Fatal(err)
		}
	}
	// An SQLite header saying 3 pages of 4096 bytes, followed by less.
	truncated := make([]byte, 5000)
	copy(truncated, "SQLite format 3\x00")
	truncated[16], truncated[17] = 0x10, 0x00 // page size 4096
	truncated[27], truncated[31], truncated[95] = 1, 3, 1
	put("empty.sqlite", nil)
	put("truncated.sqlite", truncated)

	for _, tt := range []struct{ blob, want string }{
		{"empty.sqlite", "is empty, though it is not the new blob a first run creates"},
		{"truncated.sqlite", "holds a damaged store (5000 bytes where its header says 12288): the blob is the source"},
	} {
		s, err := OpenState(ctx, "azblob://"+ctr+"/"+tt.blob, a.Getenv, fastRetry)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Acquire(ctx, "job"); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "s.db")
		_, err = s.Download(ctx, path)
		s.Release()
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "restore the file from a backup") {
			t.Errorf("%s: download = %v; want a refusal containing %q", tt.blob, err, tt.want)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a local store was written", tt.blob)
		}
	}

	// The blob a first run creates is still a new store.
	s, _ := OpenState(ctx, "azblob://"+ctr+"/new.sqlite", a.Getenv, fastRetry)
	if err := s.Acquire(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	if n, err := s.Download(ctx, filepath.Join(t.TempDir(), "s.db")); err != nil || n != 0 {
		t.Fatalf("download of a new state: %d %v", n, err)
	}
}

// An upload stopped by the run's cancellation says why, not "context
// canceled" (issue 19, item 6).
func TestStateUploadStoppedSaysWhy(t *testing.T) {
	t.Parallel()
	a := azurite.Need(t)
	ctr := a.NewContainer(t)
	s, err := OpenState(context.Background(), "azblob://"+ctr+"/s.sqlite", a.Getenv, fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Acquire(context.Background(), "job"); err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	path := filepath.Join(t.TempDir(), "s.db")
	os.WriteFile(path, []byte("store"), 0o600)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(fmt.Errorf("%w: renew lease: connection refused", ErrLeaseLost))
	_, err = s.Upload(ctx, path, "job")
	if err == nil || !strings.Contains(err.Error(), "upload stopped: lost the lease on the state blob: renew lease: connection refused; the blob keeps its last good store") || strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("upload = %v", err)
	}
}

// A store that comes from a state blob and turns out damaged is said to be
// the blob's, with advice about the blob, not "restore the file from a
// backup" (issue 19, item 6).
func TestExecutorDamagedStoreFromTheBlob(t *testing.T) {
	t.Parallel()
	a := azurite.Need(t)
	ctr := a.NewContainer(t)
	damaged := errors.New("the store is damaged: s.db (database disk image is malformed (11)). The exporter changed nothing; restore the file from a backup, or …")
	job := &Job{Name: "sync", State: "azblob://" + ctr + "/s.sqlite", Step: Step{Kind: KindSync, Store: filepath.Join(t.TempDir(), "s.db")}}
	e := &Executor{
		Getenv: a.Getenv, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), StateOptions: fastRetry,
		Damaged: func(err error) (string, bool) {
			return "s.db (database disk image is malformed (11))", errors.Is(err, damaged)
		},
		Runners: map[string]Runner{KindSync: func(ctx context.Context, s Step, info RunInfo) (Result, error) {
			return Result{}, damaged
		}},
	}
	sum, err := e.Run(context.Background(), job)
	if err == nil || sum.Status != StatusFailed || !strings.Contains(sum.Error, "is damaged: s.db (database disk image is malformed (11)). The blob is its source and was not changed: restore an earlier version of the blob") ||
		strings.Contains(sum.Error, "restore the file from a backup") {
		t.Fatalf("run on a damaged store from the blob: %+v", sum)
	}
}

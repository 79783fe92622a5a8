package schedule

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"github.com/google/uuid"

	"github.com/ado-access/ado-access/internal/blobloc"
)

// ErrLocked means another run holds the job's store: exporter run exits 3.
var ErrLocked = errors.New("another run holds the store")

// ErrLeaseLost means the state blob's lease could not be renewed: the run
// is aborted, since another run may now take the blob.
var ErrLeaseLost = errors.New("lost the lease on the state blob")

// StateOptions tune the state store. The zero value is what the exporter
// uses.
type StateOptions struct {
	// Lease is how long a lease lasts unless renewed: 15 to 60 s (default
	// 30 s). A run renews it every third of that; a crashed run's lease
	// lapses within it, and the next run proceeds.
	Lease time.Duration
	Blob  blobloc.Options
}

// State keeps a job's SQLite store in Azure Blob Storage between runs,
// when the container that ran the job is thrown away:
//
//   - Acquire takes a lease on the blob (creating an empty blob the first
//     time), so two replicas never run one store at once; a second run
//     gets ErrLocked naming the holder, which the blob's metadata records.
//   - Download fetches the store to a local file under that lease.
//   - Keep renews the lease while the run lasts.
//   - Upload, after a run that succeeded and only then, writes the store
//     back as a new block list (one atomic Put for a store under one
//     block): a crash before the commit leaves the old blob whole.
//   - Release lets the next run in. A run that dies without releasing
//     holds the blob until the lease lapses (Lease).
//
// Errors and logs never show a SAS or key.
type State struct {
	loc   *blobloc.Location
	bb    *blockblob.Client
	lease *lease.BlobClient
	dur   time.Duration
	held  bool
}

// OpenState opens the state blob at location (a blob location, see package
// blobloc: https://ACCOUNT.blob.core.windows.net/CONTAINER/ORG.sqlite,
// azblob://CONTAINER/ORG.sqlite or a path-style emulator URL).
func OpenState(ctx context.Context, location string, getenv func(string) string, opts StateOptions) (*State, error) {
	if opts.Lease == 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.Lease < 15*time.Second || opts.Lease > 60*time.Second {
		return nil, fmt.Errorf("state lease %s: want 15s to 60s", opts.Lease)
	}
	loc, err := blobloc.Open(ctx, location, getenv, opts.Blob)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if loc.Path == "" {
		return nil, fmt.Errorf("state %s: no blob name; want …/CONTAINER/STORE.sqlite", loc.Where)
	}
	bb := loc.Container.NewBlockBlobClient(loc.Path)
	id := uuid.NewString()
	lc, err := lease.NewBlobClient(bb, &lease.BlobClientOptions{LeaseID: &id})
	if err != nil {
		return nil, fmt.Errorf("state %s: %s", loc.Where, loc.Redact(err.Error()))
	}
	return &State{loc: loc, bb: bb, lease: lc, dur: opts.Lease}, nil
}

func (s *State) String() string { return s.loc.Where }

// fail turns an SDK error into one line without secrets.
func (s *State) fail(op string, err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		code := re.ErrorCode
		if code == "" {
			code = "error"
		}
		return fmt.Errorf("state %s: %s: %s (HTTP %d)", s.loc.Where, op, code, re.StatusCode)
	}
	return fmt.Errorf("state %s: %s: %s", s.loc.Where, op, s.loc.Redact(err.Error()))
}

func (s *State) access() *blob.AccessConditions {
	return &blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: s.lease.LeaseID()}}
}

// Acquire takes the lease, creating the container and an empty blob if
// they do not exist yet, and records holder in the blob's metadata. If
// another run holds the lease, the error wraps ErrLocked and names it.
func (s *State) Acquire(ctx context.Context, holder string) error {
	if err := s.ensureBlob(ctx); err != nil {
		return err
	}
	if _, err := s.lease.AcquireLease(ctx, int32(s.dur/time.Second), nil); err != nil {
		if bloberror.HasCode(err, bloberror.LeaseAlreadyPresent) {
			return fmt.Errorf("%w: state %s is leased by %s (a crashed run's lease lapses within %s)", ErrLocked, s.loc.Where, s.holder(ctx), s.dur)
		}
		return s.fail("acquire lease", err)
	}
	s.held = true
	props, err := s.bb.GetProperties(ctx, nil)
	if err != nil {
		return s.fail("read properties", err)
	}
	// Keys come back capitalized; sending one key in two cases would
	// break the request's signature.
	md := map[string]*string{}
	for k, v := range props.Metadata {
		md[strings.ToLower(k)] = v
	}
	md["holder"] = &holder
	if _, err := s.bb.SetMetadata(ctx, md, &blob.SetMetadataOptions{AccessConditions: s.access()}); err != nil {
		return s.fail("record the holder", err)
	}
	return nil
}

// holder reads who holds the lease, from the blob's metadata.
func (s *State) holder(ctx context.Context) string {
	props, err := s.bb.GetProperties(ctx, nil)
	if err != nil {
		return "another run"
	}
	if h := metadata(props.Metadata, "holder"); h != "" {
		return h
	}
	return "another run"
}

// metadata reads a metadata value; the service may change the key's case.
func metadata(md map[string]*string, key string) string {
	for k, v := range md {
		if strings.EqualFold(k, key) && v != nil {
			return *v
		}
	}
	return ""
}

func (s *State) ensureBlob(ctx context.Context) error {
	_, err := s.bb.GetProperties(ctx, nil)
	if err == nil {
		return nil
	}
	if !bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
		return s.fail("read properties", err)
	}
	if bloberror.HasCode(err, bloberror.ContainerNotFound) {
		if _, err := s.loc.Container.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			return s.fail("create the container", err)
		}
	}
	// An empty blob marked newMark means "no store yet"; an empty blob
	// without the mark is a store lost (Download refuses it).
	// If-None-Match: * keeps a blob that another run created meanwhile.
	any := azcore.ETagAny
	mark := newMarkValue
	_, err = s.bb.Upload(ctx, nopSeekCloser{strings.NewReader("")}, &blockblob.UploadOptions{
		Metadata:         map[string]*string{newMark: &mark},
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &any}},
	})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet, bloberror.LeaseIDMissing) {
		return s.fail("create the blob", err)
	}
	return nil
}

// newMark is the metadata key (and newMarkValue its value) of the empty
// blob Acquire creates: no store yet. Upload's metadata replaces it.
const (
	newMark      = "store"
	newMarkValue = "none-yet"
)

type nopSeekCloser struct{ io.ReadSeeker }

func (nopSeekCloser) Close() error { return nil }

// Download writes the store to path. The empty blob Acquire created (no
// run has uploaded yet) leaves path as it is: the run starts from the
// local store if there is one, else from nothing. Any other empty blob,
// or a store shorter than its header says, is refused: a store that was
// there and is gone is a loss, not a start. A local file already equal to
// the blob (same SHA-256) is kept. It reports the bytes downloaded.
func (s *State) Download(ctx context.Context, path string) (int64, error) {
	props, err := s.bb.GetProperties(ctx, nil)
	if err != nil {
		return 0, s.fail("read properties", err)
	}
	size := *props.ContentLength
	if size == 0 {
		if metadata(props.Metadata, newMark) == newMarkValue && metadata(props.Metadata, "sha256") == "" {
			return 0, nil
		}
		return 0, fmt.Errorf("state %s is empty, though it is not the new blob a first run creates: the store it held was lost (overwritten or truncated). Restore an earlier version of the blob (blob versioning or soft delete), or delete the blob to start a new store with a full sync", s.loc.Where)
	}
	want := metadata(props.Metadata, "sha256")
	if want != "" {
		if got, err := fileSHA256(path); err == nil && got == want {
			return 0, nil
		}
	}
	tmp := path + ".download"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("state: %w", err)
	}
	defer os.Remove(tmp)
	n, err := s.bb.DownloadFile(ctx, f, &blob.DownloadFileOptions{
		BlockSize: 8 << 20, Concurrency: 4,
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: props.ETag}},
	})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, s.fail("download", err)
	}
	if want != "" {
		if got, err := fileSHA256(tmp); err != nil || got != want {
			return 0, fmt.Errorf("state %s: the download does not match the SHA-256 recorded at upload", s.loc.Where)
		}
	}
	if err := checkLength(tmp); err != nil {
		return 0, fmt.Errorf("state %s holds a damaged store (%v): the blob is the source, so restore an earlier version of the blob (blob versioning or soft delete), or delete the blob to start a new store with a full sync", s.loc.Where, err)
	}
	// A write-ahead log left beside an older copy would be replayed into
	// the new one.
	for _, ext := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + ext); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("state: %w", err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, fmt.Errorf("state: %w", err)
	}
	return n, nil
}

// Upload writes the local store at path to the blob, under the lease. The
// store must be closed: a write-ahead log with data in it means it is not.
func (s *State) Upload(ctx context.Context, path, holder string) (int64, error) {
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return 0, fmt.Errorf("state: %s has an unmerged write-ahead log (the store is still open); not uploading", path)
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return 0, fmt.Errorf("state: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("state: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("state: %w", err)
	}
	ct := "application/vnd.sqlite3"
	uploaded := time.Now().UTC().Format(time.RFC3339)
	_, err = s.bb.UploadStream(ctx, f, &blockblob.UploadStreamOptions{
		BlockSize: 4 << 20, Concurrency: 4,
		HTTPHeaders:      &blob.HTTPHeaders{BlobContentType: &ct},
		Metadata:         map[string]*string{"sha256": &sum, "holder": &holder, "uploaded": &uploaded},
		AccessConditions: s.access(),
	})
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			// The run was stopped (lease lost, signal, grace over): say
			// why, not "context canceled".
			return 0, fmt.Errorf("state %s: upload stopped: %v; the blob keeps its last good store", s.loc.Where, s.loc.Redact(cause.Error()))
		}
		return 0, s.fail("upload", err)
	}
	return fi.Size(), nil
}

// checkLength refuses an SQLite file shorter than its header says (a
// truncated copy). Other content is left to the store to judge.
func checkLength(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	var h [100]byte
	n, _ := io.ReadFull(f, h[:])
	if !strings.HasPrefix("SQLite format 3\x00", string(h[:min(n, 16)])) || n == 0 {
		return nil // not SQLite: the store's own checks say so
	}
	if n < len(h) {
		return fmt.Errorf("%d bytes, shorter than an SQLite header", fi.Size())
	}
	pageSize := int64(binary.BigEndian.Uint16(h[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	pages := int64(binary.BigEndian.Uint32(h[28:32]))
	// The page count in the header is valid when the version-valid-for
	// number equals the change counter (every SQLite since 3.7.0).
	if binary.BigEndian.Uint32(h[92:96]) != binary.BigEndian.Uint32(h[24:28]) || pages == 0 {
		return nil
	}
	if want := pageSize * pages; fi.Size() < want {
		return fmt.Errorf("%d bytes where its header says %d", fi.Size(), want)
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Keep renews the lease every third of its duration until stop is called.
// If the lease cannot be renewed before it would lapse, lost is called
// once with an error wrapping ErrLeaseLost.
func (s *State) Keep(log *slog.Logger, lost func(error)) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		last := time.Now()
		tick := time.NewTicker(s.dur / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), s.dur/3)
			_, err := s.lease.RenewLease(ctx, nil)
			cancel()
			if err == nil {
				last = time.Now()
				continue
			}
			log.Warn("could not renew the state lease", "state", s.loc.Where, "err", s.fail("renew lease", err))
			if time.Since(last) >= s.dur*2/3 || bloberror.HasCode(err, bloberror.LeaseIDMismatchWithLeaseOperation, bloberror.LeaseNotPresentWithLeaseOperation, bloberror.LeaseLost) {
				lost(fmt.Errorf("%w: %v", ErrLeaseLost, s.fail("renew lease", err)))
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

// Release gives the lease up. It uses its own short deadline, so that a
// run canceled by a signal still lets the next run in at once.
func (s *State) Release() error {
	if !s.held {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.held = false
	if _, err := s.lease.ReleaseLease(ctx, nil); err != nil {
		return s.fail("release lease", err)
	}
	return nil
}

package export

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/ado-access/ado-access/internal/blobloc"
)

// BlobSink writes to a prefix of an Azure Blob Storage container. Each
// file is uploaded as a block blob in blocks (BlobOptions.BlockSize, a few
// in flight at once), each block retried by the client's retry policy; the
// blob changes only when its block list is committed (Commit, after every
// block is staged), so readers see the old blob or the new one. An upload
// that fails or is never committed leaves the old blob and uncommitted
// blocks, which the service discards. The container is created when it
// does not exist.
type BlobSink struct {
	c      *container.Client
	prefix string            // "" or "a/b", without slashes at either end
	where  string            // URL without query, for people
	loc    *blobloc.Location // for redacting errors
	opts   BlobOptions

	once    sync.Once
	onceErr error
}

func newBlobSink(loc *blobloc.Location, opts BlobOptions) *BlobSink {
	if opts.BlockSize <= 0 {
		opts.BlockSize = 4 << 20
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	return &BlobSink{c: loc.Container, prefix: loc.Path, where: loc.Where, loc: loc, opts: opts}
}

func (s *BlobSink) String() string { return s.where }

func (s *BlobSink) blobName(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	if s.prefix == "" {
		return name, nil
	}
	return s.prefix + "/" + name, nil
}

// fail turns an SDK error into one line that names what was being done and
// carries no secret.
func (s *BlobSink) fail(op, name string, err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		code := re.ErrorCode
		if code == "" {
			code = "error"
		}
		return fmt.Errorf("%s %s in %s: %s (HTTP %d)", op, name, s.where, code, re.StatusCode)
	}
	return fmt.Errorf("%s %s in %s: %s", op, name, s.where, s.loc.Redact(err.Error()))
}

// ensureContainer creates the container the first time a file is written,
// if it does not exist yet.
func (s *BlobSink) ensureContainer(ctx context.Context) error {
	s.once.Do(func() {
		_, err := s.c.GetProperties(ctx, nil)
		if err == nil {
			return
		}
		if !bloberror.HasCode(err, bloberror.ContainerNotFound) {
			// Without the right to read container properties (a SAS for
			// blobs only) the upload itself says what is wrong.
			return
		}
		if _, err := s.c.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			s.onceErr = s.fail("create container for", "files", err)
		}
	})
	return s.onceErr
}

func (s *BlobSink) Create(ctx context.Context, name string) (SinkFile, error) {
	bn, err := s.blobName(name)
	if err != nil {
		return nil, err
	}
	if err := s.ensureContainer(ctx); err != nil {
		return nil, err
	}
	var id [8]byte
	rand.Read(id[:])
	ctx, cancel := context.WithCancel(ctx)
	return &blobFile{s: s, name: name, bb: s.c.NewBlockBlobClient(bn), ctx: ctx, cancel: cancel,
		upload: hex.EncodeToString(id[:]), slots: make(chan struct{}, s.opts.Concurrency)}, nil
}

// blobFile uploads a file as a block blob: each BlockSize bytes written
// become a block, staged in the background (at most Concurrency at once,
// each retried by the client's retry policy); Stage waits for every block;
// Commit commits the block list, which makes the blob's content the new
// one in one step. Blocks of an upload that never commits stay
// uncommitted, invisible, and the service discards them.
type blobFile struct {
	s      *BlobSink
	name   string
	bb     *blockblob.Client
	ctx    context.Context
	cancel context.CancelFunc
	upload string // random, so that two uploads of one blob never share block ids
	slots  chan struct{}
	buf    []byte
	ids    []string
	wg     sync.WaitGroup

	mu     sync.Mutex
	err    error // the first block that failed
	staged bool
	ended  bool
}

func (f *blobFile) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *blobFile) Write(p []byte) (int, error) {
	if f.staged || f.ended {
		return 0, fmt.Errorf("write %s: already ended", f.name)
	}
	if err := f.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		if f.buf == nil {
			f.buf = make([]byte, 0, min(f.s.opts.BlockSize, int64(max(len(p), 64<<10))))
		}
		k := min(len(p), int(f.s.opts.BlockSize)-len(f.buf))
		f.buf = append(f.buf, p[:k]...)
		p = p[k:]
		if int64(len(f.buf)) == f.s.opts.BlockSize {
			f.stageBlock()
		}
	}
	return n, nil
}

// stageBlock stages the buffered bytes as the next block, in the
// background.
func (f *blobFile) stageBlock() {
	block := f.buf
	f.buf = nil
	id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s-%08d", f.upload, len(f.ids)))
	f.ids = append(f.ids, id)
	f.slots <- struct{}{}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer func() { <-f.slots }()
		_, err := f.bb.StageBlock(f.ctx, id, streaming.NopCloser(bytes.NewReader(block)), nil)
		if err != nil {
			f.mu.Lock()
			if f.err == nil {
				f.err = f.s.fail("upload", f.name, err)
			}
			f.mu.Unlock()
		}
	}()
}

// Stage stages what is buffered and waits for every block.
func (f *blobFile) Stage() error {
	if f.staged || f.ended {
		return fmt.Errorf("stage %s: already ended", f.name)
	}
	f.staged = true
	if len(f.buf) > 0 {
		f.stageBlock()
	}
	f.wg.Wait()
	if err := f.failed(); err != nil {
		f.ended = true
		f.cancel()
		return err
	}
	return nil
}

func (f *blobFile) Commit() error {
	if f.ended {
		return fmt.Errorf("commit %s: already ended", f.name)
	}
	if !f.staged {
		if err := f.Stage(); err != nil {
			return err
		}
	}
	f.ended = true
	defer f.cancel()
	ct := contentType(f.name)
	_, err := f.bb.CommitBlockList(f.ctx, f.ids, &blockblob.CommitBlockListOptions{HTTPHeaders: &blob.HTTPHeaders{BlobContentType: &ct}})
	if err != nil {
		return f.s.fail("upload", f.name, err)
	}
	return nil
}

func (f *blobFile) Abort() {
	if f.ended {
		return
	}
	f.ended = true
	f.cancel()
	f.wg.Wait()
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".csv":
		return "text/csv; charset=utf-8"
	case ".json":
		return "application/json"
	case ".xlsx":
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case ".parquet":
		return "application/vnd.apache.parquet"
	case ".html":
		// report.html opens in the browser from a Blob static website or a
		// SAS link, instead of downloading.
		return "text/html; charset=utf-8"
	}
	return "application/octet-stream"
}

func (s *BlobSink) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	bn, err := s.blobName(name)
	if err != nil {
		return nil, err
	}
	resp, err := s.c.NewBlobClient(bn).DownloadStream(ctx, nil)
	if err != nil {
		if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
			return nil, fmt.Errorf("open %s in %s: %w", name, s.where, fs.ErrNotExist)
		}
		return nil, s.fail("open", name, err)
	}
	return resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: 3}), nil
}

func (s *BlobSink) List(ctx context.Context, prefix string) ([]string, error) {
	root := ""
	if s.prefix != "" {
		root = s.prefix + "/"
	}
	full := root
	if p := strings.Trim(prefix, "/"); p != "" {
		full += p + "/"
	}
	var out []string
	pager := s.c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &full})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			if bloberror.HasCode(err, bloberror.ContainerNotFound) {
				return nil, nil
			}
			return nil, s.fail("list", full, err)
		}
		for _, b := range page.Segment.BlobItems {
			if b.Name != nil {
				out = append(out, strings.TrimPrefix(*b.Name, root))
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

func (s *BlobSink) Delete(ctx context.Context, name string) error {
	bn, err := s.blobName(name)
	if err != nil {
		return err
	}
	include := blob.DeleteSnapshotsOptionTypeInclude
	_, err = s.c.NewBlobClient(bn).Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: &include})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
		return s.fail("delete", name, err)
	}
	return nil
}

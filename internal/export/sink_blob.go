package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/ado-access/ado-access/internal/blobloc"
)

// BlobSink writes to a prefix of an Azure Blob Storage container. Each
// file is uploaded as a block blob in blocks (BlobOptions.BlockSize, a few
// in flight at once), each block retried by the client's retry policy; the
// blob changes only when its block list is committed at the end, so readers
// see the old blob or the new one. An upload that fails leaves the old blob
// and uncommitted blocks, which the service discards. The container is
// created when it does not exist.
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
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	f := &blobFile{pw: pw, cancel: cancel, done: make(chan error, 1)}
	ct := contentType(name)
	bb := s.c.NewBlockBlobClient(bn)
	go func() {
		_, err := bb.UploadStream(ctx, pr, &blockblob.UploadStreamOptions{
			BlockSize:   s.opts.BlockSize,
			Concurrency: s.opts.Concurrency,
			HTTPHeaders: &blob.HTTPHeaders{BlobContentType: &ct},
		})
		if err != nil {
			err = s.fail("upload", name, err)
		}
		pr.CloseWithError(err) // unblocks a writer if the upload gave up
		f.done <- err
	}()
	return f, nil
}

type blobFile struct {
	pw     *io.PipeWriter
	cancel context.CancelFunc
	done   chan error
	ended  bool
}

func (f *blobFile) Write(p []byte) (int, error) { return f.pw.Write(p) }

func (f *blobFile) Commit() error {
	if f.ended {
		return errors.New("blob file already ended")
	}
	f.ended = true
	f.pw.Close()
	err := <-f.done
	f.cancel()
	return err
}

var errAborted = errors.New("upload aborted")

func (f *blobFile) Abort() {
	if f.ended {
		return
	}
	f.ended = true
	f.cancel()
	f.pw.CloseWithError(errAborted)
	<-f.done
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

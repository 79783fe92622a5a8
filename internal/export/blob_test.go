package export

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/ado-access/ado-access/internal/azurite"
)

// faultTransport sends requests through a real HTTP client and counts the
// PUTs that upload data (whole blobs, blocks, block lists). It fails
// the PUTs whose number is in once (a transient fault the retry policy
// absorbs), and every PUT from failFrom on (the storage gone mid-way).
type faultTransport struct {
	next     *http.Client
	puts     atomic.Int64
	failFrom atomic.Int64 // 0: never
	once     sync.Map     // PUT number → struct{}
	failed   atomic.Int64
}

func newFaultTransport() *faultTransport { return &faultTransport{next: &http.Client{}} }

func (f *faultTransport) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && req.URL.Query().Get("restype") != "container" {
		n := f.puts.Add(1)
		_, transient := f.once.LoadAndDelete(n)
		if from := f.failFrom.Load(); transient || from > 0 && n >= from {
			f.failed.Add(1)
			if req.Body != nil {
				io.Copy(io.Discard, req.Body)
				req.Body.Close()
			}
			return nil, errors.New("read: connection reset by peer (injected fault)")
		}
	}
	return f.next.Do(req)
}

var fastRetry = policy.RetryOptions{MaxRetries: 2, RetryDelay: 5 * time.Millisecond, MaxRetryDelay: 20 * time.Millisecond}

func blobEnv(a *azurite.Emulator) func(string) string { return a.Getenv }

func openBlob(t testing.TB, a *azurite.Emulator, loc string, opts BlobOptions) Sink {
	t.Helper()
	if opts.Retry.MaxRetries == 0 {
		opts.Retry = fastRetry
	}
	s, err := OpenSink(context.Background(), loc, blobEnv(a), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The blob sink keeps the Sink contract: a file appears whole on Commit
// and never on Abort; a file of several blocks survives a transient fault
// on one block, and a lasting fault leaves the old content in place.
func TestBlobSinkContract(t *testing.T) {
	a := azurite.Need(t)
	ctx := context.Background()
	ft := newFaultTransport()
	s := openBlob(t, a, "azblob://"+a.NewContainer(t)+"/some/prefix", BlobOptions{Transport: ft, BlockSize: 1 << 20, Concurrency: 2})

	if err := writeFile(ctx, s, "a/one.txt", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	f, err := s.Create(ctx, "a/two.txt")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("never"))
	f.Abort()
	if _, err := s.Open(ctx, "a/two.txt"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an aborted file is visible: %v", err)
	}
	if names, err := s.List(ctx, ""); err != nil || !slices.Equal(names, []string{"a/one.txt"}) {
		t.Fatalf("list = %v, %v", names, err)
	}

	// Staged blocks are invisible until the block list commits; aborted,
	// they never show.
	f, err = s.Create(ctx, "a/one.txt")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("hello again"))
	if err := f.Stage(); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFile(ctx, s, "a/one.txt"); string(got) != "hello" {
		t.Fatalf("a staged upload is visible: %q", got)
	}
	f.Abort()
	if got, _ := readFile(ctx, s, "a/one.txt"); string(got) != "hello" {
		t.Fatalf("an aborted staged upload changed the blob: %q", got)
	}
	if err := writeFile(ctx, s, "empty", nil); err != nil {
		t.Fatalf("an empty file: %v", err)
	}
	if got, err := readFile(ctx, s, "empty"); err != nil || len(got) != 0 {
		t.Fatalf("the empty file reads %q %v", got, err)
	}
	s.Delete(ctx, "empty")

	// 3.5 MiB in 1 MiB blocks; the second block's first try fails.
	big := make([]byte, 3<<20+512<<10)
	rand.Read(big)
	ft.once.Store(ft.puts.Load()+2, struct{}{})
	if err := writeFile(ctx, s, "big.bin", big); err != nil {
		t.Fatalf("a transient fault on one block was not retried: %v", err)
	}
	if ft.failed.Load() != 1 {
		t.Fatalf("%d faults injected, want 1", ft.failed.Load())
	}
	if got, err := readFile(ctx, s, "big.bin"); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big.bin read back differs (%v)", err)
	}

	// Storage gone after the first block of a replacement: the commit
	// fails and the old content stays.
	ft.failFrom.Store(ft.puts.Load() + 2)
	other := bytes.Repeat([]byte("x"), len(big))
	err = writeFile(ctx, s, "big.bin", other)
	if err == nil || !strings.Contains(err.Error(), "upload big.bin") {
		t.Fatalf("err = %v, want the upload of big.bin to fail", err)
	}
	if strings.Contains(err.Error(), azurite.AccountKey) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error carries a secret or several lines: %q", err)
	}
	ft.failFrom.Store(0)
	if got, err := readFile(ctx, s, "big.bin"); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("a failed replacement changed big.bin (%v)", err)
	}
	if err := s.Delete(ctx, "big.bin"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "big.bin"); err != nil {
		t.Fatalf("deleting a missing file: %v", err)
	}
}

// A packet uploads to Azure Blob Storage, verifies there, and uploading it
// again replaces it: the same blobs, no more, a new manifest.
func TestBlobPacketUploadAndReupload(t *testing.T) {
	a := azurite.Need(t)
	f := storeFixture(t, "small")
	ctx := context.Background()
	loc := "azblob://" + a.NewContainer(t) + "/reviews/2026-q4"
	s := openBlob(t, a, loc, BlobOptions{})

	m1, err := ExportPacket(ctx, f.st, s, PacketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, s, "")
	if err != nil || !rep.OK() || rep.Checked != len(m1.Files) {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	names1, _ := s.List(ctx, "")
	want := []string{ManifestName}
	for _, f := range m1.Files {
		want = append(want, f.Path)
	}
	slices.Sort(want)
	if !slices.Equal(names1, want) {
		t.Fatalf("blobs %v\nwant %v", names1, want)
	}
	assertPacketMatchesStore(t, f, f.run2.ID, &blobReader{s}, m1)

	m2, err := ExportPacket(ctx, f.st, s, PacketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names2, _ := s.List(ctx, "")
	if !slices.Equal(names1, names2) {
		t.Fatalf("re-upload changed the blob names:\n%v\n%v", names1, names2)
	}
	if m2.PacketID == m1.PacketID {
		t.Fatal("the second upload kept the first manifest")
	}
	if rep, err := Verify(ctx, s, ""); err != nil || !rep.OK() {
		t.Fatalf("verify after re-upload: %+v %v", rep, err)
	}
	got, _ := readFile(ctx, s, ManifestName)
	if m, _ := ParseManifest(got); m == nil || m.PacketID != m2.PacketID {
		t.Fatal("the manifest in storage is not the second packet's")
	}
	// Fewer formats next time: the files the new packet lacks are removed.
	if _, err := ExportPacket(ctx, f.st, s, PacketOptions{Formats: []string{FormatXLSX}}); err != nil {
		t.Fatal(err)
	}
	if names, _ := s.List(ctx, ""); !slices.Equal(names, []string{ManifestName, WorkbookName, ReportName, SchemaName}) {
		t.Fatalf("after an xlsx-only packet: %v", names)
	}
}

// A SAS in the URL authenticates, and never shows in what the sink says.
func TestBlobSASURL(t *testing.T) {
	a := azurite.Need(t)
	ctx := context.Background()
	name := a.NewContainer(t)
	c, err := container.NewClientFromConnectionString(a.ConnString(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	perms := sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}
	sasURL, err := c.GetSASURL(perms, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, query, _ := strings.Cut(sasURL, "?")
	sig := ""
	for _, kv := range strings.Split(query, "&") {
		if v, ok := strings.CutPrefix(kv, "sig="); ok {
			sig = v
		}
	}
	loc := a.ServiceURL() + "/" + name + "/packets/p1?" + query
	ft := newFaultTransport()
	s, err := OpenSink(ctx, loc, func(string) string { return "" }, BlobOptions{Transport: ft, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.String(), sig) || strings.Contains(s.String(), "sig=") {
		t.Fatalf("String() shows the SAS: %s", s)
	}
	if err := writeFile(ctx, s, "x.csv", []byte("a,b\r\n")); err != nil {
		t.Fatal(err)
	}
	if names, err := s.List(ctx, ""); err != nil || !slices.Equal(names, []string{"x.csv"}) {
		t.Fatalf("list = %v %v", names, err)
	}
	ft.failFrom.Store(1)
	err = writeFile(ctx, s, "y.csv", []byte("a"))
	if err == nil {
		t.Fatal("an upload through a dead transport succeeded")
	}
	for _, secret := range []string{sig, query} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("the error shows the SAS: %v", err)
		}
	}
}

// A fault while the files are staged (nearly all of an export) fails the
// export and leaves the earlier packet whole and verified; a fault while
// they are committed leaves no manifest; a re-run succeeds; and a reader
// following the manifest never sees a manifest whose files are missing or
// differ.
func TestBlobFaultMidUploadNeverShowsHalfAPacket(t *testing.T) {
	a := azurite.Need(t)
	f := storeFixture(t, "small")
	ctx := context.Background()
	loc := "azblob://" + a.NewContainer(t) + "/p"
	ft := newFaultTransport()
	s := openBlob(t, a, loc, BlobOptions{Transport: ft})

	m1, err := ExportPacket(ctx, f.st, s, PacketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	puts := ft.puts.Load() // a block per file, a block list per file, the manifest's two

	reader := &manifestReader{s: openBlob(t, a, loc, BlobOptions{})}
	stop := reader.start(ctx)

	// The storage goes away a quarter of the way through the next upload:
	// blocks are being staged, and the old packet stays whole.
	ft.failFrom.Store(ft.puts.Load() + puts/4)
	_, err = ExportPacket(ctx, f.st, s, PacketOptions{})
	if err == nil {
		t.Fatal("the export succeeded through a dead transport")
	}
	t.Logf("export failed as it should: %v", err)
	if strings.Contains(err.Error(), azurite.AccountKey) {
		t.Fatal("the error shows the account key")
	}
	ft.failFrom.Store(0)
	if m, err := VerifiedPacket(ctx, s); err != nil || m.PacketID != m1.PacketID {
		t.Fatalf("after a fault while staging, the earlier packet: %+v %v", m, err)
	}

	// Three quarters of the way: the staged files are being committed, the
	// old manifest is gone, the packet is incomplete until the next export.
	ft.failFrom.Store(ft.puts.Load() + puts*3/4)
	if _, err := ExportPacket(ctx, f.st, s, PacketOptions{}); err == nil {
		t.Fatal("the export succeeded through a dead transport")
	}
	ft.failFrom.Store(0)
	if _, err := Verify(ctx, s, ""); !errors.Is(err, ErrNoManifest) {
		t.Fatalf("after a fault while committing, verify: %v; want no manifest", err)
	}

	m, err := ExportPacket(ctx, f.st, s, PacketOptions{})
	if err != nil {
		t.Fatalf("the re-run failed: %v", err)
	}
	if rep, err := Verify(ctx, s, ""); err != nil || !rep.OK() {
		t.Fatalf("verify after the re-run: %+v %v", rep, err)
	}
	// Let the reader see the finished packet at least once.
	deadline := time.Now().Add(20 * time.Second)
	for reader.consistent.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if v := reader.violations(); len(v) > 0 {
		t.Fatalf("a reader saw a manifest without its files: %v", v)
	}
	if reader.consistent.Load() == 0 {
		t.Fatal("the reader never saw a complete packet")
	}
	t.Logf("reader: %d consistent reads, %d while no manifest, %d raced a rewrite; final packet %s",
		reader.consistent.Load(), reader.absent.Load(), reader.raced.Load(), m.PacketID)
}

// manifestReader reads a packet as a careful reader does, over and over:
// the manifest, every file it lists, the manifest again. When both
// manifest reads agree, every file must match it.
type manifestReader struct {
	s                         Sink
	consistent, absent, raced atomic.Int64
	mu                        sync.Mutex
	bad                       []string
}

func (r *manifestReader) start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			r.once(ctx)
		}
	}()
	return func() { cancel(); <-done }
}

func (r *manifestReader) once(ctx context.Context) {
	first, err := readFile(ctx, r.s, ManifestName)
	if err != nil {
		r.absent.Add(1)
		time.Sleep(5 * time.Millisecond)
		return
	}
	m, err := ParseManifest(first)
	if err != nil {
		r.fail("unreadable manifest: " + err.Error())
		return
	}
	var problems []string
	for _, f := range m.Files {
		b, err := readFile(ctx, r.s, f.Path)
		sum := sha256.Sum256(b)
		switch {
		case err != nil:
			problems = append(problems, f.Path+": "+err.Error())
		case hex.EncodeToString(sum[:]) != f.SHA256:
			problems = append(problems, f.Path+": SHA-256 differs")
		}
	}
	second, err := readFile(ctx, r.s, ManifestName)
	if ctx.Err() != nil {
		return
	}
	if err != nil || !bytes.Equal(first, second) {
		r.raced.Add(1) // a rewrite began while reading: the reader starts over
		return
	}
	if len(problems) > 0 {
		r.fail(strings.Join(problems, "; "))
		return
	}
	r.consistent.Add(1)
}

func (r *manifestReader) fail(s string) {
	r.mu.Lock()
	r.bad = append(r.bad, s)
	r.mu.Unlock()
}

func (r *manifestReader) violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bad)
}

// An earlier packet in Blob Storage serves as the baseline: it is fetched
// and diffed offline, with the changes a diff of the runs gives.
func TestBlobPacketAsBaseline(t *testing.T) {
	a := azurite.Need(t)
	f := storeFixture(t, "small")
	ctx := context.Background()
	old := openBlob(t, a, "azblob://"+a.NewContainer(t)+"/q3", BlobOptions{})
	if _, err := ExportPacket(ctx, f.st, old, PacketOptions{Options: Options{Run: f.run1.ID}, Formats: []string{FormatCSV}}); err != nil {
		t.Fatal(err)
	}
	byPacket, byRun := t.TempDir(), t.TempDir()
	m, err := ExportPacket(ctx, f.st, NewLocalSink(byPacket), PacketOptions{Baseline: Baseline{Packet: old}, Formats: []string{FormatCSV}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Baseline.Kind != "packet" || !strings.HasPrefix(m.Baseline.Location, "azblob://") {
		t.Fatalf("baseline %+v", m.Baseline)
	}
	if _, err := ExportPacket(ctx, f.st, NewLocalSink(byRun), PacketOptions{Baseline: Baseline{Run: f.run1.ID}, Formats: []string{FormatCSV}}); err != nil {
		t.Fatal(err)
	}
	a1, b1 := changeLines(t, byRun+"/changes.csv"), changeLines(t, byPacket+"/changes.csv")
	if len(a1) == 0 || !slices.Equal(a1, b1) {
		t.Fatalf("changes since the run (%d) and since its packet in Blob Storage (%d) differ", len(a1), len(b1))
	}
}

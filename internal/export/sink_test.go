package export

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The local folder keeps the Sink contract: nothing under a name before
// Commit, the old content after Abort, no way out of the folder.
func TestLocalSinkContract(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := NewLocalSink(dir)
	if err := writeFile(ctx, s, "a/b.txt", []byte("one")); err != nil {
		t.Fatal(err)
	}
	f, err := s.Create(ctx, "a/b.txt")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("two"))
	if got, _ := readFile(ctx, s, "a/b.txt"); string(got) != "one" {
		t.Fatalf("content before commit: %q", got)
	}
	names, _ := s.List(ctx, "a")
	if len(names) != 2 || !isPartial(names[0]) && !isPartial(names[1]) {
		t.Fatalf("while writing, list = %v; want the file and its partial", names)
	}
	f.Abort()
	if got, _ := readFile(ctx, s, "a/b.txt"); string(got) != "one" {
		t.Fatalf("content after abort: %q", got)
	}
	if names, _ := s.List(ctx, ""); !slices.Equal(names, []string{"a/b.txt"}) {
		t.Fatalf("after abort, list = %v", names)
	}
	f, _ = s.Create(ctx, "a/b.txt")
	f.Write([]byte("three"))
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFile(ctx, s, "a/b.txt"); string(got) != "three" {
		t.Fatalf("content after commit: %q", got)
	}
	if err := f.Commit(); err == nil {
		t.Fatal("a second commit succeeded")
	}
	// Staged: written and durable, but not visible until committed; a
	// staged file aborted leaves the name as it was.
	for _, commit := range []bool{false, true} {
		f, _ = s.Create(ctx, "a/b.txt")
		f.Write([]byte("four"))
		if err := f.Stage(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("more")); err == nil {
			t.Fatal("a write after Stage succeeded")
		}
		if got, _ := readFile(ctx, s, "a/b.txt"); string(got) != "three" {
			t.Fatalf("content while staged: %q", got)
		}
		if !commit {
			f.Abort()
			if names, _ := s.List(ctx, "a"); !slices.Equal(names, []string{"a/b.txt"}) {
				t.Fatalf("after aborting a staged file, list = %v", names)
			}
			continue
		}
		if err := f.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := readFile(ctx, s, "a/b.txt"); string(got) != "four" {
		t.Fatalf("content after the staged commit: %q", got)
	}
	if err := writeFile(ctx, s, "a/b.txt", []byte("three")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "/etc/passwd", "../x", "a/../../x", "a//b", `a\b`, "./a"} {
		if _, err := s.Create(ctx, bad); err == nil {
			t.Errorf("Create(%q) succeeded", bad)
		}
	}
	if _, err := s.Open(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open a missing file: %v", err)
	}
	if err := s.Delete(ctx, "nope"); err != nil {
		t.Fatalf("delete a missing file: %v", err)
	}
	if names, err := NewLocalSink(filepath.Join(dir, "none")).List(ctx, ""); err != nil || len(names) != 0 {
		t.Fatalf("list a missing folder: %v %v", names, err)
	}
}

func TestOpenSinkLocations(t *testing.T) {
	ctx := context.Background()
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if s, err := OpenSink(ctx, "out/dir", getenv, BlobOptions{}); err != nil || s.String() != "out/dir" {
		t.Fatalf("folder: %v %v", s, err)
	}
	if _, err := OpenSink(ctx, "azblob://c/p", getenv, BlobOptions{}); err == nil || !strings.Contains(err.Error(), EnvConnectionString) {
		t.Fatalf("azblob without a connection string: %v", err)
	}
	key := "c2VjcmV0LWtleS1ub3QtcmVhbA=="
	env[EnvConnectionString] = "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=" + key + ";EndpointSuffix=core.windows.net"
	s, err := OpenSink(ctx, "azblob://reviews/2026/q4", getenv, BlobOptions{})
	if err != nil || s.String() != "azblob://reviews/2026/q4 (account acme)" || s.(*BlobSink).prefix != "2026/q4" {
		t.Fatalf("azblob: %v %v", s, err)
	}
	s, err = OpenSink(ctx, "https://acme.blob.core.windows.net/reviews/fabrikam/q4?sv=2024&sig=TOPSECRET", getenv, BlobOptions{})
	if err != nil || strings.Contains(s.String(), "TOPSECRET") || s.String() != "https://acme.blob.core.windows.net/reviews/fabrikam/q4" {
		t.Fatalf("https with SAS: %v %v", s, err)
	}
	if _, err := OpenSink(ctx, "https://acme.blob.core.windows.net/", getenv, BlobOptions{}); err == nil {
		t.Fatal("a URL without a container was accepted")
	}
	if s, err := OpenSink(ctx, "http://127.0.0.1:10000/devstoreaccount1/c/p", getenv, BlobOptions{Credential: nil}); err != nil || s.(*BlobSink).prefix != "p" {
		t.Fatalf("path-style: %v %v", s, err)
	}
}

func TestSplitManifestLocation(t *testing.T) {
	for _, tt := range []struct{ in, root, dir string }{
		{"packets/q4", "packets/q4", ""},
		{"lake/_manifests/org=x/snapshot_date=2026-11-01", "lake", "_manifests/org=x/snapshot_date=2026-11-01"},
		{"_manifests/org=x/snapshot_date=2026-11-01/", ".", "_manifests/org=x/snapshot_date=2026-11-01"},
		{"https://a.blob.core.windows.net/lake/root/_manifests/org=x/snapshot_date=d?sig=1", "https://a.blob.core.windows.net/lake/root?sig=1", "_manifests/org=x/snapshot_date=d"},
		{"azblob://lake/_manifests/org=x/snapshot_date=d", "azblob://lake", "_manifests/org=x/snapshot_date=d"},
	} {
		root, dir := SplitManifestLocation(tt.in)
		if root != tt.root || dir != tt.dir {
			t.Errorf("%s: %q %q, want %q %q", tt.in, root, dir, tt.root, tt.dir)
		}
	}
	if got := hiveEscape("Fabrikam/x=1 y"); got != "Fabrikam%2Fx%3D1%20y" {
		t.Fatalf("hiveEscape = %q", got)
	}
	if got := OrgName("https://dev.azure.com/Fabrikam/"); got != "fabrikam" {
		t.Fatalf("OrgName = %q", got)
	}
}

func TestSpoolRoundTrip(t *testing.T) {
	sp, err := newSpool(PrivilegedAccess)
	if err != nil {
		t.Fatal(err)
	}
	at := tableTime()
	rows := []Row{
		{"g", "gn", "role", "", "m", "名前", "p", "user", "guest", "Basic", "active", at, true, false, "via a → b"},
		{"g2", "", "", "", "m2", "", "", "", "", "", "", nil, false, true, "direct"},
	}
	for _, r := range rows {
		if err := sp.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	var got []Row
	if err := sp.Replay(func(r Row) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !slices.EqualFunc(got[0], rows[0], func(a, b any) bool { return a == b }) || got[1][11] != nil {
		t.Fatalf("spool gave back %v", got)
	}
	if sp.f != nil {
		t.Fatal("the spool is still open after its replay")
	}
}

func tableTime() any {
	v, _ := parseInstant("2026-11-01T10:00:00.123456Z")
	return v
}

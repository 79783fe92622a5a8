package export

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ado-access/ado-access/internal/seal"
)

// A signed packet verifies with the signer's key, and fails with another
// key, with a one-byte change to its manifest or to any file, and without
// its signature; an unsigned export at the same place drops the stale one.
func TestSignedPacket(t *testing.T) {
	f := storeFixture(t, "small")
	ctx := context.Background()
	priv, pub, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sk, _ := seal.ParsePrivateKey(priv)
	pk, _ := seal.ParsePublicKey(pub)
	_, other, _ := seal.GenerateKey()
	otherKey, _ := seal.ParsePublicKey(other)

	export := func(dir string, signed bool) *Manifest {
		t.Helper()
		opts := PacketOptions{Formats: []string{"csv"}}
		if signed {
			opts.SignKey = sk
		}
		m, err := ExportPacket(ctx, f.st, NewLocalSink(dir), opts)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	verify := func(dir string, key []byte) *Report {
		t.Helper()
		var opts VerifyOptions
		if key != nil {
			k, err := seal.ParsePublicKey(key)
			if err != nil {
				t.Fatal(err)
			}
			opts.Key = k
		}
		rep, err := VerifyWith(ctx, NewLocalSink(dir), "", opts)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	good := t.TempDir()
	m := export(good, true)
	if m.Signer != seal.Fingerprint(pk) {
		t.Errorf("manifest signer %q, want the key's fingerprint", m.Signer)
	}
	if rep := verify(good, pub); !rep.OK() || !rep.SignatureChecked || len(rep.Unlisted) > 0 {
		t.Fatalf("a good signature: %+v", rep)
	}
	if rep := verify(good, other); rep.OK() || !strings.Contains(rep.SignatureProblem, "does not match") || !strings.Contains(rep.SignatureProblem, seal.Fingerprint(otherKey)) {
		t.Errorf("another key: %+v", rep)
	}
	if rep := verify(good, nil); !rep.OK() || !rep.Signed || rep.SignatureChecked {
		t.Errorf("without --key: %+v", rep)
	}

	// One byte changed in the manifest (a file's hash, so that the files
	// themselves still match it): only the signature can tell.
	for _, name := range []string{ManifestName, ReportName, "accounts.csv"} {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(good)); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		b, _ := os.ReadFile(p)
		i := strings.LastIndex(string(b), "a")
		b[i] = 'b'
		os.WriteFile(p, b, 0o644)
		if rep := verify(dir, pub); rep.OK() {
			t.Errorf("a one-byte change to %s passes", name)
		} else if name == ManifestName && rep.SignatureProblem == "" {
			t.Errorf("a changed manifest: the signature holds: %+v", rep)
		}
	}

	// Without its signature: fails with --key.
	dir := t.TempDir()
	os.CopyFS(dir, os.DirFS(good))
	os.Remove(filepath.Join(dir, seal.SignatureName(ManifestName)))
	if rep := verify(dir, pub); rep.OK() || !strings.Contains(rep.SignatureProblem, "not signed") {
		t.Errorf("no signature with --key: %+v", rep)
	}

	// Exported again unsigned at the same place: the old signature goes.
	export(good, false)
	if _, err := os.Stat(filepath.Join(good, seal.SignatureName(ManifestName))); !os.IsNotExist(err) {
		t.Errorf("the earlier packet's signature is still there: %v", err)
	}
	if rep := verify(good, pub); rep.OK() {
		t.Error("an unsigned packet passes --key")
	}
}

// A campaign's campaign.json is signed the same way.
func TestWriteSigned(t *testing.T) {
	ctx := context.Background()
	sink := NewLocalSink(t.TempDir())
	priv, pub, _ := seal.GenerateKey()
	sk, _ := seal.ParsePrivateKey(priv)
	pk, _ := seal.ParsePublicKey(pub)
	body := []byte(`{"scopes": []}` + "\n")
	if err := WriteSigned(ctx, sink, "campaign.json", body, sk); err != nil {
		t.Fatal(err)
	}
	if got, err := CheckSigned(ctx, sink, "campaign.json", 1<<20, pk); err != nil || string(got) != string(body) {
		t.Fatalf("check: %q %v", got, err)
	}
	if err := WriteSigned(ctx, sink, "campaign.json", append(body, ' '), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckSigned(ctx, sink, "campaign.json", 1<<20, pk); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Fatalf("an unsigned rewrite: %v", err)
	}
	WriteSigned(ctx, sink, "campaign.json", body, sk)
	f, _ := sink.Create(ctx, "campaign.json")
	f.Write(append(body[:len(body)-1:len(body)-1], '\t', '\n'))
	f.Commit()
	if _, err := CheckSigned(ctx, sink, "campaign.json", 1<<20, pk); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("a changed file: %v", err)
	}
}

package seal

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSignAndVerify(t *testing.T) {
	priv, pub, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sk, err := ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"kind":"packet","files":[]}` + "\n")
	sig := Sign(sk, body)
	if err := Verify(pk, body, sig); err != nil {
		t.Fatalf("a good signature fails: %v", err)
	}
	changed := bytes.Clone(body)
	changed[3] ^= 1
	if err := Verify(pk, changed, sig); err != ErrBadSignature {
		t.Errorf("a one-byte change: %v, want ErrBadSignature", err)
	}
	_, other, _ := GenerateKey()
	ok, _ := ParsePublicKey(other)
	if err := Verify(ok, body, sig); err != ErrBadSignature {
		t.Errorf("another key: %v, want ErrBadSignature", err)
	}
	if err := Verify(pk, body, sig[:10]); err == nil || !strings.Contains(err.Error(), "64") {
		t.Errorf("a short signature: %v", err)
	}
	if Fingerprint(pk) != Fingerprint(sk.Public().(ed25519.PublicKey)) || len(Fingerprint(pk)) != 64 {
		t.Errorf("fingerprints %q %q", Fingerprint(pk), Fingerprint(sk.Public().(ed25519.PublicKey)))
	}
}

// Bad keys are refused with words that never quote the key.
func TestParseRefusesOtherKeys(t *testing.T) {
	priv, pub, _ := GenerateKey()
	if _, err := ParsePrivateKey(pub); err == nil {
		t.Error("a public key was read as a private key")
	}
	if _, err := ParsePublicKey(priv); err == nil {
		t.Error("a private key was read as a public key")
	} else if strings.Contains(err.Error(), string(priv[30:50])) {
		t.Error("the error quotes the private key")
	}
	broken := bytes.Replace(priv, []byte("MC4CAQAwBQYDK2Vw"), []byte("MC4CAQAwBQYDK2Vx"), 1)
	if _, err := ParsePrivateKey(broken); err == nil {
		t.Error("a corrupt private key was read")
	}
	dir := t.TempDir()
	big := filepath.Join(dir, "big.pem")
	os.WriteFile(big, bytes.Repeat([]byte("A"), maxKeyFile+1), 0o600)
	if _, err := LoadPrivateKey(big); err == nil || !strings.Contains(err.Error(), "16 KiB") {
		t.Errorf("an oversized key file: %v", err)
	}
}

// OpenSSL's keys are read, and OpenSSL checks our signatures: an auditor
// needs nothing of ours.
func TestOpenSSLInterop(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl")
	}
	dir := t.TempDir()
	key, pub := filepath.Join(dir, "signer.key"), filepath.Join(dir, "signer.pub")
	run := func(args ...string) error {
		out, err := exec.Command("openssl", args...).CombinedOutput()
		if err != nil {
			t.Logf("openssl %v: %s", args, out)
		}
		return err
	}
	if run("genpkey", "-algorithm", "ed25519", "-out", key) != nil || run("pkey", "-in", key, "-pubout", "-out", pub) != nil {
		t.Fatal("openssl made no key pair")
	}
	sk, err := LoadPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	body := filepath.Join(dir, "manifest.json")
	os.WriteFile(body, []byte("{\"kind\": \"packet\"}\n"), 0o644)
	b, _ := os.ReadFile(body)
	sig := filepath.Join(dir, SignatureName("manifest.json"))
	os.WriteFile(sig, Sign(sk, b), 0o644)
	if err := Verify(pk, b, Sign(sk, b)); err != nil {
		t.Fatal(err)
	}
	if run("pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", body, "-sigfile", sig) != nil {
		t.Error("openssl does not verify our signature")
	}
	os.WriteFile(body, append(b, ' '), 0o644)
	if exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", body, "-sigfile", sig).Run() == nil {
		t.Error("openssl verifies a changed file")
	}
}

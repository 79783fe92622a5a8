// Package seal signs the manifests of exports (and a campaign's
// campaign.json) with Ed25519, so that an auditor who was sent a packet
// can tell it comes, unchanged, from the holder of the signing key: the
// manifest lists every file with its SHA-256, and the signature covers
// the manifest's exact bytes.
//
// Keys are PEM, in the standard encodings crypto/x509 reads and writes and
// OpenSSL makes: a PKCS#8 "PRIVATE KEY" and a PKIX "PUBLIC KEY"
// (openssl genpkey -algorithm ed25519; openssl pkey -pubout). A signature
// is the raw 64 bytes of Ed25519 over the signed file, in NAME.sig beside
// it, which OpenSSL checks as is:
//
//	openssl pkeyutl -verify -pubin -inkey signer.pub -rawin -in manifest.json -sigfile manifest.json.sig
package seal

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
)

// EnvKey names the environment variable that holds the path of the
// signing key, for exports that are given no --sign-key.
const EnvKey = "ADO_ACCESS_SIGN_KEY"

// SignatureName is the file that holds the signature of the file name.
func SignatureName(name string) string { return name + ".sig" }

// maxKeyFile bounds a key file read (a PEM Ed25519 key is about 120 bytes).
const maxKeyFile = 16 << 10

// ErrBadSignature means a signature does not match the file and key.
var ErrBadSignature = errors.New("the signature does not match: the file was changed, or signed with another key")

// Sign returns the signature of body.
func Sign(key ed25519.PrivateKey, body []byte) []byte { return ed25519.Sign(key, body) }

// Verify checks a signature of body.
func Verify(pub ed25519.PublicKey, body, sig []byte) error {
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("the signature is %d bytes, want %d (raw Ed25519)", len(sig), ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, body, sig) {
		return ErrBadSignature
	}
	return nil
}

// GenerateKey makes a key pair, as PEM: the private key (PKCS#8) and the
// public key (PKIX).
func GenerateKey() (private, public []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	pk, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), nil
}

// ParsePrivateKey reads a PEM PKCS#8 Ed25519 private key. Errors never
// quote the key.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM \"PRIVATE KEY\" (PKCS#8): make one with 'exporter keygen' or 'openssl genpkey -algorithm ed25519'")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("the private key is not valid PKCS#8")
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the private key is %T, want Ed25519", k)
	}
	return ek, nil
}

// ParsePublicKey reads a PEM PKIX Ed25519 public key.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM \"PUBLIC KEY\" (PKIX): the signer gives it ('exporter keygen' writes it; 'openssl pkey -pubout' makes it from the private key)")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the public key is not valid PKIX: %w", err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("the public key is %T, want Ed25519", k)
	}
	return ek, nil
}

// LoadPrivateKey reads the private key file path.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return k, nil
}

// LoadPublicKey reads the public key file path.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return k, nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("key file %s: larger than %d KiB, not a PEM key", path, maxKeyFile>>10)
	}
	return b, nil
}

// Fingerprint names a public key for people: the SHA-256 of its PKIX
// encoding, in hex (as 'openssl pkey -pubin -outform DER | sha256sum' prints).
func Fingerprint(pub ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"

	"github.com/ado-access/ado-access/internal/seal"
)

func newKeygenCmd() *Command {
	var out string
	return &Command{
		Name:    "keygen",
		Summary: "make an Ed25519 key pair to sign packets with",
		Usage: `
Usage: exporter keygen --out PREFIX

Make an Ed25519 key pair: PREFIX.key, the private key (PEM PKCS#8, mode
0600), for 'export packet --sign-key' (or ADO_ACCESS_SIGN_KEY); and
PREFIX.pub, the public key (PEM PKIX), to give auditors, who check a
packet with 'exporter verify --key PREFIX.pub' (or with OpenSSL alone).
Existing files are never overwritten. The private key is never printed;
the public key's fingerprint is.

OpenSSL makes the same files:
  openssl genpkey -algorithm ed25519 -out signer.key
  openssl pkey -in signer.key -pubout -out signer.pub

Examples:
  exporter keygen --out keys/fabrikam-reviews
`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&out, "out", "", "`PREFIX` of the files to write: PREFIX.key and PREFIX.pub")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q", args[0])
			}
			if out == "" {
				return usageErrorf("keygen needs --out PREFIX")
			}
			priv, pub, err := seal.GenerateKey()
			if err != nil {
				return err
			}
			for _, name := range []string{out + ".key", out + ".pub"} {
				if _, err := os.Stat(name); err == nil {
					return usageErrorf("%s exists: keygen never overwrites a key", name)
				} else if !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
			if err := writeNew(out+".key", priv, 0o600); err != nil {
				return err
			}
			if err := writeNew(out+".pub", pub, 0o644); err != nil {
				return err
			}
			k, _ := seal.ParsePublicKey(pub)
			fmt.Fprintf(env.Stdout, "private key %s (keep it secret), public key %s\nfingerprint %s\n", out+".key", out+".pub", seal.Fingerprint(k))
			return nil
		},
	}
}

// writeNew writes a file that must not exist yet.
func writeNew(name string, body []byte, mode os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// signKey loads the packet signing key: --sign-key FILE, else the file
// ADO_ACCESS_SIGN_KEY names; nil when neither is given.
func signKey(env *Env, file string) (ed25519.PrivateKey, error) {
	if file == "" {
		file = env.Getenv(seal.EnvKey)
	}
	if file == "" {
		return nil, nil
	}
	return seal.LoadPrivateKey(file)
}

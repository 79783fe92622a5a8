package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ado-access/ado-access/internal/chromium"
)

// signedEvidencePacket exports, signed, the packet of the run after an
// apply (the demo's store): its report.html shows the applied revokes as
// evidence the snapshot confirms, in a browser too; the packet verifies
// with the signer's public key, and not with another.
func signedEvidencePacket(t *testing.T, db string) {
	t.Helper()
	dir := t.TempDir()
	keys := filepath.Join(dir, "reviews")
	if code, out, errs := cli(t, nil, "keygen", "--out", keys); code != 0 || !strings.Contains(out, "fingerprint ") {
		t.Fatalf("keygen: exit %d %s %s", code, out, errs)
	}
	if code, _, errs := cli(t, nil, "keygen", "--out", keys); code != 2 || !strings.Contains(errs, "never overwrites") {
		t.Fatalf("keygen over an existing key: exit %d %s", code, errs)
	}
	if st, _ := os.Stat(keys + ".key"); st.Mode().Perm() != 0o600 {
		t.Errorf("the private key is mode %v", st.Mode().Perm())
	}
	pkt := filepath.Join(dir, "packet-run3")
	env := map[string]string{"ADO_ACCESS_SIGN_KEY": keys + ".key"}
	code, out, errs := cli(t, env, "export", "packet", "--db", db, "--format", "csv", "--to", pkt)
	if code != 0 {
		t.Fatalf("export: exit %d %s", code, errs)
	}
	key, _ := os.ReadFile(keys + ".key")
	if strings.Contains(out+errs, strings.Split(string(key), "\n")[1]) {
		t.Fatal("the export printed the private key")
	}
	if code, out, errs := cli(t, nil, "verify", "--key", keys+".pub", pkt); code != 0 || !strings.Contains(out, "ok: the manifest is signed by the key ") {
		t.Fatalf("verify --key: exit %d %s %s", code, out, errs)
	}
	cli(t, nil, "keygen", "--out", filepath.Join(dir, "other"))
	if code, out, errs := cli(t, nil, "verify", "--key", filepath.Join(dir, "other.pub"), pkt); code != 1 || !strings.Contains(out, "MISMATCH  manifest.json.sig") || !strings.Contains(errs, "the signature does not hold") {
		t.Fatalf("verify with another key: exit %d %s %s", code, out, errs)
	}

	page, err := os.ReadFile(filepath.Join(pkt, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Evidence: decisions applied", `<div class="n">3</div><div class="l">confirmed by this snapshot</div>`, `<div class="n">0</div><div class="l">not confirmed</div>`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html of the run after apply lacks %q", want)
		}
	}
	if n := strings.Count(string(page), "<tr><td>revoke</td>"); n != 3 {
		t.Errorf("report.html lists %d revokes, want 3", n)
	}
	b := chromium.Need(t)
	p := b.Open(t, filepath.Join(pkt, "report.html"), "", 0, 0)
	if len(p.Requests) > 0 || !regexp.MustCompile(`<html[^>]*data-report-ready=`).MatchString(p.DOM) || !strings.Contains(p.DOM, "confirmed by this snapshot") {
		t.Errorf("report.html in the browser: requests %v, DOM %.300q", p.Requests, p.DOM)
	}
}

// Bad keys are usage errors (exit 2) that say what is wrong and never
// quote the key.
func TestSignKeyErrors(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "k")
	if code, _, errs := cli(t, nil, "keygen", "--out", keys); code != 0 {
		t.Fatalf("keygen: %s", errs)
	}
	priv, _ := os.ReadFile(keys + ".key")
	secret := strings.Split(string(priv), "\n")[1]
	env := map[string]string{"EXPORTER_DB": filepath.Join(dir, "none.db")}
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"keygen"}, nil, "keygen needs --out PREFIX"},
		{[]string{"export", "packet", "--sign-key", filepath.Join(dir, "missing.key")}, env, "key file: open "},
		{[]string{"export", "packet", "--sign-key", keys + ".pub"}, env, `not a PEM "PRIVATE KEY" (PKCS#8)`},
		{[]string{"export", "packet"}, map[string]string{"EXPORTER_DB": env["EXPORTER_DB"], "ADO_ACCESS_SIGN_KEY": keys + ".pub"}, `not a PEM "PRIVATE KEY" (PKCS#8)`},
		{[]string{"export", "warehouse", "--sign-key", keys + ".key"}, env, "--sign-key does not apply to export warehouse"},
		{[]string{"verify", "--key", keys + ".key", dir}, nil, `--key: public key ` + keys + `.key: not a PEM "PUBLIC KEY"`},
	} {
		code, out, errs := cli(t, tt.env, tt.args...)
		if code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, code, errs, tt.want)
		}
		if strings.Contains(out+errs, secret) {
			t.Errorf("%v printed the private key", tt.args)
		}
	}
}

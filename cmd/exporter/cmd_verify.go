package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path"
	"strings"

	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/seal"
	"github.com/ado-access/ado-access/internal/snapshot"
)

func newVerifyCmd() *Command {
	format := newChoice("text", "text", "json")
	var keyFile string
	return &Command{
		Name:    "verify",
		Summary: "check a packet or warehouse export against its manifest",
		Usage: `
Usage: exporter verify LOCATION [--key PUBKEY] [--format text|json]

Read manifest.json at LOCATION and check every file it lists: present,
the same size and SHA-256, and (CSV and Parquet) the same number of rows.
Exit 0 when everything matches, 1 on any mismatch, missing file or missing
manifest (a packet still being written, or one whose export failed, has
no manifest).

LOCATION is a packet folder or blob prefix, as given to 'export --to', or
a warehouse export's manifest folder, ROOT/_manifests/org=ORG/org_id=ID/snapshot_date=DATE
(which also needs its _SUCCESS marker). Files that look like the export's
own but that the manifest does not list are noted, not failed.

With --key, the signer's Ed25519 public key (PEM, as 'exporter keygen'
writes it), the manifest must also carry its signature, manifest.json.sig,
and the signature must match: a packet changed by one byte anywhere, signed
with another key, or not signed fails (exit 1).

Examples:
  exporter verify packet-fabrikam-run12
  exporter verify --key fabrikam-reviews.pub packet-fabrikam-run12
  exporter verify https://acme.blob.core.windows.net/reviews/fabrikam/2026-q4
  exporter verify lake/_manifests/org=fabrikam/org_id=ID/snapshot_date=2026-11-24
`,
		Flags: func(fs *flag.FlagSet) {
			fs.Var(format, "format", "output format")
			fs.StringVar(&keyFile, "key", "", "the signer's Ed25519 public key `FILE` (PEM): the manifest's signature must match it")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) != 1 {
				return usageErrorf("verify needs one LOCATION (a packet folder or blob prefix)")
			}
			asJSON := format.String() == "json"
			// fail reports an error that kept the export from being checked:
			// as JSON too when JSON was asked for, so machines read one shape.
			fail := func(err error) error {
				if asJSON {
					b, _ := json.MarshalIndent(map[string]any{"ok": false, "location": args[0], "error": err.Error()}, "", "  ")
					fmt.Fprintln(env.Stdout, string(b))
				}
				return exitCode(exitError, err)
			}
			var opts export.VerifyOptions
			if keyFile != "" {
				k, err := seal.LoadPublicKey(keyFile)
				if err != nil {
					return usageErrorf("--key: %v", err)
				}
				opts.Key = k
			}
			root, dir := export.SplitManifestLocation(args[0])
			sink, err := export.OpenSink(ctx, root, env.Getenv, export.BlobOptions{})
			if err != nil {
				return fail(err)
			}
			rep, err := export.VerifyWith(ctx, sink, dir, opts)
			if errors.Is(err, export.ErrNoManifest) {
				if dir == "" {
					if n, example := warehouseManifests(ctx, sink); n > 0 {
						manifests := fmt.Sprintf("%d manifests, one per organization and snapshot date", n)
						if n == 1 {
							manifests = "1 manifest"
						}
						return fail(fmt.Errorf("%s is a warehouse root holding %s: verify each by its folder, e.g. 'exporter verify %s/%s'", sink, manifests, strings.TrimRight(args[0], "/"), example))
					}
				}
				return fail(fmt.Errorf("%v: not a complete export (still being written, or its export failed)", err))
			}
			if err != nil {
				return fail(err)
			}
			m := rep.Manifest
			org := snapshot.NormalizeOrg(m.Org) // never print a credential an old manifest may hold
			what := fmt.Sprintf("%s of run %d of %s", m.Kind, m.Run, org)
			if m.PacketID != "" {
				what = fmt.Sprintf("packet %s (run %d of %s)", m.PacketID, m.Run, org)
			}
			if len(m.Orgs) > 0 {
				what = fmt.Sprintf("packet %s (%d organizations)", m.PacketID, len(m.Orgs))
			}
			if asJSON {
				out := map[string]any{"ok": rep.OK(), "location": sink.String(), "kind": m.Kind, "what": what,
					"checked": rep.Checked, "problems": nonNil(rep.Problems), "unlisted": nonNil(rep.Unlisted),
					"signed": rep.Signed, "signature_checked": rep.SignatureChecked}
				if rep.SignatureProblem != "" {
					out["signature_problem"] = rep.SignatureProblem
				}
				b, _ := json.MarshalIndent(out, "", "  ")
				fmt.Fprintln(env.Stdout, string(b))
			} else {
				for _, p := range rep.Problems {
					fmt.Fprintf(env.Stdout, "MISMATCH  %s\n", p)
				}
				if rep.SignatureProblem != "" {
					fmt.Fprintf(env.Stdout, "MISMATCH  %s\n", rep.SignatureProblem)
				}
				for _, u := range rep.Unlisted {
					fmt.Fprintf(env.Stdout, "note      %s is not in the manifest\n", u)
				}
			}
			if !rep.OK() {
				var why []string
				if len(rep.Problems) > 0 {
					why = append(why, fmt.Sprintf("%d of %d files do not match the manifest", len(rep.Problems), len(m.Files)))
				}
				if rep.SignatureProblem != "" {
					why = append(why, "the signature does not hold: "+rep.SignatureProblem)
				}
				return exitCode(exitError, fmt.Errorf("%s at %s: %s", what, sink, strings.Join(why, "; ")))
			}
			if !asJSON {
				fmt.Fprintf(env.Stdout, "ok: %s: %d files match %s\n", what, rep.Checked, export.ManifestName)
				switch {
				case rep.SignatureChecked:
					fmt.Fprintf(env.Stdout, "ok: the manifest is signed by the key %s\n", seal.Fingerprint(opts.Key))
				case rep.Signed:
					fmt.Fprintf(env.Stdout, "note: the manifest is signed (signer %s); give --key to check the signature\n", m.Signer)
				}
			}
			return nil
		},
	}
}

// warehouseManifests counts the manifests under a warehouse root's
// _manifests folder and names the folder of the last one listed.
func warehouseManifests(ctx context.Context, sink export.Sink) (int, string) {
	names, err := sink.List(ctx, "_manifests")
	if err != nil {
		return 0, ""
	}
	n, last := 0, ""
	for _, name := range names {
		if path.Base(name) == export.ManifestName {
			n, last = n+1, path.Dir(name)
		}
	}
	return n, last
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

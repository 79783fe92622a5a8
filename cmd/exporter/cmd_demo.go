package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/snapshot"
)

func newDemoCmd() *Command {
	var (
		preset string
		out    string
	)
	return &Command{
		Name:    "demo",
		Summary: "run the main job against an embedded simulated organization",
		Usage: `
Usage: exporter demo [--preset small|medium|large] [--out DIR]

Run the main job end to end with no Azure account: start a simulated Azure
DevOps organization in this process, sync it into a snapshot store in DIR,
and print what it holds. Run it again to see a sync of an unchanged
organization write nothing; explore the store afterwards with
'exporter show --db DIR/ado-access.db …'.

Examples:
  exporter demo
  exporter demo --preset medium --out /tmp/demo
`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&preset, "preset", "small", "organization size: small, medium or large")
			fs.StringVar(&out, "out", "demo-out", "folder for the demo's store and files")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q", args[0])
			}
			// A fixed generation time keeps the demo organization the same
			// from one run to the next, so a second run writes nothing.
			sim, err := adosim.New(adosim.Options{Preset: preset, Logger: env.Logger, GeneratedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
			if err != nil {
				return usageErrorf("%v", err)
			}
			if err := sim.Start("127.0.0.1:0"); err != nil {
				return err
			}
			defer sim.Close()
			env.Logger.Info("simulated organization started", "url", sim.URL(), "preset", preset)
			if err := os.MkdirAll(out, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", out, err)
			}
			db := filepath.Join(out, "ado-access.db")
			st, err := snapshot.Open(ctx, db)
			if err != nil {
				return err
			}
			defer st.Close()
			// The demo's organization lives at a new port each time; the store
			// keys runs by organization URL, so name it the same every time.
			client, err := collect.Dial(ctx, sim.URL(), collect.Credential{PAT: sim.Credential("readonly")}, collect.Options{Logger: env.Logger})
			if err != nil {
				return err
			}
			client.Org = "https://dev.azure.com/fabrikam-demo"
			prog := collect.NewProgress()
			stop := showProgress(env, prog, client.Stats)
			start := time.Now()
			run, err := collect.Sync(ctx, client, st, collect.SyncOptions{Teams: true, Progress: prog})
			stop()
			if err != nil {
				return err
			}
			fmt.Fprintln(env.Stdout, summary(run, prog, time.Since(start)))
			fmt.Fprintf(env.Stdout, "\nStore: %s\n\nSome users of run %d:\n", db, run.ID)
			if err := printQuery(ctx, env, st, showKinds["users"], "table", []any{sql.Named("run", run.ID), sql.Named("kind", "user")}, 10); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "\nNext: exporter show --db %s groups | memberships | access USER | projects | teams | repos\n", db)
			return nil
		},
	}
}

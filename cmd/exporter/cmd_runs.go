package main

import (
	"context"
	"encoding/json"
	"flag"
	"github.com/ado-access/ado-access/internal/snapshot"
	"time"
)

func newRunsCmd() *Command {
	var (
		sf     storeFlags
		format = newChoice("table", "table", "json")
	)
	return &Command{
		Name:    "runs",
		Summary: "list the syncs recorded in the store",
		Usage: `
Usage: exporter runs [--db FILE] [--org URL] [--format table|json]

List the runs (syncs) in the store, oldest first: id, organization, kind
(full or incremental), status (running, complete or failed), start and end,
API requests and row versions written. Only complete runs have a snapshot.
Without --org every organization's runs are listed.

JSON output is an array of objects with at least id, org, kind, status,
started_at, finished_at, api_requests and versions_written.

Exit codes: 0 done; 1 failed (no store, a damaged store); 2 bad usage (a
flag, an argument, an organization the store does not hold).

Examples:
  exporter runs
  exporter runs --format json | jq '.[-1].id'
`,
		Flags: func(fs *flag.FlagSet) {
			sf.register(fs)
			fs.Var(format, "format", "output format")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q", args[0])
			}
			stores, closeAll, err := sf.openAllForReading(ctx, env, true)
			if err != nil {
				return err
			}
			defer closeAll()
			var runs []snapshot.Run
			for _, st := range stores {
				rs, err := st.Runs(ctx)
				if err != nil {
					return err
				}
				runs = append(runs, rs...)
			}
			if format.String() == "json" {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				if runs == nil {
					return enc.Encode([]any{})
				}
				return enc.Encode(runs)
			}
			w, _ := newRowWriter(env.Stdout, "table", []string{"id", "org", "kind", "status", "started_at", "duration", "api_requests", "versions_written", "note"})
			for _, r := range runs {
				dur := ""
				if r.FinishedAt != nil {
					dur = r.FinishedAt.Sub(r.StartedAt).Round(100 * time.Millisecond).String()
				}
				note := r.Note
				if r.Error != "" {
					note = r.Error
				}
				w.Row([]any{r.ID, r.Org, r.Kind, r.Status, r.StartedAt.Format(time.RFC3339), dur, r.APIRequests, r.VersionsWritten, note})
			}
			return w.Close()
		},
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/ado-access/ado-access/internal/schedule"
)

// Exit codes of 'exporter run', for the platform that started it.
const (
	exitRunFailed = 1
	exitRunConfig = 2
	exitRunLocked = 3
)

func newRunCmd() *Command {
	var jf jobFlags
	return &Command{
		Name:    "run",
		Summary: "run one job of the schedule files once (for Container Apps jobs and Kubernetes CronJobs)",
		Usage: `
Usage: exporter run JOB [--schedules DIR] [--db FILE] [--state URL] [--pat-file FILE] [--auth MODE]

Run the job called JOB, as defined in the schedule files (see 'exporter
help schedules'), once, and exit. This is the entrypoint of a container
that a scheduler starts and throws away: an Azure Container Apps job or a
Kubernetes CronJob.

The last line on stdout is a one-line JSON summary of the run:

  {"job":"hourly-sync","run_id":"20261101T100000Z-3fa2c1","kind":"sync",
   "status":"ok","started_at":"…","duration_seconds":12.3,"store_run":42,
   "requests":311,"rows":5210,"versions":17,"outputs":["/data/fabrikam.db"]}

status is ok, failed, locked or bad-config, with "error" when not ok.
Logs go to stderr (--log-format json for log collectors).

Exit codes:
  0   the job succeeded
  1   the job failed (the store keeps its last good snapshot)
  2   bad configuration: a schedule file, an unknown job, a missing
      organization or credential
  3   another run holds the store (its lock, or the state blob's lease);
      the message names the holder. Retry later.

State between runs: a job's store is a local SQLite file (a mounted
volume), or, with --state (or state: in the job, or EXPORTER_STATE), a
blob in Azure Blob Storage: downloaded at the start under a blob lease
renewed while the run lasts, uploaded at the end only if the run
succeeded (as a new block list: a crash leaves the old blob whole), then
released. A crashed run's lease lapses within --lease, and the next run
proceeds. The blob is authenticated as export locations are:
AZURE_STORAGE_SAS_TOKEN, AZURE_STORAGE_CONNECTION_STRING, or Microsoft
Entra ID (managed identity, workload identity).

Credentials never live in schedule files: ADO_PAT, --pat-file, or Entra
ID (--auth entra), as for 'exporter sync'.

Examples:
  exporter run hourly-sync
  exporter run nightly-warehouse --schedules /etc/exporter/schedules
  exporter run hourly-sync --state https://acme.blob.core.windows.net/state/fabrikam.sqlite
`,
		Flags: func(fs *flag.FlagSet) { jf.register(fs, true) },
		Run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) != 1 {
				return usageErrorf("want one job name (see 'exporter schedules check' for the jobs)")
			}
			start := time.Now()
			sum, err := runJob(ctx, env, &jf, args[0])
			if sum.Started.IsZero() { // the job never started: say so in the same form
				sum = schedule.Summary{Job: args[0], Status: schedule.StatusConfig, Started: start.UTC(), Outputs: []string{}, Error: err.Error()}
			}
			line, jerr := json.Marshal(sum)
			if jerr != nil {
				return jerr
			}
			fmt.Fprintln(env.Stdout, string(line))
			switch sum.Status {
			case schedule.StatusOK:
				return nil
			case schedule.StatusConfig:
				return exitCode(exitRunConfig, err)
			case schedule.StatusLocked:
				return exitCode(exitRunLocked, err)
			}
			return exitCode(exitRunFailed, err)
		},
	}
}

// runJob loads the schedule files and runs one job.
func runJob(ctx context.Context, env *Env, jf *jobFlags, name string) (schedule.Summary, error) {
	jobs, err := jf.load(env)
	job, ferr := schedule.Find(jobs, name)
	if ferr != nil {
		if err == nil {
			err = ferr
		}
		return schedule.Summary{}, err
	}
	if err != nil {
		// Another file's mistake does not stop a valid job; say so.
		env.Logger.Warn("the schedule files have errors; running the job anyway", "err", err)
	}
	if jf.lease < durationValue(15*time.Second) || jf.lease > durationValue(60*time.Second) {
		return schedule.Summary{}, schedule.ConfigError(fmt.Errorf("--lease %s: want 15s to 60s", time.Duration(jf.lease)))
	}
	sum, err := jf.executor(env).Run(ctx, job)
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = fmt.Errorf("%w: %v", err, context.Cause(ctx))
	}
	return sum, err
}

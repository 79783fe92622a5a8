package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ado-access/ado-access/internal/schedule"
)

func newScheduleCmd() *Command {
	var (
		jf     jobFlags
		listen string
		grace  = durationValue(60 * time.Second)
	)
	return &Command{
		Name:    "schedule",
		Summary: "run every job of the schedule files on its schedule, until stopped",
		Usage: `
Usage: exporter schedule [--schedules DIR] [--listen ADDR] [--grace 60s] [--db FILE] [--state URL]

Run the jobs of the schedule files (see 'exporter help schedules') on
their cron schedules until SIGTERM or Ctrl-C: the always-on alternative
to one container per run ('exporter run'). It is the container image's
default command.

  - A job never overlaps itself: a run that falls due while the job's last
    run is still going is skipped and logged (as a Kubernetes CronJob's
    concurrencyPolicy: Forbid).
  - Jobs on the same store (or state blob) take turns.
  - A run that panics is logged with its stack and counted as failed; the
    other jobs go on.
  - Each job's next run time is logged at start and after each run.
  - On SIGTERM no new run starts; a running one gets --grace to finish,
    then is aborted: its sync run is marked failed and the store keeps its
    last good snapshot.

On --listen it serves:
  /healthz   200 "ok" while running, 503 once stopping
  /metrics   Prometheus metrics per job: exporter_job_runs_total{status},
             exporter_job_last_success_timestamp_seconds,
             exporter_job_duration_seconds, exporter_job_requests_total,
             exporter_job_rows_total, exporter_job_versions_written_total,
             exporter_job_skipped_total, exporter_job_panics_total,
             exporter_job_running, exporter_job_next_run_timestamp_seconds

Credentials, the store and the state blob work as for 'exporter run'.

Exit codes: 0 stopped by SIGTERM or Ctrl-C (failed runs are logged and
counted, not fatal); 1 the daemon itself failed; 2 bad configuration (a
schedule file, --listen, --lease).

Examples:
  exporter schedule
  exporter schedule --schedules /etc/exporter/schedules --listen :9090 --grace 2m
`,
		Flags: func(fs *flag.FlagSet) {
			jf.register(fs, true)
			fs.StringVar(&listen, "listen", ":9090", "address for /healthz and /metrics (\"\" for none)")
			fs.Var(&grace, "grace", "on SIGTERM, how long (a `DURATION`) a running job may go on before it is aborted")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q (to run one job once, use 'exporter run JOB')", args[0])
			}
			jobs, err := jf.load(env)
			if err != nil {
				return exitCode(exitUsage, err)
			}
			if jf.lease < durationValue(15*time.Second) || jf.lease > durationValue(60*time.Second) {
				return usageErrorf("--lease %s: want 15s to 60s", time.Duration(jf.lease))
			}
			ex := jf.executor(env)
			d := &schedule.Daemon{Jobs: jobs, Run: ex.Run, Logger: env.Logger, Listen: listen, Grace: time.Duration(grace)}
			if err := d.Serve(ctx); err != nil {
				return exitCode(exitUsage, err)
			}
			return nil
		},
	}
}

func newSchedulesCmd() *Command {
	var (
		jf  jobFlags
		now string
		n   int
	)
	return &Command{
		Name:    "schedules",
		Summary: "check the schedule files and show when each job runs next",
		Usage: `
Usage: exporter schedules check [--schedules DIR] [--now TIME] [-n 5]

Check every schedule file (*.yaml, *.yml) in DIR (default: schedules, or
EXPORTER_SCHEDULES) and print each job with its next run times. Every
problem is reported, naming the file, the job and the field, e.g.

  schedules/bad.yaml: job "nightly": schedule: minute 61 out of range 0-59

and the exit status is then 2.

A schedule file holds a list of jobs:

  jobs:
    - name: hourly-sync          # lower case, digits, hyphens
      schedule: "0 * * * *"      # five cron fields, or @hourly, @daily,
                                 # @weekly, @monthly, @yearly; @every 15m
                                 # works in 'exporter schedule' only
      timezone: Europe/Berlin    # or a CRON_TZ=Europe/Berlin prefix; UTC
                                 # by default
      kind: sync                 # sync, packet, warehouse, diff-report,
                                 # apply-plan or pipeline
      org: https://dev.azure.com/fabrikam   # default: ADO_ORG_URL
      store: /data/fabrikam.db   # default: --db, EXPORTER_DB, ado-access.db
      state: azblob://state/fabrikam.sqlite # optional: the store in Blob
      mode: auto                 # the kind's options follow

Kinds and their options (empty options take the command's defaults):
  sync         mode (auto|full|incremental), full_every (7d), entra_sweep (24h),
               token_sweep (every-run|168h|off), concurrency,
               teams (true|false)                    as 'exporter sync'
  packet       to, formats ([csv, parquet, xlsx]), baseline, dormant_days,
               privileged_groups, max_privileged     as 'exporter export packet'
  warehouse    to, dormant_days, privileged_groups, max_privileged
                                                     as 'exporter export warehouse'
  diff-report  to (a folder or blob prefix; default diff-reports), from
               (a run id or date; default the run before the latest),
               effective, changes (as diff --kind), format (json|csv),
               dormant_days; writes diff-ORG-runA-runB.FORMAT
  apply-plan   plan (a plan file approved elsewhere), apply (true|false:
               a dry run), max_changes
  pipeline     steps: a list of the kinds above (each with kind: and its
               options), run in order up to the first failure; steps share
               the job's org and store

to, baseline and from may use {org} (the organization's name) and {date}
(the run's date, UTC), e.g. to: reviews/{org}/{date}.

Unknown keys, and options of another kind, are errors. A file that looks
like it holds a secret (a pat:, token: or password: key, a SAS (sig=) in
a URL, an account key) is refused: credentials come from the
environment, --pat-file, or Microsoft Entra ID.

Examples:
  exporter schedules check
  exporter schedules check --schedules deploy/my-schedules --now 2026-11-01T00:00:00Z
`,
		Flags: func(fs *flag.FlagSet) {
			jf.register(fs, false)
			fs.StringVar(&now, "now", "", "show run times after this time (RFC 3339; default: now)")
			fs.IntVar(&n, "n", 5, "how many run times to show per job")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) != 1 || args[0] != "check" {
				return usageErrorf("want 'exporter schedules check'")
			}
			if n < 1 || n > 100 {
				return usageErrorf("-n %d: want 1 to 100", n)
			}
			at := time.Now()
			if now != "" {
				t, err := time.Parse(time.RFC3339, now)
				if err != nil {
					return usageErrorf("--now %q: want RFC 3339, e.g. 2026-11-01T00:00:00Z", now)
				}
				at = t
			}
			jobs, err := jf.load(env)
			printSchedules(env, jobs, at, n)
			if err != nil {
				return exitCode(exitUsage, err)
			}
			fmt.Fprintf(env.Stdout, "%d jobs in %s: OK\n", len(jobs), jf.dir)
			return nil
		},
	}
}

// printSchedules lists jobs and their next run times, in each job's zone.
func printSchedules(env *Env, jobs []*schedule.Job, at time.Time, n int) {
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	for _, j := range jobs {
		kind := j.Kind
		if j.Kind == schedule.KindPipeline {
			var ks []string
			for _, s := range j.Steps {
				ks = append(ks, s.Kind)
			}
			kind += " (" + strings.Join(ks, " → ") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", j.Name, kind, j.Schedule, j.File)
		for _, t := range j.Next(at, n) {
			fmt.Fprintf(tw, "\t\t  %s\t\n", t.In(j.Location).Format("Mon 2006-01-02 15:04 MST"))
		}
	}
	tw.Flush()
}

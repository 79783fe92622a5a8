package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/diff"
	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/schedule"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// jobFlags are shared by run, schedule and schedules check.
type jobFlags struct {
	dir     string
	db      string
	state   string
	lease   durationValue
	patFile string
	auth    *choice
}

const defaultSchedules = "schedules"

func (j *jobFlags) register(fs *flag.FlagSet, running bool) {
	fs.StringVar(&j.dir, "schedules", "", "folder of schedule files (env EXPORTER_SCHEDULES; default "+defaultSchedules+")")
	if !running {
		return
	}
	j.auth = newChoice("auto", "auto", "pat", "entra", "bearer")
	fs.StringVar(&j.db, "db", "", "store of jobs that name none (env EXPORTER_DB; default "+defaultDB+")")
	fs.StringVar(&j.state, "state", "", "keep the store in Azure Blob Storage between runs, under a lease: https://ACCOUNT.blob.core.windows.net/CONTAINER/ORG.sqlite or azblob://CONTAINER/ORG.sqlite (env EXPORTER_STATE); for jobs that name no state:")
	j.lease = durationValue(30 * time.Second)
	fs.Var(&j.lease, "lease", "how long the state blob's lease lasts unless renewed, a `DURATION` of 15s to 60s: a crashed run holds the store this long")
	fs.StringVar(&j.patFile, "pat-file", "", "read the PAT from this file instead of ADO_PAT (e.g. a mounted Kubernetes Secret)")
	fs.Var(j.auth, "auth", "how sync jobs authenticate (see 'exporter help sync')")
}

// resolve fills in what the flags left empty from the environment.
func (j *jobFlags) resolve(env *Env) {
	if j.dir == "" {
		j.dir = env.Getenv("EXPORTER_SCHEDULES")
	}
	if j.dir == "" {
		j.dir = defaultSchedules
	}
	if j.db == "" {
		j.db = env.Getenv("EXPORTER_DB")
	}
	if j.db == "" {
		j.db = defaultDB
	}
	if j.state == "" {
		j.state = env.Getenv("EXPORTER_STATE")
	}
}

// load reads the schedule files.
func (j *jobFlags) load(env *Env) ([]*schedule.Job, error) {
	j.resolve(env)
	return schedule.Load(j.dir, jobCheckers)
}

// jobCheckers check what only the commands know: diff's change kinds.
var jobCheckers = map[string]schedule.Checker{
	schedule.KindDiffReport: func(s schedule.Step) (string, error) {
		if _, err := parseKinds(strings.Join(s.Changes, ",")); err != nil {
			return "changes", errors.New(strings.TrimPrefix(err.Error(), "--kind "))
		}
		return "", nil
	},
}

// executor runs jobs with the same code as the sync, export and diff
// commands.
func (j *jobFlags) executor(env *Env) *schedule.Executor {
	return &schedule.Executor{
		Runners: map[string]schedule.Runner{
			schedule.KindSync:         j.runSync(env),
			schedule.KindPacket:       runExport(env, "packet"),
			schedule.KindWarehouse:    runExport(env, "warehouse"),
			schedule.KindDiffReport:   runDiffReport(env),
			schedule.KindApplyPlan:    j.runApplyPlan(env),
			schedule.KindReviewStatus: runReviewStatus(env),
		},
		Store:        j.db,
		State:        j.state,
		StateOptions: schedule.StateOptions{Lease: time.Duration(j.lease)},
		Getenv:       env.Getenv,
		Logger:       env.Logger,
		IsLocked:     func(err error) bool { return errors.Is(err, snapshot.ErrLocked) },
		Damaged: func(err error) (string, bool) {
			var de *snapshot.DamagedError
			if errors.As(err, &de) {
				return de.What, true
			}
			return "", false
		},
	}
}

// stepOrg is the step's organization, else ADO_ORG_URL's.
func stepOrg(env *Env, s schedule.Step) string {
	if s.Org != "" {
		return s.Org
	}
	return env.Getenv("ADO_ORG_URL")
}

// jobError makes a command's usage error a configuration error of the job.
func jobError(err error) error {
	var ue *usageError
	if errors.As(err, &ue) {
		return schedule.ConfigError(err)
	}
	return err
}

func (j *jobFlags) runSync(env *Env) schedule.Runner {
	return func(ctx context.Context, s schedule.Step, info schedule.RunInfo) (schedule.Result, error) {
		org := stepOrg(env, s)
		if org == "" {
			return schedule.Result{}, schedule.ConfigError(errors.New("no organization: set org: in the job or ADO_ORG_URL"))
		}
		cred, entra, err := credentialWithEntra(env, j.auth.String(), j.patFile)
		if err != nil {
			return schedule.Result{}, schedule.ConfigError(err)
		}
		graph, err := sweepGraph(env, entra, "", 8) // MSGRAPH_URL, or Microsoft's
		if err != nil {
			return schedule.Result{}, schedule.ConfigError(err)
		}
		sf := storeFlags{db: s.Store, org: org}
		if err := sf.resolve(env); err != nil {
			return schedule.Result{}, jobError(err)
		}
		tokenSweep, err := parseTokenSweep(s.TokenSweep)
		if err != nil {
			return schedule.Result{}, schedule.ConfigError(fmt.Errorf("token_sweep: %w", err))
		}
		p := syncParams{sf: sf, cred: cred, concurrency: s.Concurrency, opts: collect.SyncOptions{
			Mode: s.Mode, FullEvery: time.Duration(s.FullEvery), Teams: s.Teams == nil || *s.Teams, Permissions: true,
			EntraSweep: time.Duration(s.EntraSweep), Graph: graph,
			Pipelines: true, Tokens: true, TokenSweep: tokenSweep,
		}}
		if p.concurrency == 0 {
			p.concurrency = 8
		}
		if isSelector(org) || snapshot.IsFolder(sf.db) {
			return runSyncMany(ctx, env, info, sf, p)
		}
		start := time.Now()
		run, prog, err := syncStore(ctx, env, p)
		res := schedule.Result{StoreRun: run.ID, Requests: run.APIRequests, Rows: run.RowsSeen, Versions: run.VersionsWritten, Outputs: []string{s.Store}}
		if err == nil {
			info.Logger.Info(summary(run, prog, time.Since(start)), "note", run.Note)
		}
		return res, jobError(err) // a half-configured credential is the job's configuration
	}
}

// runSyncMany syncs every organization a job's org: picks (all, a list,
// a glob) into its store folder; new organizations are picked up as they
// appear, and gone ones recorded. Each organization's line goes to the log.
func runSyncMany(ctx context.Context, env *Env, info schedule.RunInfo, sf storeFlags, p syncParams) (schedule.Result, error) {
	folder, err := folderOf(sf)
	if err != nil {
		return schedule.Result{}, jobError(err)
	}
	var lines strings.Builder
	results, gone, failed, err := syncMany(ctx, env, syncManyParams{
		selector: sf.org, folder: folder, accounts: accountsURL(env, ""), cred: p.cred,
		concurrency: p.concurrency, perOrg: max(1, p.concurrency/2), parallel: 4, opts: p.opts, out: &lines,
	})
	for _, l := range strings.Split(strings.TrimSpace(lines.String()), "\n") {
		if l != "" {
			info.Logger.Info(l)
		}
	}
	if err != nil {
		return schedule.Result{}, err
	}
	res := schedule.Result{Outputs: []string{folder}}
	var names []string
	for _, r := range results {
		res.Requests += r.Run.APIRequests
		res.Rows += r.Run.RowsSeen
		res.Versions += r.Run.VersionsWritten
		if r.Err != nil {
			names = append(names, r.Org.Name)
		}
	}
	if failed {
		if len(names) == 0 {
			return res, fmt.Errorf("org: %s names an organization the credential does not see (see the log)", sf.org)
		}
		return res, fmt.Errorf("%d of %d organizations failed (%s); %d gone", len(names), len(results), strings.Join(names, ", "), len(gone))
	}
	return res, nil
}

func runExport(env *Env, kind string) schedule.Runner {
	return func(ctx context.Context, s schedule.Step, info schedule.RunInfo) (schedule.Result, error) {
		org := stepOrg(env, s)
		expand := func(v string) (string, error) {
			if strings.Contains(v, "{org}") && org == "" {
				return "", schedule.ConfigError(fmt.Errorf("%s: {org} needs org: in the job or ADO_ORG_URL", v))
			}
			return schedule.Expand(v, export.OrgName(org), info.Started), nil
		}
		to, err := expand(s.To)
		if err != nil {
			return schedule.Result{}, err
		}
		baseline, err := expand(s.Baseline)
		if err != nil {
			return schedule.Result{}, err
		}
		formats, err := export.CheckFormats(s.Formats)
		if err != nil {
			return schedule.Result{}, schedule.ConfigError(err)
		}
		var key ed25519.PrivateKey
		if kind == "packet" { // signed when ADO_ACCESS_SIGN_KEY names a key file
			if key, err = signKey(env, ""); err != nil {
				return schedule.Result{}, schedule.ConfigError(err)
			}
		}
		p := exportParams{
			kind: kind, sf: storeFlags{db: s.Store, org: org}, to: to, formats: formats, baseline: baseline,
			dormantDays: s.DormantDays, privileged: s.PrivilegedGroups, maxPrivileged: s.MaxPrivileged, signKey: key,
			splitBy: s.SplitBy, reviewers: s.Reviewers,
		}
		if kind == "packet" && s.SplitBy == "project" {
			c, sink, err := exportCampaign(ctx, env, p)
			if err != nil {
				return schedule.Result{}, jobError(err)
			}
			res := schedule.Result{StoreRun: c.Run, Outputs: []string{sink.String()}}
			for _, sc := range c.Scopes {
				res.Rows += sc.RowsToDecide
			}
			info.Logger.Info("campaign written", "campaign", c.CampaignID, "scopes", len(c.Scopes), "rows_to_decide", res.Rows)
			return res, nil
		}
		m, sink, err := exportStore(ctx, env, p)
		if err != nil {
			return schedule.Result{}, jobError(err)
		}
		res := schedule.Result{StoreRun: m.Run, Outputs: []string{sink.String()}}
		for _, t := range m.Tables {
			res.Rows += int64(t.N)
		}
		return res, nil
	}
}

func runDiffReport(env *Env) schedule.Runner {
	return func(ctx context.Context, s schedule.Step, info schedule.RunInfo) (schedule.Result, error) {
		org := stepOrg(env, s)
		sel, err := parseKinds(strings.Join(s.Changes, ","))
		if err != nil {
			return schedule.Result{}, jobError(err)
		}
		dormant := s.DormantDays
		if dormant == 0 {
			dormant = diff.DefaultDormantDays
		}
		format := s.Format
		if format == "" {
			format = "json"
		}
		to := s.To
		if to == "" {
			to = "diff-reports"
		}
		if strings.Contains(to, "{org}") && org == "" {
			return schedule.Result{}, schedule.ConfigError(fmt.Errorf("%s: {org} needs org: in the job or ADO_ORG_URL", to))
		}
		to = schedule.Expand(to, export.OrgName(org), info.Started)
		sink, err := export.OpenSink(ctx, to, env.Getenv, export.BlobOptions{})
		if err != nil {
			return schedule.Result{}, err
		}
		// The file is named after the runs it compares, known only once
		// the diff has picked them: write to a temporary file first.
		tmp, err := os.CreateTemp("", "diff-report-*")
		if err != nil {
			return schedule.Result{}, err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		sf := storeFlags{db: s.Store, org: org}
		n, a, b, err := diffStore(ctx, env, tmp, &sf, s.From, "latest", sel.options(s.Effective, dormant), sel, format)
		if err != nil {
			return schedule.Result{}, jobError(err)
		}
		name := fmt.Sprintf("diff-%s-run%d-run%d.%s", export.OrgName(b.Org), a.ID, b.ID, format)
		f, err := sink.Create(ctx, name)
		if err != nil {
			return schedule.Result{}, err
		}
		if _, err := tmp.Seek(0, io.SeekStart); err == nil {
			_, err = io.Copy(f, tmp)
		}
		if err != nil {
			f.Abort()
			return schedule.Result{}, fmt.Errorf("write %s: %w", name, err)
		}
		if err := f.Commit(); err != nil {
			return schedule.Result{}, err
		}
		return schedule.Result{StoreRun: b.ID, Rows: int64(n), Outputs: []string{sink.String() + "/" + name}}, nil
	}
}

// runReviewStatus reads a review campaign's completion (as 'exporter
// review status'); the job succeeds whether or not the campaign is complete,
// and reports how far it is in its summary and metrics.
func runReviewStatus(env *Env) schedule.Runner {
	return func(ctx context.Context, s schedule.Step, info schedule.RunInfo) (schedule.Result, error) {
		org := stepOrg(env, s)
		if strings.Contains(s.Campaign, "{org}") && org == "" {
			return schedule.Result{}, schedule.ConfigError(fmt.Errorf("%s: {org} needs org: in the job or ADO_ORG_URL", s.Campaign))
		}
		loc := schedule.Expand(s.Campaign, export.OrgName(org), info.Started)
		st, _, err := campaignStatus(ctx, env, loc)
		if err != nil {
			return schedule.Result{}, jobError(err)
		}
		info.Logger.Info("review status", "campaign", st.CampaignID, "scopes_complete", st.Complete, "scopes", st.Total, "rows_decided", st.Decided, "rows_to_decide", st.RowsToDecide)
		return schedule.Result{StoreRun: st.Run, Rows: st.Decided, Outputs: []string{loc},
			Review: &schedule.Review{ScopesComplete: st.Complete, ScopesTotal: st.Total, RowsDecided: st.Decided, RowsToDecide: st.RowsToDecide, Revokes: st.Revokes}}, nil
	}
}

// runApplyPlan applies a plan file approved elsewhere, with the code of
// 'exporter apply' (dry run unless apply: true). Its plan and outcome go to
// stderr with the logs; stdout keeps the run's one-line summary.
func (j *jobFlags) runApplyPlan(env *Env) schedule.Runner {
	return func(ctx context.Context, s schedule.Step, info schedule.RunInfo) (schedule.Result, error) {
		cred, entra, err := credentialWithEntra(env, j.auth.String(), j.patFile)
		if err != nil {
			return schedule.Result{}, schedule.ConfigError(err)
		}
		sf := storeFlags{db: s.Store, org: s.Org}
		if err := sf.resolve(env); err != nil {
			return schedule.Result{}, jobError(err)
		}
		maxChanges := s.MaxChanges
		if maxChanges == 0 {
			maxChanges = 50
		}
		quiet := *env
		quiet.Stdout = env.Stderr
		out, err := applyDecisions(ctx, &quiet, applyParams{
			sf: sf, decisions: s.Plan, apply: s.Apply, maxChanges: maxChanges,
			cred: cred, entra: entra, concurrency: 4, format: "table",
		})
		var ce *exitCodeError
		if errors.As(err, &ce) && ce.code == exitUsage {
			err = schedule.ConfigError(ce.err) // bad decisions: the job's configuration is wrong
		}
		res := schedule.Result{Requests: out.requests, Rows: int64(out.actions)}
		if out.plan != "" {
			res.Outputs = []string{"plan " + out.plan}
		}
		return res, jobError(err)
	}
}

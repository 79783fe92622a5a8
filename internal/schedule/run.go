package schedule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// A Runner runs one step of one kind. cmd/exporter provides one per kind,
// calling the same code as the matching command. The step's org and store
// are those of the job (Executor fills in the store).
type Runner func(ctx context.Context, s Step, info RunInfo) (Result, error)

// RunInfo tells a runner which run it is part of.
type RunInfo struct {
	Job     string
	RunID   string
	Started time.Time
	Logger  *slog.Logger
}

// Result is what a step did, for the run's summary and metrics.
type Result struct {
	StoreRun int64    // the store's run written (sync) or read (exports)
	Requests int64    // requests to Azure DevOps
	Rows     int64    // rows read (sync), written (exports) or changes (diff)
	Versions int64    // row versions written to the store
	Outputs  []string // where the step wrote, for people (no secrets)
	Review   *Review  // a review-status step's completion
}

// Review is a review campaign's completion, as a review-status job reads
// it.
type Review struct {
	ScopesComplete int   `json:"scopes_complete"`
	ScopesTotal    int   `json:"scopes_total"`
	RowsDecided    int64 `json:"rows_decided"`
	RowsToDecide   int64 `json:"rows_to_decide"`
	Revokes        int64 `json:"revokes"`
}

// Statuses of a run, in its summary.
const (
	StatusOK     = "ok"
	StatusFailed = "failed"
	StatusLocked = "locked"     // another run holds the store
	StatusConfig = "bad-config" // the job cannot run as configured
)

// Summary is one run of one job: exporter run prints it as one line of
// JSON, and the daemon logs it and feeds its metrics.
type Summary struct {
	Job      string    `json:"job"`
	RunID    string    `json:"run_id"`
	Kind     string    `json:"kind"`
	Status   string    `json:"status"`
	Started  time.Time `json:"started_at"`
	Duration float64   `json:"duration_seconds"`
	StoreRun int64     `json:"store_run,omitempty"`
	Requests int64     `json:"requests"`
	Rows     int64     `json:"rows"`
	Versions int64     `json:"versions"`
	Outputs  []string  `json:"outputs"`
	Review   *Review   `json:"review,omitempty"` // review-status jobs
	Error    string    `json:"error,omitempty"`
}

// Executor runs jobs once.
type Executor struct {
	Runners map[string]Runner
	// Store is the store of jobs that name none (EXPORTER_DB, else
	// ado-access.db).
	Store string
	// State is the state blob of jobs that name none (--state); "" for
	// none.
	State        string
	StateOptions StateOptions
	Getenv       func(string) string
	Logger       *slog.Logger
	// IsLocked tells whether a runner's error means another run holds the
	// store (snapshot.ErrLocked); ErrLocked always does.
	IsLocked func(error) bool
	// Damaged tells whether a runner's error is a damaged store, and what
	// is damaged (snapshot.DamagedError): when the store came from a state
	// blob, the advice is about the blob, not the local copy.
	Damaged func(error) (what string, ok bool)
	// Now is the clock (tests fix it); nil means time.Now.
	Now func() time.Time
}

// Run runs job once: it takes the state blob's lease and downloads the
// store if the job keeps its state in Blob Storage, runs the job's steps
// in order up to the first failure, uploads the store if every step
// succeeded, and lets the lease go. The summary says what happened; the
// error is the first failure.
func (e *Executor) Run(ctx context.Context, job *Job) (Summary, error) {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	started := now()
	sum := Summary{Job: job.Name, RunID: newRunID(started), Kind: job.Kind, Started: started.UTC(), Outputs: []string{}}
	log := e.Logger.With("job", job.Name, "run_id", sum.RunID)
	err := e.run(ctx, job, &sum, log)
	sum.Duration = time.Since(started).Seconds()
	sum.Status = StatusOK
	if err != nil {
		sum.Error = err.Error()
		switch {
		case errors.Is(err, ErrConfig):
			sum.Status = StatusConfig
		case errors.Is(err, ErrLocked) || e.IsLocked != nil && e.IsLocked(err):
			sum.Status = StatusLocked
		default:
			sum.Status = StatusFailed
		}
	}
	return sum, err
}

func (e *Executor) run(ctx context.Context, job *Job, sum *Summary, log *slog.Logger) (runErr error) {
	steps := job.Work()
	store := job.Store
	if store == "" {
		store = e.Store
	}
	for i := range steps {
		if steps[i].Store == "" {
			steps[i].Store = store
		}
	}
	stateLoc := job.State
	if stateLoc == "" {
		stateLoc = e.State
	}
	if stateLoc != "" {
		for _, s := range steps {
			if s.Store != store {
				return ConfigError(fmt.Errorf("job %q keeps its store in %s, so its steps must use that store, not %s", job.Name, stateLoc, s.Store))
			}
		}
		if store == "" {
			return ConfigError(fmt.Errorf("job %q: no store path for the state blob", job.Name))
		}
		if strings.HasSuffix(store, "/") || isDir(store) {
			return ConfigError(fmt.Errorf("job %q: a state blob holds one organization's store file, not the folder %s; keep a store folder on a volume, or give each organization a job and a state blob of its own", job.Name, store))
		}
		st, err := OpenState(ctx, stateLoc, e.Getenv, e.StateOptions)
		if err != nil {
			return ConfigError(err)
		}
		holder := holderName(job.Name, sum.RunID)
		t0 := time.Now()
		if err := st.Acquire(ctx, holder); err != nil {
			st.Release()
			return err
		}
		defer func() {
			if rerr := st.Release(); rerr != nil {
				log.Warn("could not release the state lease; it lapses by itself", "err", rerr)
			}
		}()
		n, err := st.Download(ctx, store)
		if err != nil {
			return err
		}
		log.Info("state downloaded", "state", st.String(), "store", store, "bytes", n, "took", time.Since(t0).Round(time.Millisecond))
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		stop := st.Keep(log, cancel)
		defer stop()
		defer func() { // upload only after a run that succeeded
			if runErr != nil {
				log.Warn("the run failed: the state blob keeps its last good store", "state", st.String())
				return
			}
			t0 := time.Now()
			n, err := st.Upload(ctx, store, holder)
			if err != nil {
				runErr = err
				return
			}
			log.Info("state uploaded", "state", st.String(), "bytes", n, "took", time.Since(t0).Round(time.Millisecond))
			sum.Outputs = append(sum.Outputs, st.String())
		}()
	}
	info := RunInfo{Job: job.Name, RunID: sum.RunID, Started: sum.Started, Logger: log}
	for i, s := range steps {
		runner := e.Runners[s.Kind]
		if runner == nil {
			return ConfigError(fmt.Errorf("job %q: no runner for kind %s", job.Name, s.Kind))
		}
		log.Info("step started", "step", i+1, "of", len(steps), "kind", s.Kind)
		res, err := runner(ctx, s, info)
		sum.Requests += res.Requests
		sum.Rows += res.Rows
		sum.Versions += res.Versions
		if res.StoreRun != 0 {
			sum.StoreRun = res.StoreRun
		}
		sum.Outputs = append(sum.Outputs, res.Outputs...)
		if res.Review != nil {
			sum.Review = res.Review
		}
		if err != nil {
			if what, ok := e.damaged(err); ok && stateLoc != "" {
				err = fmt.Errorf("the store downloaded from state %s is damaged: %s. The blob is its source and was not changed: restore an earlier version of the blob (blob versioning or soft delete), or delete the blob to start a new store with a full sync", stateLoc, what)
			}
			if cause := context.Cause(ctx); cause != nil && errors.Is(cause, ErrLeaseLost) {
				err = fmt.Errorf("%w (%v)", err, cause)
			}
			if len(steps) > 1 {
				return fmt.Errorf("step %d (%s): %w", i+1, s.Kind, err)
			}
			return err
		}
	}
	return nil
}

func (e *Executor) damaged(err error) (string, bool) {
	if e.Damaged == nil {
		return "", false
	}
	return e.Damaged(err)
}

// newRunID names one run of a job: its start time and a random suffix.
func newRunID(t time.Time) string {
	b := make([]byte, 3)
	rand.Read(b)
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// holderName says who holds a state lease, for the run that finds it held.
func holderName(job, runID string) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("job %s run %s on %s (pid %d) since %s", job, runID, asciiOnly(host), os.Getpid(), time.Now().UTC().Format(time.RFC3339))
}

// asciiOnly keeps blob metadata values valid.
func asciiOnly(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

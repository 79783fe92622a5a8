package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robfig/cron/v3"
)

// ErrGraceOver is the cause of a run's context when the daemon stops and
// the run did not end within the grace period.
var ErrGraceOver = errors.New("the daemon is stopping and the grace period is over")

// Daemon runs jobs on their schedules until its context ends.
//
//   - A job never overlaps itself: a run that falls due while the job's
//     previous run is still going is skipped and logged (as a Kubernetes
//     CronJob's concurrencyPolicy: Forbid does).
//   - Jobs on the same store, or the same state blob, take turns: a run
//     waits for another job's run on that store to end.
//   - A run that panics is recovered, logged with its stack and counted as
//     failed; the daemon and the other jobs go on.
//   - When ctx ends (SIGTERM), no new run starts; running ones get Grace
//     to finish, then their context is canceled (ErrGraceOver) so they
//     abort cleanly, and Serve returns once they have.
//
// It serves /healthz and Prometheus /metrics on Listen.
type Daemon struct {
	Jobs   []*Job
	Run    func(ctx context.Context, job *Job) (Summary, error) // Executor.Run
	Logger *slog.Logger
	Listen string        // address for /healthz and /metrics; "" for none
	Grace  time.Duration // how long running jobs get after ctx ends
	// Listening, if set, is called with the address the server listens
	// on (tests listen on port 0).
	Listening func(addr string)
	// OnSummary, if set, sees every run's summary (tests).
	OnSummary func(Summary)

	stopping atomic.Bool
	metrics  *metrics
}

// Serve runs the daemon until ctx ends and the running jobs have stopped.
func (d *Daemon) Serve(ctx context.Context) error {
	if len(d.Jobs) == 0 {
		return ConfigError(errors.New("no jobs to schedule"))
	}
	d.metrics = newMetrics()
	runCtx, cancelRuns := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelRuns(nil)

	var srv *http.Server
	if d.Listen != "" {
		ln, err := net.Listen("tcp", d.Listen)
		if err != nil {
			return ConfigError(fmt.Errorf("--listen %s: %w", d.Listen, err))
		}
		srv = &http.Server{Handler: d.handler(), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		d.Logger.Info("serving /healthz and /metrics", "addr", ln.Addr().String())
		if d.Listening != nil {
			d.Listening(ln.Addr().String())
		}
	}

	c := cron.New(cron.WithLocation(time.UTC))
	stores := map[string]chan struct{}{}
	stopped := make(chan struct{})
	ids := map[string]cron.EntryID{}
	var mu sync.Mutex // guards ids while jobs read them
	for _, job := range d.Jobs {
		d.metrics.init(job.Name)
		key := job.State
		if key == "" {
			key = "store:" + job.Store
		}
		if stores[key] == nil {
			stores[key] = make(chan struct{}, 1)
		}
		turn := stores[key]
		var running atomic.Bool
		// A run due as the daemon stops is not started, and says so.
		notStarting := func() {
			d.Logger.Info("not starting a run: the daemon is stopping", "job", job.Name)
		}
		id := c.Schedule(job.Cron, cron.FuncJob(func() {
			if d.stopping.Load() {
				notStarting()
				return
			}
			if !running.CompareAndSwap(false, true) {
				d.Logger.Warn("skipping a run: the job's previous run is still going", "job", job.Name)
				d.metrics.skipped.WithLabelValues(job.Name).Inc()
				return
			}
			defer running.Store(false)
			select {
			case turn <- struct{}{}:
			default:
				// Another job's run holds the same store: wait for it,
				// and say so, since the run starts late.
				d.Logger.Info("waiting: another run on the same store is going", "job", job.Name)
				select {
				case turn <- struct{}{}:
				case <-stopped:
					notStarting()
					return
				}
			}
			defer func() { <-turn }()
			if d.stopping.Load() {
				notStarting()
				return
			}
			d.runOnce(runCtx, job)
			if d.stopping.Load() {
				return // no next run: the daemon is stopping
			}
			mu.Lock()
			next := c.Entry(ids[job.Name]).Next
			mu.Unlock()
			d.logNext(job, next)
		}))
		mu.Lock()
		ids[job.Name] = id
		mu.Unlock()
	}
	c.Start()
	for _, job := range d.Jobs {
		mu.Lock()
		next := c.Entry(ids[job.Name]).Next
		mu.Unlock()
		d.logNext(job, next)
	}
	d.Logger.Info("scheduler started", "jobs", len(d.Jobs))

	<-ctx.Done()
	d.stopping.Store(true)
	close(stopped)
	d.Logger.Info("stopping: no new runs; running ones get the grace period", "grace", d.Grace)
	done := c.Stop()
	select {
	case <-done.Done():
	case <-time.After(d.Grace):
		d.Logger.Warn("grace period over: aborting running jobs; the store keeps its last good snapshot")
		cancelRuns(ErrGraceOver)
		<-done.Done()
	}
	d.Logger.Info("scheduler stopped")
	return nil
}

func (d *Daemon) logNext(job *Job, next time.Time) {
	if next.IsZero() {
		return
	}
	d.metrics.nextRun.WithLabelValues(job.Name).Set(float64(next.Unix()))
	d.Logger.Info("next run", "job", job.Name, "at", next.In(job.Location).Format(time.RFC3339))
}

// runOnce runs a job, recovering a panic, and records the outcome.
func (d *Daemon) runOnce(ctx context.Context, job *Job) {
	m := d.metrics
	m.running.WithLabelValues(job.Name).Set(1)
	defer m.running.WithLabelValues(job.Name).Set(0)
	started := time.Now()
	var sum Summary
	defer func() {
		if r := recover(); r != nil {
			d.Logger.Error("a run panicked; the daemon goes on", "job", job.Name, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			m.panics.WithLabelValues(job.Name).Inc()
			sum = Summary{Job: job.Name, Kind: job.Kind, Status: StatusFailed, Started: started.UTC(),
				Duration: time.Since(started).Seconds(), Error: fmt.Sprintf("panic: %v", r), Outputs: []string{}}
		}
		m.record(sum)
		if d.OnSummary != nil {
			d.OnSummary(sum)
		}
	}()
	d.Logger.Info("run started", "job", job.Name, "kind", job.Kind)
	sum, err := d.Run(ctx, job)
	attrs := []any{"job", sum.Job, "run_id", sum.RunID, "status", sum.Status, "duration", time.Duration(sum.Duration * float64(time.Second)).Round(time.Millisecond),
		"requests", sum.Requests, "rows", sum.Rows, "versions", sum.Versions}
	if err != nil {
		d.Logger.Error("run ended", append(attrs, "err", err)...)
		return
	}
	d.Logger.Info("run ended", attrs...)
}

func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if d.stopping.Load() {
			http.Error(w, "stopping", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	return mux
}

package schedule

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// every is a schedule of a fixed short period, so that daemon tests take
// milliseconds (cron's @every rounds up to a second).
type every time.Duration

func (e every) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

func testJob(name string, period time.Duration) *Job {
	return &Job{Name: name, Step: Step{Kind: KindSync}, Cron: every(period), Location: time.UTC}
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func serve(t *testing.T, d *Daemon) (stop func(), addr string) {
	t.Helper()
	if d.Logger == nil {
		d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	if d.Listen != "" {
		d.Listening = func(a string) { addrc <- a }
	}
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	if d.Listen != "" {
		select {
		case addr = <-addrc:
		case err := <-done:
			t.Fatalf("Serve: %v", err)
		}
	}
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the daemon did not stop")
		}
	}, addr
}

// A job whose run lasts longer than its period never overlaps itself:
// the runs that fall due meanwhile are skipped, and counted.
func TestDaemonNeverOverlapsAJob(t *testing.T) {
	t.Parallel()
	var running, maxRunning, runs atomic.Int32
	logs := &logBuffer{}
	d := &Daemon{
		Jobs:   []*Job{testJob("slow", 20*time.Millisecond)},
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Listen: "127.0.0.1:0",
		Grace:  time.Second,
		Run: func(ctx context.Context, job *Job) (Summary, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				m := maxRunning.Load()
				if n <= m || maxRunning.CompareAndSwap(m, n) {
					break
				}
			}
			runs.Add(1)
			time.Sleep(120 * time.Millisecond)
			return Summary{Job: job.Name, Status: StatusOK, Requests: 7}, nil
		},
	}
	stop, addr := serve(t, d)
	time.Sleep(450 * time.Millisecond)
	metrics := get(t, "http://"+addr+"/metrics")
	stop()
	if maxRunning.Load() != 1 {
		t.Errorf("%d runs of one job at once, want 1", maxRunning.Load())
	}
	if runs.Load() < 2 {
		t.Errorf("%d runs in 450 ms of a 120 ms job, want at least 2", runs.Load())
	}
	if !strings.Contains(logs.String(), "skipping a run: the job's previous run is still going") {
		t.Errorf("no skip logged:\n%s", logs.String())
	}
	for _, want := range []string{`exporter_job_skipped_total{job="slow"}`, `exporter_job_runs_total{job="slow",status="ok"}`, `exporter_job_requests_total{job="slow"}`, `exporter_job_last_success_timestamp_seconds{job="slow"}`, `exporter_job_duration_seconds_bucket{job="slow"`, `exporter_job_next_run_timestamp_seconds{job="slow"}`, "go_goroutines"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, `exporter_job_skipped_total{job="slow"} 0`) {
		t.Error("skips were not counted")
	}
	if !strings.Contains(logs.String(), `msg="next run" job=slow`) {
		t.Error("next run times are not logged")
	}
}

// Jobs on one store take turns; jobs on different stores run side by side.
func TestDaemonJobsOnOneStoreTakeTurns(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	active := map[string]int{}
	overlapSame, overlapOther := false, false
	a, b, c := testJob("a", 30*time.Millisecond), testJob("b", 30*time.Millisecond), testJob("c", 30*time.Millisecond)
	a.Store, b.Store, c.Store = "one.db", "one.db", "two.db"
	d := &Daemon{
		Jobs:  []*Job{a, b, c},
		Grace: time.Second,
		Run: func(ctx context.Context, job *Job) (Summary, error) {
			mu.Lock()
			active[job.Store]++
			if active["one.db"] > 1 {
				overlapSame = true
			}
			if active["one.db"] > 0 && active["two.db"] > 0 {
				overlapOther = true
			}
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
			mu.Lock()
			active[job.Store]--
			mu.Unlock()
			return Summary{Job: job.Name, Status: StatusOK}, nil
		},
	}
	stop, _ := serve(t, d)
	time.Sleep(400 * time.Millisecond)
	stop()
	if overlapSame {
		t.Error("two jobs on one store ran at once")
	}
	if !overlapOther {
		t.Error("jobs on different stores never ran side by side")
	}
}

// A panicking run is recovered and counted; the daemon and other jobs go
// on, and the panicking job runs again on its next tick.
func TestDaemonRecoversFromAPanic(t *testing.T) {
	t.Parallel()
	var panics, fine atomic.Int32
	logs := &logBuffer{}
	var sums []Summary
	var mu sync.Mutex
	d := &Daemon{
		Jobs:   []*Job{testJob("boom", 30*time.Millisecond), testJob("fine", 30*time.Millisecond)},
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Listen: "127.0.0.1:0",
		Grace:  time.Second,
		OnSummary: func(s Summary) {
			mu.Lock()
			sums = append(sums, s)
			mu.Unlock()
		},
		Run: func(ctx context.Context, job *Job) (Summary, error) {
			if job.Name == "boom" {
				panics.Add(1)
				var m map[string]int
				m["x"] = 1 // a nil map write: a real runtime panic
			}
			fine.Add(1)
			return Summary{Job: job.Name, Status: StatusOK}, nil
		},
	}
	stop, addr := serve(t, d)
	time.Sleep(250 * time.Millisecond)
	metrics := get(t, "http://"+addr+"/metrics")
	stop()
	if panics.Load() < 2 || fine.Load() < 2 {
		t.Errorf("panics %d, fine runs %d; want the panicking job to run again and the other to go on", panics.Load(), fine.Load())
	}
	if !strings.Contains(logs.String(), "a run panicked; the daemon goes on") || !strings.Contains(logs.String(), "assignment to entry in nil map") {
		t.Errorf("the panic is not logged with its cause:\n%s", logs.String())
	}
	if strings.Contains(metrics, `exporter_job_panics_total{job="boom"} 0`) || !strings.Contains(metrics, `exporter_job_panics_total{job="boom"}`) {
		t.Error("panics are not counted")
	}
	mu.Lock()
	defer mu.Unlock()
	failed := false
	for _, s := range sums {
		if s.Job == "boom" && s.Status == StatusFailed && strings.Contains(s.Error, "panic") {
			failed = true
		}
	}
	if !failed {
		t.Error("a panicked run is not recorded as failed")
	}
}

// On shutdown a run that ends within the grace period finishes; one that
// does not is canceled with ErrGraceOver; no new run starts; /healthz
// turns 503.
func TestDaemonShutdownGrace(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		runFor  time.Duration
		grace   time.Duration
		aborted bool
	}{
		{"finishes within grace", 150 * time.Millisecond, 2 * time.Second, false},
		{"aborted after grace", 10 * time.Second, 100 * time.Millisecond, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			started := make(chan struct{}, 10)
			var runs atomic.Int32
			var cause atomic.Value
			d := &Daemon{
				Jobs:   []*Job{testJob("j", 20*time.Millisecond)},
				Grace:  tt.grace,
				Listen: "127.0.0.1:0",
				Run: func(ctx context.Context, job *Job) (Summary, error) {
					runs.Add(1)
					started <- struct{}{}
					select {
					case <-time.After(tt.runFor):
						return Summary{Job: job.Name, Status: StatusOK}, nil
					case <-ctx.Done():
						cause.Store(context.Cause(ctx))
						return Summary{Job: job.Name, Status: StatusFailed}, ctx.Err()
					}
				},
			}
			stop, addr := serve(t, d)
			<-started
			if body := get(t, "http://"+addr+"/healthz"); body != "ok\n" {
				t.Errorf("/healthz = %q", body)
			}
			t0 := time.Now()
			stop()
			took := time.Since(t0)
			if runs.Load() != 1 {
				t.Errorf("%d runs, want 1: no run may start after the stop", runs.Load())
			}
			c, _ := cause.Load().(error)
			if tt.aborted != (c != nil) || c != nil && !errors.Is(c, ErrGraceOver) {
				t.Errorf("cause of cancellation %v, want aborted=%v with ErrGraceOver", c, tt.aborted)
			}
			if tt.aborted && took > tt.grace+time.Second {
				t.Errorf("stopping took %s with a grace of %s", took, tt.grace)
			}
		})
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// On shutdown no "next run" is logged, and a job due at the stop (here
// waiting for its turn on the store) says it is not started rather than
// vanishing (issue 19, item 6).
func TestDaemonStopLogsDroppedRunsAndNoNextRun(t *testing.T) {
	t.Parallel()
	a, b := testJob("a", 20*time.Millisecond), testJob("b", 20*time.Millisecond)
	a.Store, b.Store = "one.db", "one.db"
	logs := &logBuffer{}
	started := make(chan string, 100)
	d := &Daemon{
		Jobs:   []*Job{a, b},
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Grace:  5 * time.Second,
		Run: func(ctx context.Context, job *Job) (Summary, error) {
			started <- job.Name
			time.Sleep(150 * time.Millisecond)
			return Summary{Job: job.Name, Status: StatusOK}, nil
		},
	}
	stop, _ := serve(t, d)
	first := <-started
	// The other job is due and waits for the store (on a loaded machine
	// its tick may come late: wait for it, not for a fixed time).
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "waiting: another run on the same store"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the other job never waited for the store:\n%s", logs.String())
		}
	}
	stop()
	out := logs.String()
	i := strings.Index(out, "stopping: no new runs")
	if i < 0 {
		t.Fatalf("no stop logged:\n%s", out)
	}
	after := out[i:]
	if strings.Contains(after, `msg="next run"`) {
		t.Errorf("a next run is logged after the stop:\n%s", after)
	}
	other := "a"
	if first == "a" {
		other = "b"
	}
	if !strings.Contains(after, `msg="not starting a run: the daemon is stopping" job=`+other) {
		t.Errorf("job %s, due at the stop, was dropped without a log line:\n%s", other, after)
	}
}

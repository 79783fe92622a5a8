package schedule

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the daemon's Prometheus metrics, per job.
type metrics struct {
	reg         *prometheus.Registry
	runs        *prometheus.CounterVec // by status
	skipped     *prometheus.CounterVec
	panics      *prometheus.CounterVec
	running     *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
	lastRun     *prometheus.GaugeVec
	nextRun     *prometheus.GaugeVec
	duration    *prometheus.HistogramVec
	requests    *prometheus.CounterVec
	rows        *prometheus.CounterVec
	versions    *prometheus.CounterVec
	review      *prometheus.GaugeVec // by what: scopes_complete, scopes_total, rows_decided, rows_to_decide, revokes
}

func newMetrics() *metrics {
	job := []string{"job"}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "exporter_job_runs_total",
			Help: "Runs of a job that ended, by status: ok, failed, locked (another run held the store), bad-config."}, []string{"job", "status"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "exporter_job_skipped_total",
			Help: "Runs not started because the job's previous run was still going."}, job),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "exporter_job_panics_total",
			Help: "Runs that panicked (recovered; counted as failed too)."}, job),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "exporter_job_running",
			Help: "1 while a run of the job is going."}, job),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "exporter_job_last_success_timestamp_seconds",
			Help: "When the job's last successful run ended (Unix time)."}, job),
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "exporter_job_last_run_timestamp_seconds",
			Help: "When the job's last run ended, whatever its status (Unix time)."}, job),
		nextRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "exporter_job_next_run_timestamp_seconds",
			Help: "When the job runs next (Unix time)."}, job),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "exporter_job_duration_seconds",
			Help:    "How long runs took.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}}, job),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "exporter_job_requests_total",
			Help: "Requests to Azure DevOps made by the job's runs."}, job),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "exporter_job_rows_total",
			Help: "Rows read (sync), written (exports) or changes reported (diff) by the job's runs."}, job),
		versions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "exporter_job_versions_written_total",
			Help: "Row versions the job's runs wrote to the store."}, job),
		review: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "exporter_review_completion",
			Help: "A review campaign's completion at a review-status job's last run, by what: scopes_complete, scopes_total, rows_decided, rows_to_decide, revokes."}, []string{"job", "what"}),
	}
	m.reg.MustRegister(m.runs, m.skipped, m.panics, m.running, m.lastSuccess, m.lastRun, m.nextRun,
		m.duration, m.requests, m.rows, m.versions, m.review,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// init makes every job's series exist from the start, so that an alert on
// "no success for a day" fires for a job that never succeeded.
func (m *metrics) init(job string) {
	for _, st := range []string{StatusOK, StatusFailed, StatusLocked, StatusConfig} {
		m.runs.WithLabelValues(job, st)
	}
	m.skipped.WithLabelValues(job)
	m.panics.WithLabelValues(job)
	m.running.WithLabelValues(job)
	m.requests.WithLabelValues(job)
	m.rows.WithLabelValues(job)
	m.versions.WithLabelValues(job)
}

func (m *metrics) record(s Summary) {
	m.runs.WithLabelValues(s.Job, s.Status).Inc()
	m.duration.WithLabelValues(s.Job).Observe(s.Duration)
	m.requests.WithLabelValues(s.Job).Add(float64(s.Requests))
	m.rows.WithLabelValues(s.Job).Add(float64(s.Rows))
	m.versions.WithLabelValues(s.Job).Add(float64(s.Versions))
	end := s.Started.Unix() + int64(s.Duration)
	m.lastRun.WithLabelValues(s.Job).Set(float64(end))
	if s.Status == StatusOK {
		m.lastSuccess.WithLabelValues(s.Job).Set(float64(end))
	}
	if r := s.Review; r != nil {
		for what, v := range map[string]float64{"scopes_complete": float64(r.ScopesComplete), "scopes_total": float64(r.ScopesTotal),
			"rows_decided": float64(r.RowsDecided), "rows_to_decide": float64(r.RowsToDecide), "revokes": float64(r.Revokes)} {
			m.review.WithLabelValues(s.Job, what).Set(v)
		}
	}
}

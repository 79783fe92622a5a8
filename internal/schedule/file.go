package schedule

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/ado-access/ado-access/internal/blobloc"
)

// The kinds of job.
const (
	KindSync         = "sync"          // read an organization into the store
	KindPacket       = "packet"        // write a review packet
	KindWarehouse    = "warehouse"     // write warehouse Parquet
	KindDiffReport   = "diff-report"   // write the changes between two runs
	KindApplyPlan    = "apply-plan"    // apply a plan file approved elsewhere
	KindReviewStatus = "review-status" // report a review campaign's completion
	KindPipeline     = "pipeline"      // run steps of the other kinds in order
)

// Kinds lists the job kinds, pipeline last.
var Kinds = []string{KindSync, KindPacket, KindWarehouse, KindDiffReport, KindApplyPlan, KindReviewStatus, KindPipeline}

// A Step is one piece of work: a kind and its options. A job is a step
// with a name and a schedule; a pipeline job runs steps. Empty options
// take the defaults of the matching command (exporter sync, export,
// diff).
type Step struct {
	Kind  string `yaml:"kind"`
	Org   string `yaml:"org"`   // organization URL; default ADO_ORG_URL
	Store string `yaml:"store"` // SQLite store; default EXPORTER_DB, else ado-access.db
	To    string `yaml:"to"`    // where packet, warehouse and diff-report write: a folder or a blob location

	// sync
	Mode        string   `yaml:"mode"`        // auto (default), full or incremental
	FullEvery   Duration `yaml:"full_every"`  // force a full sync when the last is this old
	EntraSweep  Duration `yaml:"entra_sweep"` // sweep Entra-side changes at most this often (default every run)
	TokenSweep  string   `yaml:"token_sweep"` // full syncs read every user's tokens: every-run, off, or at most this often (default 168h)
	Concurrency int      `yaml:"concurrency"`
	Teams       *bool    `yaml:"teams"` // read teams (default true)

	// packet, warehouse, diff-report
	DormantDays int `yaml:"dormant_days"`
	// packet, warehouse
	PrivilegedGroups []string `yaml:"privileged_groups"`
	MaxPrivileged    int      `yaml:"max_privileged"`
	// packet
	Formats  []string `yaml:"formats"`
	Baseline string   `yaml:"baseline"`
	// packet: "project" writes a review campaign (export packet
	// --split-by project), with the reviewers file (--reviewers)
	SplitBy   string `yaml:"split_by"`
	Reviewers string `yaml:"reviewers"`
	// review-status: the campaign's folder or blob location
	Campaign string `yaml:"campaign"`
	// diff-report
	From      string   `yaml:"from"`
	Effective bool     `yaml:"effective"`
	Changes   []string `yaml:"changes"` // entity and change kinds, as diff --kind
	Format    string   `yaml:"format"`  // json (default) or csv

	// apply-plan
	Plan       string `yaml:"plan"`
	Apply      bool   `yaml:"apply"` // false: a dry run
	MaxChanges int    `yaml:"max_changes"`
}

// A Job is a named, scheduled step, as a schedule file defines it.
type Job struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Schedule    string `yaml:"schedule"`
	Timezone    string `yaml:"timezone"`
	// State is a blob location holding the store between runs; see
	// OpenState.
	State string `yaml:"state"`
	Step  `yaml:",inline"`
	Steps []Step `yaml:"steps"` // pipeline only

	File     string         `yaml:"-"` // the file it came from
	Cron     cron.Schedule  `yaml:"-"`
	Location *time.Location `yaml:"-"`
}

// Work is what the job runs: its steps for a pipeline, else itself.
// Steps inherit the job's org and store.
func (j *Job) Work() []Step {
	if j.Kind != KindPipeline {
		return []Step{j.Step}
	}
	out := make([]Step, len(j.Steps))
	for i, s := range j.Steps {
		if s.Org == "" {
			s.Org = j.Org
		}
		if s.Store == "" {
			s.Store = j.Store
		}
		out[i] = s
	}
	return out
}

// Next returns the job's next n run times after t.
func (j *Job) Next(t time.Time, n int) []time.Time {
	var out []time.Time
	for range n {
		t = j.Cron.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// fileDoc is a schedule file.
type fileDoc struct {
	Jobs []Job `yaml:"jobs"`
}

// An Error is a problem in a schedule file, naming the file, the job and
// the field: `schedules/bad.yaml: job "nightly": schedule: minute 61 out
// of range 0-59`.
type Error struct {
	File  string
	Line  int    // 0 if unknown or the job names the place
	Job   string // "" before a job is known
	Field string // "" for the job or file as a whole
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Job == "" && e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Job != "" {
		fmt.Fprintf(&b, ": job %q", e.Job)
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	return b.String() + ": " + e.Msg
}

// ErrConfig marks errors in configuration (schedule files, an unknown
// job, a missing option): exporter run exits 2 on them.
var ErrConfig = errors.New("bad configuration")

// configError wraps an error so that errors.Is(err, ErrConfig) holds.
type configError struct{ err error }

func (e configError) Error() string   { return e.err.Error() }
func (e configError) Unwrap() []error { return []error{e.err, ErrConfig} }

// ConfigError marks err as a configuration error.
func ConfigError(err error) error {
	if err == nil || errors.Is(err, ErrConfig) {
		return err
	}
	return configError{err}
}

// A Checker checks the options of one kind more deeply than the schedule
// package can (diff's change kinds, packet formats); cmd/exporter provides
// them. It returns the field at fault and what is wrong, or "", nil.
type Checker func(s Step) (field string, err error)

// Load reads every schedule file (*.yaml, *.yml) in dir and returns their
// jobs, in file order. It reports every problem it finds, each naming
// file, job and field; the error wraps ErrConfig. check, if not nil, adds
// checks per kind.
func Load(dir string, check map[string]Checker) ([]*Job, error) {
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, ConfigError(err)
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	if len(files) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, ConfigError(fmt.Errorf("schedules folder: %w", err))
		}
		return nil, ConfigError(fmt.Errorf("%s holds no schedule files (*.yaml)", dir))
	}
	var jobs []*Job
	var errs []error
	seen := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		js, err := Parse(f, data, check)
		if err != nil {
			errs = append(errs, err)
		}
		for _, j := range js {
			if other, dup := seen[j.Name]; dup {
				errs = append(errs, &Error{File: f, Job: j.Name, Field: "name", Msg: "also defined in " + other + "; job names must be unique"})
				continue
			}
			seen[j.Name] = f
			jobs = append(jobs, j)
		}
	}
	if len(errs) > 0 {
		return jobs, ConfigError(errors.Join(errs...))
	}
	return jobs, nil
}

// Find returns the job called name.
func Find(jobs []*Job, name string) (*Job, error) {
	for _, j := range jobs {
		if j.Name == name {
			return j, nil
		}
	}
	var names []string
	for _, j := range jobs {
		names = append(names, j.Name)
	}
	return nil, ConfigError(fmt.Errorf("no job %q (jobs: %s)", name, strings.Join(names, ", ")))
}

// Parse reads one schedule file's content; name is its path, for errors.
// It returns the jobs that are valid and an error listing the problems of
// the others.
func Parse(name string, data []byte, check map[string]Checker) ([]*Job, error) {
	jobs, errs := parse(name, data, check)
	// Secrets outside the values walked (comments, a file that does not
	// parse) are found on the raw lines; lines already reported are not
	// repeated.
	skip := map[int]bool{}
	for _, err := range errs {
		var e *Error
		if errors.As(err, &e) && strings.HasSuffix(e.Msg, noSecrets) {
			skip[e.Line] = true
		}
	}
	errs = append(errs, scanLines(name, data, skip)...)
	if len(errs) > 0 {
		return jobs, ConfigError(errors.Join(errs...))
	}
	return jobs, nil
}

func parse(name string, data []byte, check map[string]Checker) ([]*Job, []error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, []error{fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	if len(root.Content) == 0 {
		return nil, []error{&Error{File: name, Msg: "empty file; want a jobs: list"}}
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, []error{&Error{File: name, Line: doc.Line, Msg: "want a mapping with a jobs: list"}}
	}
	var errs []error
	var jobsNode *yaml.Node
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		if k.Value != "jobs" {
			errs = append(errs, &Error{File: name, Line: k.Line, Field: k.Value, Msg: "unknown key (a file holds only jobs:)"})
			errs = append(errs, scanSecrets(name, "", k.Value, v)...)
			continue
		}
		jobsNode = v
	}
	if jobsNode == nil || jobsNode.Kind != yaml.SequenceNode || len(jobsNode.Content) == 0 {
		errs = append(errs, &Error{File: name, Line: doc.Line, Field: "jobs", Msg: "missing or empty; want a list of jobs"})
		return nil, errs
	}
	var jobs []*Job
	for i, jn := range jobsNode.Content {
		j, jerrs := parseJob(name, i, jn, check)
		errs = append(errs, jerrs...)
		if len(jerrs) == 0 {
			jobs = append(jobs, j)
		}
	}
	if len(errs) == 0 {
		// Belt and braces: the whole file must also decode with unknown
		// keys refused, as the checks above should already have ensured.
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		var d fileDoc
		if err := dec.Decode(&d); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: ")))
		}
	}
	return jobs, errs
}

// keys lists the keys each kind accepts, beside the ones every job or
// step has.
var (
	jobKeys  = []string{"name", "description", "schedule", "timezone", "state", "kind", "org", "store"}
	stepKeys = []string{"kind", "org", "store"}
	kindKeys = map[string][]string{
		KindSync:         {"mode", "full_every", "entra_sweep", "token_sweep", "concurrency", "teams"},
		KindPacket:       {"to", "formats", "baseline", "dormant_days", "privileged_groups", "max_privileged", "split_by", "reviewers"},
		KindWarehouse:    {"to", "dormant_days", "privileged_groups", "max_privileged"},
		KindDiffReport:   {"to", "from", "effective", "changes", "format", "dormant_days"},
		KindApplyPlan:    {"plan", "apply", "max_changes"},
		KindReviewStatus: {"campaign"},
		KindPipeline:     {"steps"},
	}
)

var jobName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$`)

// parseJob reads the i-th job of a file.
func parseJob(file string, i int, n *yaml.Node, check map[string]Checker) (*Job, []error) {
	label := "#" + strconv.Itoa(i+1)
	if n.Kind != yaml.MappingNode {
		return nil, []error{&Error{File: file, Line: n.Line, Field: "jobs[" + strconv.Itoa(i) + "]", Msg: "want a mapping (name:, schedule:, kind: …)"}}
	}
	if v := value(n, "name"); v != nil && v.Kind == yaml.ScalarNode && v.Value != "" {
		label = v.Value
	}
	fail := func(field, format string, args ...any) error {
		return &Error{File: file, Job: label, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	j := &Job{File: file}
	errs := decodeFields(n, &j.Step, j, "", jobKeys, fail)
	errs = append(errs, scanSecrets(file, label, "", n)...)
	if len(errs) > 0 {
		return nil, errs
	}
	if !jobName.MatchString(j.Name) {
		errs = append(errs, fail("name", "%q: want lower-case letters, digits and hyphens, at most 52 (it names a Kubernetes CronJob and a metrics label)", j.Name))
	}
	sched, loc, err := parseSchedule(j.Schedule, j.Timezone)
	if err != nil {
		errs = append(errs, fail("schedule", "%v", err))
	}
	j.Cron, j.Location = sched, loc
	if j.State != "" && !blobloc.Is(j.State) {
		errs = append(errs, fail("state", "%q: want a blob location, https://ACCOUNT.blob.core.windows.net/CONTAINER/STORE.sqlite or azblob://CONTAINER/STORE.sqlite", j.State))
	}
	errs = append(errs, checkStep(&j.Step, "", check, fail)...)
	if j.Kind == KindPipeline {
		stepsNode := value(n, "steps")
		if stepsNode == nil || stepsNode.Kind != yaml.SequenceNode || len(stepsNode.Content) == 0 {
			errs = append(errs, fail("steps", "a pipeline needs a list of steps"))
		} else {
			for k, sn := range stepsNode.Content {
				prefix := fmt.Sprintf("steps[%d].", k)
				if sn.Kind != yaml.MappingNode {
					errs = append(errs, fail(strings.TrimSuffix(prefix, "."), "want a mapping (kind: …)"))
					continue
				}
				var s Step
				serrs := decodeFields(sn, &s, nil, prefix, stepKeys, fail)
				if len(serrs) == 0 {
					if s.Kind == KindPipeline {
						serrs = append(serrs, fail(prefix+"kind", "a pipeline cannot hold a pipeline"))
					} else {
						serrs = checkStep(&s, prefix, check, fail)
					}
				}
				errs = append(errs, serrs...)
				j.Steps = append(j.Steps, s)
			}
		}
	}
	return j, errs
}

// value returns the value of key in a mapping node, or nil.
func value(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// decodeFields decodes a job's or step's mapping key by key, so that each
// error names its key: keys must be among common or the keys of the kind.
// job is nil for a pipeline step.
func decodeFields(n *yaml.Node, s *Step, job *Job, prefix string, common []string, fail func(field, format string, args ...any) error) []error {
	kind := ""
	if v := value(n, "kind"); v != nil {
		kind = v.Value
	}
	allowed, known := kindKeys[kind]
	var errs []error
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := prefix + k.Value
		if seen[k.Value] {
			errs = append(errs, fail(field, "given twice"))
			continue
		}
		seen[k.Value] = true
		switch {
		case slices.Contains(common, k.Value):
		case known && slices.Contains(allowed, k.Value):
		case known && anyKindHas(k.Value):
			errs = append(errs, fail(field, "does not apply to kind %s (it takes %s)", kind, strings.Join(append(slices.Clone(common), allowed...), ", ")))
			continue
		case known || !anyKindHas(k.Value):
			errs = append(errs, fail(field, "unknown key"))
			continue
		default:
			continue // the kind is wrong; that error says enough
		}
		if k.Value == "steps" {
			continue // parseJob reads them one by one
		}
		one := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{k, v}}
		var err error
		if job != nil {
			err = one.Decode(job)
		} else {
			err = one.Decode(s)
		}
		if err != nil {
			errs = append(errs, fail(field, "%s", decodeMsg(err)))
		}
	}
	if !known {
		if kind == "" {
			errs = append(errs, fail(prefix+"kind", "missing; want one of %s", strings.Join(Kinds, ", ")))
		} else {
			errs = append(errs, fail(prefix+"kind", "%q: want one of %s", kind, strings.Join(Kinds, ", ")))
		}
	}
	return errs
}

func anyKindHas(key string) bool {
	for _, keys := range kindKeys {
		if slices.Contains(keys, key) {
			return true
		}
	}
	return false
}

// decodeMsg shortens the YAML library's type errors to what is wrong.
var yamlLine = regexp.MustCompile(`line \d+: `)

func decodeMsg(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = yamlLine.ReplaceAllString(msg, "")
	msg = strings.ReplaceAll(msg, "schedule.", "")
	return strings.Join(strings.Fields(msg), " ")
}

// checkStep checks a step's values.
func checkStep(s *Step, prefix string, check map[string]Checker, fail func(field, format string, args ...any) error) []error {
	var errs []error
	bad := func(field, format string, args ...any) { errs = append(errs, fail(prefix+field, format, args...)) }
	switch s.Kind {
	case KindSync:
		if s.Mode != "" && !slices.Contains([]string{"auto", "full", "incremental"}, s.Mode) {
			bad("mode", "%q: want auto, full or incremental", s.Mode)
		}
		if s.FullEvery < 0 {
			bad("full_every", "must not be negative")
		}
		if s.EntraSweep < 0 {
			bad("entra_sweep", "must not be negative")
		}
		if v := s.TokenSweep; v != "" && v != "every-run" && v != "off" {
			if d, err := ParseDuration(v); err != nil || d <= 0 {
				bad("token_sweep", "%q: want every-run, off, or a duration such as 168h or 7d", v)
			}
		}
		if s.Concurrency < 0 || s.Concurrency > 64 {
			bad("concurrency", "%d: want 1 to 64", s.Concurrency)
		}
	case KindPacket:
		if s.SplitBy != "" && s.SplitBy != "project" {
			bad("split_by", "%q: want project (a review campaign)", s.SplitBy)
		}
		if s.Reviewers != "" && s.SplitBy != "project" {
			bad("reviewers", "needs split_by: project")
		}
		for _, f := range s.Formats {
			if !slices.Contains([]string{"csv", "parquet", "xlsx"}, f) {
				bad("formats", "%q: want csv, parquet or xlsx", f)
			}
		}
	case KindReviewStatus:
		if s.Campaign == "" {
			bad("campaign", "missing: the campaign's folder or blob location (where a packet job with split_by: project writes)")
		}
	case KindDiffReport:
		if s.Format != "" && s.Format != "json" && s.Format != "csv" {
			bad("format", "%q: want json or csv", s.Format)
		}
	case KindApplyPlan:
		if s.Plan == "" {
			bad("plan", "missing: an apply-plan job needs the plan file approved elsewhere")
		}
		if s.MaxChanges < 0 {
			bad("max_changes", "must not be negative")
		}
	}
	for field, n := range map[string]int{"dormant_days": s.DormantDays, "max_privileged": s.MaxPrivileged} {
		if n < 0 {
			bad(field, "%d: must not be negative", n)
		}
	}
	for field, v := range map[string]string{"to": s.To, "baseline": s.Baseline, "from": s.From, "campaign": s.Campaign} {
		if err := checkPlaceholders(v); err != nil {
			bad(field, "%v", err)
		}
	}
	if c := check[s.Kind]; c != nil && len(errs) == 0 {
		if field, err := c(*s); err != nil {
			bad(field, "%v", err)
		}
	}
	return errs
}

// Duration is a YAML duration that also accepts days: 90m, 12h, 7d.
type Duration time.Duration

// UnmarshalYAML reads a duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads a Go duration (90m, 1h30m) or a number of days (7d).
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err == nil && n >= 0 && n < 1e5 {
			return time.Duration(n * 24 * float64(time.Hour)), nil
		}
	} else if v, err := time.ParseDuration(s); err == nil && v >= 0 {
		return v, nil
	}
	return 0, fmt.Errorf("%q: want a duration such as 90m, 12h or 7d", s)
}

package collect

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/security"
	"golang.org/x/sync/errgroup"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// SyncOptions choose what a sync reads and how it waits.
type SyncOptions struct {
	// Mode is auto (incremental when the store holds a usable Audit Log
	// cursor, full otherwise), full, or incremental (fail rather than fall
	// back to full).
	Mode string
	// FullEvery forces a full sync when the last one is this old (0: never).
	FullEvery time.Duration
	// AuditOverlap is how far before the cursor an incremental read starts,
	// to catch entries that arrive late (default 10 minutes).
	AuditOverlap time.Duration
	// AuditRetention is how long the service keeps Audit Log entries
	// (default 90 days); an older cursor means entries were lost.
	AuditRetention time.Duration
	// Teams reads teams and their members (one request per team).
	Teams bool
	// Permissions reads the security namespaces and the ACLs of Namespaces
	// (see permissions.go).
	Permissions bool
	// Namespaces are the security namespaces (ids or names) whose ACLs to
	// read; empty means DefaultNamespaces.
	Namespaces []string
	// EntraSweep is how often an incremental run re-reads what changes in
	// Microsoft Entra ID without an Audit Log entry (entra_sweep.go): 0,
	// every run; otherwise when the last sweep is at least this old.
	EntraSweep time.Duration
	// Graph, if set, lets the Entra sweep ask Microsoft Graph's delta
	// query which Entra groups' members changed (entra_delta.go), instead
	// of re-reading every Entra group.
	Graph *MSGraph
	// Pipelines reads service connections, variable groups, environments,
	// agent pools and queues, their role assignments and pipeline
	// permissions (pipelines.go).
	Pipelines bool
	// Tokens reads every user's personal access tokens and SSH keys
	// (tokens.go).
	Tokens bool
	// TokenSweep is how often a full sync reads every user's tokens
	// (token_sweep.go): 0, every full sync; TokenSweepOff, never; otherwise
	// when the last sweep is at least this old. In between, full syncs
	// carry the tokens forward and Audit Log entries keep them.
	TokenSweep time.Duration
	// Wait makes a sync wait for another one holding the store to finish,
	// instead of failing at once.
	Wait bool
	// Progress, if set, receives live counts; see Progress.
	Progress *Progress
}

func (o SyncOptions) withDefaults() SyncOptions {
	if o.Mode == "" {
		o.Mode = "auto"
	}
	if o.AuditOverlap <= 0 {
		o.AuditOverlap = 10 * time.Minute
	}
	if o.AuditRetention <= 0 {
		o.AuditRetention = 90 * 24 * time.Hour
	}
	return o
}

// Progress counts what a sync has read so far, per resource, for a
// progress display. All methods are safe for concurrent use.
type Progress struct {
	mu     sync.Mutex
	order  []string
	counts map[string]*atomic.Int64
	phase  atomic.Value // string
	wait   atomic.Int64 // nanoseconds spent waiting for the writer lock
}

// NewProgress returns counters for the resources a sync reads.
func NewProgress() *Progress {
	p := &Progress{counts: map[string]*atomic.Int64{}}
	for _, r := range []string{"accounts", "service principals", "entitlements", "groups", "group rules", "memberships", "projects", "teams", "team members", "repositories", "access control lists", "access control entries"} {
		p.order = append(p.order, r)
		p.counts[r] = &atomic.Int64{}
	}
	p.phase.Store("starting")
	return p
}

func (p *Progress) add(resource string, n int) {
	if p == nil {
		return
	}
	if c := p.counts[resource]; c != nil {
		c.Add(int64(n))
	}
}

func (p *Progress) setPhase(s string) {
	if p != nil {
		p.phase.Store(s)
	}
}

// Counts returns the resources in display order with their counts.
func (p *Progress) Counts() (names []string, counts []int64) {
	for _, r := range p.order {
		names = append(names, r)
		counts = append(counts, p.counts[r].Load())
	}
	return names, counts
}

func (p *Progress) waited(d time.Duration) {
	if p != nil {
		p.wait.Store(int64(d))
	}
}

// LockWait is how long the sync waited for another one to release the
// store (with --wait): time that is not the sync's own.
func (p *Progress) LockWait() time.Duration { return time.Duration(p.wait.Load()) }

// Phase is what the sync is doing now.
func (p *Progress) Phase() string { return p.phase.Load().(string) }

// op is one write to the store. Collectors run concurrently; the store has
// one writer, so writes go through a channel to a single goroutine.
type op func(*snapshot.Writer) error

type sink struct {
	ops  chan<- op
	prog *Progress
}

func (s *sink) do(ctx context.Context, fn op) error {
	select {
	case s.ops <- fn:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *sink) put(ctx context.Context, t *snapshot.Table, resource string, row snapshot.Row) error {
	s.prog.add(resource, 1)
	return s.do(ctx, func(w *snapshot.Writer) error { return w.Put(t, row) })
}

// pass counts the rows one reading of a listing puts, so that a listing
// that starts over can take back what it counted.
type pass struct {
	s        *sink
	resource string
	n        int
}

func (s *sink) pass(resource string) *pass { return &pass{s: s, resource: resource} }

func (p *pass) put(ctx context.Context, t *snapshot.Table, row snapshot.Row) error {
	p.n++
	return p.s.put(ctx, t, p.resource, row)
}

// reset takes back the counts of an abandoned reading.
func (p *pass) reset() {
	p.s.prog.add(p.resource, -p.n)
	p.n = 0
}

func (s *sink) replace(ctx context.Context, t *snapshot.Table, resource string, scope string, rows []snapshot.Row) error {
	s.prog.add(resource, len(rows))
	return s.do(ctx, func(w *snapshot.Writer) error { return w.ReplaceScope(t, []any{scope}, rows) })
}

func (s *sink) identity(ctx context.Context, descriptor, storageKey, legacy string) error {
	return s.do(ctx, func(w *snapshot.Writer) error { return w.SetIdentityKeys(descriptor, storageKey, legacy) })
}

// env is what collectors share during one sync.
type env struct {
	c    *Client
	out  *sink
	opts SyncOptions
	ids  *resolver

	notes *runNotes // what the run's note should say beyond its kind

	mu     sync.Mutex
	groups []groupRef // filled by the groups collector, read by memberships
	teams  []teamRef  // filled by the teams collector, read by team members
	admins teamAdmins // team administrators, if the Identity ACLs were read
	// identityACLs are those ACLs, for the permissions step to reuse.
	identityACLs []security.AccessControlList
	// membersRead are the groups whose direct members a full sync read.
	membersRead map[string]bool
	sps         []string // service principal descriptors, for their entitlements
}

// runNotes gathers what collectors want the run's note to say.
type runNotes struct {
	mu    sync.Mutex
	notes []string
}

func (n *runNotes) add(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !slices.Contains(n.notes, s) {
		n.notes = append(n.notes, s)
	}
}

// append adds the notes to a run's note.
func (n *runNotes) append(note string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.notes {
		note += "; " + s
	}
	return note
}

// Sync runs one sync of the client's organization into the store: it takes
// the writer lock, marks runs a crash left behind as failed, decides between
// a full and an incremental run, and commits one run. The run's note says
// which kind it is and why.
func Sync(ctx context.Context, c *Client, st *snapshot.Store, opts SyncOptions) (snapshot.Run, error) {
	opts = opts.withDefaults()
	if opts.Mode != "auto" && opts.Mode != "full" && opts.Mode != "incremental" {
		return snapshot.Run{}, fmt.Errorf("sync mode %q: want auto, full or incremental", opts.Mode)
	}
	waitStart := time.Now()
	lock, err := st.Lock(ctx, opts.Wait)
	if err != nil {
		return snapshot.Run{}, err
	}
	defer lock.Unlock()
	opts.Progress.waited(time.Since(waitStart))
	if err := st.Bind(ctx, snapshot.Organization{ID: c.OrgID, Name: snapshot.OrgName(c.Org), URL: c.Org}); err != nil {
		return snapshot.Run{}, err
	}
	if ids, err := st.RecoverInterrupted(ctx); err != nil {
		return snapshot.Run{}, err
	} else if len(ids) > 0 {
		c.log.Warn("marked interrupted runs as failed; their changes were discarded", "runs", ids)
	}
	prev, why, err := decide(ctx, c, st, opts)
	if err != nil {
		return snapshot.Run{}, err
	}
	if prev != nil {
		inc, err := planIncremental(ctx, c, st, *prev, opts)
		if err == nil {
			defer inc.stop()
			return attempt(ctx, c, st, "incremental", func(w *snapshot.Writer) (snapshot.Run, error) {
				return inc.apply(ctx, w)
			})
		}
		switch {
		case opts.Mode == "incremental":
			return snapshot.Run{}, fmt.Errorf("cannot sync incrementally: %w", err)
		case errors.Is(err, errNeedFull):
			why = err.Error()
		case errors.Is(err, errAuditUnreadable):
			why = "the changes since the last run are unknown: " + err.Error()
			c.log.Warn("falling back to a full sync", "reason", why)
		default:
			return snapshot.Run{}, err
		}
	}
	if opts.Mode != "full" {
		c.log.Info("full sync", "reason", why)
	}
	return attempt(ctx, c, st, "full", func(w *snapshot.Writer) (snapshot.Run, error) {
		return fullSync(ctx, c, w, opts, why)
	})
}

// attempt runs one kind of sync in a new run, aborting the run on failure
// (recording the requests it made).
func attempt(ctx context.Context, c *Client, st *snapshot.Store, kind string, body func(*snapshot.Writer) (snapshot.Run, error)) (snapshot.Run, error) {
	_, prevErr := st.LatestRun(ctx)
	w, err := st.Begin(ctx, c.Org, kind)
	if err != nil {
		return snapshot.Run{}, err
	}
	run, err := body(w)
	if err != nil {
		used := c.Stats.usage().minus(c.billed)
		w.Abort(err, snapshot.RunStats{APIRequests: used.total, RequestsByArea: used.byArea, Retries: used.retries})
		kept := "the previous snapshot is unchanged"
		if prevErr != nil {
			kept = "the store holds no snapshot yet"
		}
		return w.Run(), fmt.Errorf("%s sync run %d failed, %s: %w", kind, w.ID(), kept, st.Explain(err))
	}
	return run, nil
}

// decide picks the kind of run: it returns the run to continue from for an
// incremental sync, or nil and why a full sync is needed.
func decide(ctx context.Context, c *Client, st *snapshot.Store, opts SyncOptions) (*snapshot.Run, string, error) {
	if opts.Mode == "full" {
		return nil, "a full sync was asked for", nil
	}
	full := func(why string) (*snapshot.Run, string, error) {
		if opts.Mode == "incremental" {
			return nil, "", fmt.Errorf("cannot sync incrementally: %s", why)
		}
		return nil, why, nil
	}
	prev, err := st.LatestRun(ctx)
	if errors.Is(err, snapshot.ErrNoRun) {
		return full("the store holds no earlier run of this organization")
	}
	if err != nil {
		return nil, "", err
	}
	if prev.AuditCursorTime == nil {
		return full(fmt.Sprintf("run %d has no Audit Log cursor (the log could not be read then)", prev.ID))
	}
	return &prev, "", nil
}

// errNeedFull says an incremental sync must not go on; its message says why.
var errNeedFull = errors.New("a full sync is needed")

// checkFresh tells whether the previous run can still be continued. It
// uses the service's clock, as the last answer (the Audit Log's) gave it.
func checkFresh(ctx context.Context, c *Client, st *snapshot.Store, prev snapshot.Run, opts SyncOptions) error {
	now := c.Stats.ServerNow()
	if opts.FullEvery > 0 {
		last, err := st.LatestFullRun(ctx)
		if err != nil || now.Sub(last.StartedAt) >= opts.FullEvery {
			return fmt.Errorf("%w: it is due (--full-every %s; the last full sync is run %d of %s)", errNeedFull, opts.FullEvery, last.ID, last.StartedAt.Format(time.RFC3339))
		}
	}
	if oldest := now.Add(-opts.AuditRetention); prev.AuditCursorTime.Add(-opts.AuditOverlap).Before(oldest) {
		return fmt.Errorf("%w: the Audit Log cursor of run %d (%s) is older than the log's retention of %s, so entries may be lost",
			errNeedFull, prev.ID, prev.AuditCursorTime.Format(time.RFC3339), opts.AuditRetention)
	}
	return nil
}

// withWriter runs body with collectors writing through one writer
// goroutine, and returns the first error of either.
func withWriter(ctx context.Context, c *Client, w *snapshot.Writer, ids *resolver, opts SyncOptions, notes *runNotes, body func(context.Context, *env) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ops := make(chan op, 512)
	writeErr := make(chan error, 1)
	go func() {
		var err error
		for fn := range ops {
			if err != nil {
				continue // drain after a failure
			}
			if err = fn(w); err != nil {
				cancel(err)
			}
		}
		writeErr <- err
	}()
	e := &env{c: c, out: &sink{ops: ops, prog: opts.Progress}, opts: opts, ids: ids, notes: notes}
	ids.out = e.out
	err := body(ctx, e)
	close(ops)
	if werr := <-writeErr; werr != nil {
		return fmt.Errorf("write the snapshot: %w", werr)
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
		return err
	}
	return nil
}

func fullSync(ctx context.Context, c *Client, w *snapshot.Writer, opts SyncOptions, why string) (snapshot.Run, error) {
	note := "full: " + why
	// Place the Audit Log cursor before reading: changes made while the
	// sync reads are then replayed by the next incremental run.
	cur, err := c.placeCursor(ctx, opts.AuditOverlap)
	if err != nil {
		if !errors.Is(err, errAuditUnreadable) {
			return snapshot.Run{}, err
		}
		c.log.Warn("incremental syncs will not be possible", "reason", err)
		note += "; " + err.Error() + " (the next sync will be full too)"
	}
	// The snapshot is as of the service's clock, which the answer just
	// read (even a refusal) has told.
	snapshotTime := c.Stats.ServerNow()
	ids := newResolver(c)
	ids.load(ctx, w.Store())
	defer ids.loading.abandon() // a no-op once the run has used it
	notes := &runNotes{}
	// Entra changes from now on are what the next sweep asks Graph for.
	deltaLink, err := opts.deltaFromNow(ctx, snapshotTime, (*MSGraph).GroupsDelta, groupsDeltaLatest)
	if err != nil {
		notes.add("no Microsoft Graph deltaLink for the next Entra sweep, which will read every Entra group: " + err.Error())
	}
	usersLink, err := opts.deltaFromNow(ctx, snapshotTime, (*MSGraph).UsersDelta, usersDeltaFromNow)
	if err != nil {
		notes.add("no Microsoft Graph users deltaLink for the next Entra sweep, which will look up every Entra account: " + err.Error())
	}
	if err := withWriter(ctx, c, w, ids, opts, notes, runPhases); err != nil {
		return snapshot.Run{}, err
	}
	// It read Entra groups and accounts in full.
	if err := w.RecordEntraSweep(snapshot.EntraSweep{SweptAt: snapshotTime, Method: entraSweepFull, DeltaLink: deltaLink, UsersDeltaLink: usersLink}); err != nil {
		return snapshot.Run{}, err
	}
	return commit(c, w, snapshotTime, cur, notes.append(note))
}

func commit(c *Client, w *snapshot.Writer, snapshotTime time.Time, cur cursor, note string) (snapshot.Run, error) {
	now := c.Stats.usage()
	used := now.minus(c.billed)
	defer func(start time.Time) {
		c.log.Debug("committed the run", "duration", time.Since(start).Round(time.Millisecond))
	}(time.Now())
	run, err := w.Commit(snapshot.RunStats{
		SnapshotTime:    snapshotTime,
		AuditCursorTime: cur.time,
		AuditCursorID:   cur.id,
		AuditSeen:       cur.seen,
		APIRequests:     used.total,
		RequestsByArea:  used.byArea,
		Retries:         used.retries,
		Note:            note,
	})
	if err == nil {
		c.billed = now
	}
	return run, err
}

// incremental is an incremental run read from the Audit Log and planned,
// ready to apply.
type incremental struct {
	c            *Client
	ids          *resolver
	view         *storeView
	opts         SyncOptions
	plan         *plan
	cur          cursor
	note         string
	snapshotTime time.Time
}

// planIncremental reads the Audit Log since the previous run's cursor (a
// little before it, skipping entries that run handled) and maps the
// entries to re-reads. It writes nothing, so a log that cannot be read
// costs no run.
func planIncremental(ctx context.Context, c *Client, st *snapshot.Store, prev snapshot.Run, opts SyncOptions) (_ *incremental, err error) {
	inc := &incremental{c: c, opts: opts, plan: newPlan(opts), ids: newResolver(c)}
	// The store is read while the Audit Log is.
	inc.ids.load(ctx, st)
	inc.view = loadView(ctx, st, inc.ids)
	defer func() {
		if err != nil {
			inc.stop()
		}
	}()
	handled, err := st.AuditSeen(ctx, prev.ID)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	entries, err := c.readAudit(ctx, prev.AuditCursorTime.Add(-opts.AuditOverlap))
	if err != nil {
		return nil, err
	}
	c.log.Debug("read the Audit Log", "entries", len(entries), "duration", time.Since(start).Round(time.Millisecond))
	inc.snapshotTime = c.Stats.ServerNow()
	if err := checkFresh(ctx, c, st, prev, opts); err != nil {
		return nil, err
	}
	skipped := 0
	for _, e := range entries {
		if handled[e.id] {
			skipped++
			continue
		}
		inc.plan.add(e)
	}
	inc.cur = cursorOf(entries, cursor{time: *prev.AuditCursorTime, id: prev.AuditCursorID}, opts.AuditOverlap)
	inc.note = inc.plan.note(len(entries), skipped)
	c.log.Info("incremental sync", "since_run", prev.ID, "entries", len(entries), "already_handled", skipped, "mapped", inc.plan.mapped)
	return inc, nil
}

// stop ends the reads of the store planIncremental started, if the run
// did not need them after all.
func (inc *incremental) stop() {
	inc.ids.loading.abandon()
	inc.view.loading.abandon()
}

// apply re-reads what the plan names and commits the run.
func (inc *incremental) apply(ctx context.Context, w *snapshot.Writer) (snapshot.Run, error) {
	notes := &runNotes{}
	err := withWriter(ctx, inc.c, w, inc.ids, inc.opts, notes, func(ctx context.Context, e *env) error {
		e.out.prog.setPhase("re-reading")
		return runIncremental(ctx, e, inc.plan, inc.view)
	})
	if err != nil {
		return snapshot.Run{}, err
	}
	return commit(inc.c, w, inc.snapshotTime, inc.cur, notes.append(inc.note))
}

// fullTables are the tables a full sync reads completely; rows it does not
// see are closed as gone. Team tables join only when teams are read.
func fullTables(teams bool) []*snapshot.Table {
	ts := []*snapshot.Table{snapshot.Accounts, snapshot.Entitlements, snapshot.Groups, snapshot.GroupRules,
		snapshot.Memberships, snapshot.Projects, snapshot.Repositories}
	if teams {
		ts = append(ts, snapshot.Teams, snapshot.TeamMembers)
	}
	return ts
}

// step is one reader of a sync and the steps whose results it needs.
type step struct {
	name  string
	after []string
	run   func(context.Context, *env) error
}

// steps lists the readers. Lists come first; memberships need the groups,
// team members the teams and memberships, service principal entitlements
// the principals.
// Each step starts as soon as what it needs is done, so the long chains of
// continuation-token pages (users, entitlements) overlap with the rest.
func steps(teams, permissions bool) []step {
	s := []step{
		{name: "users", run: readUsers},
		{name: "service principals", run: readServicePrincipals},
		{name: "entitlements", run: readUserEntitlements},
		{name: "groups", run: readGroups},
		{name: "group rules", run: readGroupRules},
		{name: "projects", run: readProjects},
		{name: "repositories", run: readRepositories},
		{name: "memberships", after: []string{"groups"}, run: readMemberships},
		{name: "service principal entitlements", after: []string{"service principals"}, run: readServicePrincipalEntitlements},
	}
	if teams {
		// Team members are their groups' members (see teams.go).
		s = append(s,
			step{name: "teams", run: readTeams},
			step{name: "team administrators", run: readTeamAdmins},
			step{name: "team members", after: []string{"teams", "team administrators", "memberships"}, run: deriveTeamMembers})
	}
	if permissions {
		// After memberships, whose reads teach the resolver most of the
		// identities the entries name, and the team administrators, whose
		// Identity ACLs it reuses.
		after := []string{"memberships"}
		if teams {
			after = append(after, "team administrators")
		}
		s = append(s, step{name: "permissions", after: after, run: readPermissions})
	}
	return s
}

// runPhases brackets the full read of every table and runs the steps.
func runPhases(ctx context.Context, e *env) error {
	tables := fullTables(e.opts.Teams)
	if err := e.out.do(ctx, func(w *snapshot.Writer) error {
		for _, t := range tables {
			if err := w.StartFull(t); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	e.out.prog.setPhase("reading")
	if err := runSteps(ctx, e, append(steps(e.opts.Teams, e.opts.Permissions), pipelineSteps(e.opts)...)); err != nil {
		return err
	}
	e.out.prog.setPhase("committing")
	return e.out.do(ctx, func(w *snapshot.Writer) error {
		// The readers are done: hand their memory back before a first
		// sync builds its indexes (EndFull), or the sort's peak adds to
		// theirs (a first sync of the large preset peaked 40 MiB higher).
		debug.FreeOSMemory()
		for _, t := range tables {
			if err := w.EndFull(t); err != nil {
				return err
			}
		}
		return nil
	})
}

// runSteps runs every step once its prerequisites are done, stopping all at
// the first error.
func runSteps(ctx context.Context, e *env, steps []step) error {
	done := map[string]chan struct{}{}
	for _, st := range steps {
		done[st.name] = make(chan struct{})
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, st := range steps {
		g.Go(func() error {
			for _, dep := range st.after {
				select {
				case <-done[dep]:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			start := time.Now()
			if err := st.run(gctx, e); err != nil {
				return err
			}
			e.c.log.Debug("read", "step", st.name, "duration", time.Since(start).Round(time.Millisecond))
			close(done[st.name])
			return nil
		})
	}
	return g.Wait()
}

// forEach runs fn over items with at most n at once, stopping at the first
// error.
func forEach[T any](ctx context.Context, n int, items []T, fn func(context.Context, T) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(n)
	for _, it := range items {
		g.Go(func() error { return fn(gctx, it) })
	}
	return g.Wait()
}

// chunks splits s into slices of at most n.
func chunks[T any](s []T, n int) [][]T {
	var out [][]T
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}

// formatDate writes a service date as the store keeps it.
func formatDate(t time.Time) string {
	if t.IsZero() || t.Year() <= 1 {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

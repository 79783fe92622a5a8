package collect

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// SyncOptions choose what a sync reads and how it waits.
type SyncOptions struct {
	// Teams reads teams and their members (one request per team).
	Teams bool
	// Wait makes a sync wait for another one holding the store to finish,
	// instead of failing at once.
	Wait bool
	// Progress, if set, receives live counts; see Progress.
	Progress *Progress
}

// Progress counts what a sync has read so far, per resource, for a
// progress display. All methods are safe for concurrent use.
type Progress struct {
	mu     sync.Mutex
	order  []string
	counts map[string]*atomic.Int64
	phase  atomic.Value // string
}

// NewProgress returns counters for the resources a sync reads.
func NewProgress() *Progress {
	p := &Progress{counts: map[string]*atomic.Int64{}}
	for _, r := range []string{"accounts", "service principals", "entitlements", "groups", "group rules", "memberships", "projects", "teams", "team members", "repositories"} {
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

	mu     sync.Mutex
	groups []groupRef // filled by the groups collector, read by memberships
	teams  []teamRef  // filled by the teams collector, read by team members
	sps    []string   // service principal descriptors, for their entitlements
}

// Sync runs a full sync of the client's organization into the store: it
// takes the writer lock, marks runs a crash left behind as failed, reads
// every resource and commits one run.
func Sync(ctx context.Context, c *Client, st *snapshot.Store, opts SyncOptions) (snapshot.Run, error) {
	lock, err := st.Lock(ctx, opts.Wait)
	if err != nil {
		return snapshot.Run{}, err
	}
	defer lock.Unlock()
	if ids, err := st.RecoverInterrupted(ctx); err != nil {
		return snapshot.Run{}, err
	} else if len(ids) > 0 {
		c.log.Warn("marked interrupted runs as failed; their changes were discarded", "runs", ids)
	}
	w, err := st.Begin(ctx, c.Org, "full")
	if err != nil {
		return snapshot.Run{}, err
	}
	run, err := fullSync(ctx, c, w, opts)
	if err != nil {
		w.Abort(err)
		return w.Run(), fmt.Errorf("sync run %d failed, the previous snapshot is unchanged: %w", w.ID(), err)
	}
	return run, nil
}

func fullSync(ctx context.Context, c *Client, w *snapshot.Writer, opts SyncOptions) (snapshot.Run, error) {
	snapshotTime := c.Stats.ServerNow()
	ids := newResolver(c)
	if err := w.IdentityKeys(ids.learn); err != nil {
		return snapshot.Run{}, fmt.Errorf("read identity keys: %w", err)
	}

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
	e := &env{c: c, out: &sink{ops: ops, prog: opts.Progress}, opts: opts, ids: ids}
	ids.out = e.out

	err := runPhases(ctx, e)
	close(ops)
	if werr := <-writeErr; werr != nil {
		return snapshot.Run{}, fmt.Errorf("write the snapshot: %w", werr)
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
		return snapshot.Run{}, err
	}
	total, byArea := c.Stats.Requests()
	return w.Commit(snapshot.RunStats{
		SnapshotTime:   snapshotTime,
		APIRequests:    total,
		RequestsByArea: byArea,
		Retries:        c.Stats.Retries(),
	})
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
// team members the teams, service principal entitlements the principals.
// Each step starts as soon as what it needs is done, so the long chains of
// continuation-token pages (users, entitlements) overlap with the rest.
func steps(teams bool) []step {
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
		s = append(s,
			step{name: "teams", run: readTeams},
			step{name: "team members", after: []string{"teams"}, run: readTeamMembers})
	}
	return s
}

// runPhases brackets the full read of every table and runs the steps.
func runPhases(ctx context.Context, e *env) error {
	tables := fullTables(e.opts.Teams)
	if err := e.out.do(ctx, func(w *snapshot.Writer) error {
		for _, t := range tables {
			w.StartFull(t)
		}
		return nil
	}); err != nil {
		return err
	}
	e.out.prog.setPhase("reading")
	if err := runSteps(ctx, e, steps(e.opts.Teams)); err != nil {
		return err
	}
	e.out.prog.setPhase("committing")
	return e.out.do(ctx, func(w *snapshot.Writer) error {
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

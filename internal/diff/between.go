package diff

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// ErrRunOrder is returned when the older run of a diff is not older.
var ErrRunOrder = errors.New("the run to diff from must be older than the run to diff to")

// Between computes the changes from run fromRun to run toRun (both
// complete, of one organization, fromRun older) and streams them in the
// order the package documentation gives. The direct part reads only the
// row versions opened or closed between the two runs; see the package
// documentation for dormancy and effective access.
func Between(ctx context.Context, st *snapshot.Store, fromRun, toRun int64, opts Options, emit func(Change) error) error {
	d, err := newRunDiff(ctx, st, fromRun, toRun, opts)
	if err != nil {
		return err
	}
	// Entities are independent: they are computed at once (each query on
	// its own connection of the pool) and emitted in order.
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	ents := opts.entities()
	type result struct {
		cs   []Change
		err  error
		done chan struct{}
	}
	results := make([]result, len(ents))
	for i, t := range ents {
		results[i].done = make(chan struct{})
		wg.Go(func() {
			defer close(results[i].done)
			results[i].cs, results[i].err = d.changes(ctx, t)
		})
	}
	for i, t := range ents {
		<-results[i].done
		if err := results[i].err; err != nil {
			return fmt.Errorf("diff %s from run %d to run %d: %w", t.Name, fromRun, toRun, err)
		}
		for _, c := range results[i].cs {
			if err := emit(c); err != nil {
				return err
			}
		}
		results[i].cs = nil
	}
	return nil
}

// changes computes one entity's changes, named and in order.
func (d *runDiff) changes(ctx context.Context, t *PacketTable) ([]Change, error) {
	cs, err := d.entity(ctx, t)
	if err != nil {
		return nil, err
	}
	lab, err := d.names(ctx, cs)
	if err != nil {
		return nil, err
	}
	for i := range cs {
		describe(&cs[i], lab)
	}
	sortChanges(cs)
	return cs, nil
}

// runDiff is one diff between two runs of the store.
type runDiff struct {
	st   *snapshot.Store
	a, b snapshot.Run
	opts Options
	// allNames holds every name of both runs once an entity needs many.
	allNames struct {
		once sync.Once
		l    labels
		err  error
	}
}

func newRunDiff(ctx context.Context, st *snapshot.Store, fromRun, toRun int64, opts Options) (*runDiff, error) {
	a, err := st.CompleteRun(ctx, fromRun)
	if err != nil {
		return nil, err
	}
	b, err := st.CompleteRun(ctx, toRun)
	if err != nil {
		return nil, err
	}
	if !snapshot.SameOrg(a, b) {
		return nil, fmt.Errorf("run %d is of %s and run %d of %s: diff runs of one organization", a.ID, a.Org, b.ID, b.Org)
	}
	if a.ID > b.ID {
		return nil, fmt.Errorf("%w (run %d, run %d)", ErrRunOrder, a.ID, b.ID)
	}
	return &runDiff{st: st, a: a, b: b, opts: opts}, nil
}

func (d *runDiff) entity(ctx context.Context, t *PacketTable) ([]Change, error) {
	if t.Name == EntEffectiveAccess {
		return d.effective(ctx)
	}
	cs, err := d.direct(ctx, t)
	if err != nil || t.Name != EntAccounts || d.opts.dormantDays() < 0 {
		return cs, err
	}
	dormant, err := d.dormant(ctx)
	return append(cs, dormant...), err
}

// direct compares the versions of t's rows at the two runs, reading only
// the keys that changed in between.
func (d *runDiff) direct(ctx context.Context, t *PacketTable) ([]Change, error) {
	srcs := sourcesOf(t)
	changed := make([]map[string]*ends, len(srcs))
	for i, s := range srcs {
		var err error
		if changed[i], err = changedKeys(ctx, d.st.DB(), s.table, len(t.Key), d.a.ID, d.b.ID); err != nil {
			return nil, err
		}
	}
	// A key changed in one source table is unchanged in the others: their
	// row at B is their row at A.
	for i, s := range srcs {
		var missing []string
		for j := range srcs {
			for k := range changed[j] {
				if changed[i][k] == nil {
					changed[i][k] = &ends{} // filled below
					missing = append(missing, k)
				}
			}
		}
		if len(missing) == 0 {
			continue
		}
		same, err := rowsAt(ctx, d.st.DB(), s.table, d.b.ID, missing)
		if err != nil {
			return nil, err
		}
		for _, k := range missing {
			*changed[i][k] = ends{before: same[k], after: same[k]}
		}
	}
	// Now every source holds every key.
	var out []Change
	cols := t.Columns()
	before := make([]snapshot.Row, len(srcs))
	after := make([]snapshot.Row, len(srcs))
	for k := range changed[0] {
		for i := range srcs {
			before[i], after[i] = changed[i][k].before, changed[i][k].after
		}
		out = append(out, compareNamed(t, k, fromStore(cols, srcs, before), fromStore(cols, srcs, after))...)
	}
	return out, nil
}

// snapshotTime is the service's clock when a run started (its start when
// the run did not record one).
func snapshotTime(r snapshot.Run) time.Time {
	if r.SnapshotTime != nil {
		return *r.SnapshotTime
	}
	return r.StartedAt
}

package collect

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Many organizations in one run: each is dialled and synced into its own
// store, several at once under one request budget (so the run stays within
// --concurrency whatever the number of organizations, and one that is
// throttled waits without holding the others' share), and one that fails
// never stops the others.

// Target is one organization to sync, and the store file it goes into
// (found once its id is known).
type Target struct {
	Org OrgRef
	// StorePath returns the store of the organization, given its id as
	// the service says it.
	StorePath func(ctx context.Context, org snapshot.Organization) (string, error)
}

// OrgResult is what one organization's sync did.
type OrgResult struct {
	Org      OrgRef
	Store    string
	Run      snapshot.Run
	Progress *Progress
	Stats    *Stats
	Duration time.Duration // its own: dial and sync, not the wait for its turn
	Err      error
}

// EachOptions shape a run of many organizations.
type EachOptions struct {
	Dial     Options     // per organization: Concurrency caps one organization
	Budget   int         // requests in flight across every organization
	Parallel int         // organizations synced at once
	Sync     SyncOptions // Progress is set per organization
	// Started, if set, is called when an organization's sync starts, with
	// its progress (for a live display).
	Started func(OrgRef, *Progress, *Stats)
	// Done, if set, is called as each organization finishes.
	Done func(OrgResult)
}

// SyncEach syncs every target and returns one result each, in the order of
// targets. It fails only if ctx ends; each organization's error is in its
// result.
func SyncEach(ctx context.Context, targets []Target, cred Credential, opts EachOptions) []OrgResult {
	if opts.Parallel < 1 {
		opts.Parallel = 4
	}
	opts.Dial.Budget = NewBudget(opts.Budget)
	results := make([]OrgResult, len(targets))
	turns := make(chan struct{}, opts.Parallel)
	var stores sync.Mutex // finding and creating store files, one at a time
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case turns <- struct{}{}:
			case <-ctx.Done():
				results[i] = OrgResult{Org: t.Org, Err: ctx.Err()}
				return
			}
			defer func() { <-turns }()
			results[i] = syncOne(ctx, t, cred, opts, &stores)
			if opts.Done != nil {
				opts.Done(results[i])
			}
		}()
	}
	wg.Wait()
	return results
}

func syncOne(ctx context.Context, t Target, cred Credential, opts EachOptions, stores *sync.Mutex) (res OrgResult) {
	start := time.Now()
	res = OrgResult{Org: t.Org, Progress: NewProgress()}
	defer func() { res.Duration = time.Since(start) - res.Progress.LockWait() }()
	if t.Org.Err != nil {
		res.Err = t.Org.Err
		return res
	}
	c, err := Dial(ctx, t.Org.URL, cred, opts.Dial)
	if err != nil {
		res.Err = err
		return res
	}
	res.Stats = c.Stats
	if t.Org.ID != "" && !strings.EqualFold(c.OrgID, t.Org.ID) {
		res.Err = fmt.Errorf("%s answers as organization %s, but the Accounts API lists %s as %s", t.Org.URL, c.OrgID, t.Org.Name, t.Org.ID)
		return res
	}
	org := snapshot.Organization{ID: c.OrgID, Name: t.Org.Name, URL: c.Org}
	if org.Name == "" {
		org.Name = snapshot.OrgName(c.Org)
	}
	stores.Lock()
	res.Store, err = t.StorePath(ctx, org)
	var st *snapshot.Store
	if err == nil {
		st, err = snapshot.Open(ctx, res.Store)
	}
	stores.Unlock()
	if err != nil {
		res.Err = err
		return res
	}
	defer st.Close()
	if opts.Started != nil {
		opts.Started(t.Org, res.Progress, c.Stats)
	}
	so := opts.Sync
	so.Progress = res.Progress
	res.Run, res.Err = Sync(ctx, c, st, so)
	return res
}

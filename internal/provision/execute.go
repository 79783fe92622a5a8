package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// Applier carries out a plan, journaling every action in the store before
// and after its call. A crash or kill at any moment loses nothing: an
// action journaled done is never sent again, and one journaled started
// (the call may or may not have happened) is read live by the next plan
// before it is sent again.
type Applier struct {
	Store       *snapshot.Store
	Live        *Live
	Concurrency int // actions in flight (default 4)
	// Attempts is how many times a write is sent when it fails for a
	// passing reason (throttled, a server error, a cut connection); the
	// item is read again before every new send, so a write that did
	// happen is not repeated (default 4). Throttled answers (429) do not
	// count: an action may be throttled maxThrottled times.
	Attempts int
	Backoff  time.Duration // before the second send, doubling (default 500ms)
	Log      *slog.Logger
	// Progress, if set, is called after each action with the counts so far.
	Progress func(done, total int)
}

// Outcome is what happened to one action.
type Outcome struct {
	Action     *Action
	Status     string // a journal status: done, skipped, noop, refused, failed
	HTTPStatus int
	Err        string
}

// Result is what an apply did.
type Result struct {
	Outcomes []Outcome
	Counts   map[string]int // by journal status
}

// ErrRefused is a plan that may not be applied as a whole.
var ErrRefused = errors.New("the plan is refused")

// Apply carries out a plan that Build made. Actions that are skipped,
// no-ops or refused are journaled as such, without a call.
func (ap *Applier) Apply(ctx context.Context, p *Plan) (*Result, error) {
	if p.Refusal != "" {
		return nil, fmt.Errorf("%w: %s", ErrRefused, p.Refusal)
	}
	log := ap.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	err := ap.Store.SavePlan(ctx, snapshot.PlanRecord{ID: p.ID, Org: p.Org, BaseRun: p.BaseRun, PacketRun: p.PacketRun, PacketID: p.PacketID,
		Source: p.Source, Actions: len(p.Actions), Actor: p.Actor})
	if err != nil {
		return nil, err
	}
	res := &Result{Counts: map[string]int{}}
	var mu sync.Mutex
	record := func(o Outcome) {
		mu.Lock()
		res.Outcomes = append(res.Outcomes, o)
		res.Counts[o.Status]++
		mu.Unlock()
	}
	var todo []*Action
	for _, a := range p.Actions {
		var status string
		switch a.State {
		case StateApply:
			todo = append(todo, a)
			continue
		case StateSkip:
			status = snapshot.JournalSkipped
		case StateNoop:
			status = snapshot.JournalNoop
		case StateRefused:
			status = snapshot.JournalRefused
		case StateDone:
			if !a.confirmed {
				continue // journaled done by an earlier apply
			}
			// Started by an earlier apply and found carried out: its
			// journal row keeps when it started.
			// It counts with those done earlier, not with this run's.
			if err := ap.Store.JournalFinish(ctx, p.ID, a.Seq, snapshot.JournalDone, 0, a.Note); err != nil {
				return res, err
			}
			continue
		default:
			continue
		}
		e := entry(p, a)
		e.Status, e.Error = status, a.Note
		if err := ap.Store.JournalRecord(ctx, e); err != nil {
			return res, err
		}
		record(Outcome{Action: a, Status: status, Err: a.Note})
	}
	n := ap.Concurrency
	if n <= 0 {
		n = 4
	}
	var done int
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(n)
	for _, a := range todo {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			// The journal row goes first: without it, the call is not made.
			if err := ap.Store.JournalStart(gctx, entry(p, a)); err != nil {
				return err
			}
			o := ap.carryOut(gctx, a)
			// The outcome is recorded even when the run is being stopped.
			if err := ap.Store.JournalFinish(context.WithoutCancel(gctx), p.ID, a.Seq, o.Status, o.HTTPStatus, o.Err); err != nil {
				return err
			}
			record(o)
			log.Debug("action applied", "seq", a.Seq, "action", a.Kind, "subject", a.Subject.Name, "status", o.Status, "http", o.HTTPStatus)
			if ap.Progress != nil {
				mu.Lock()
				done++
				d := done
				mu.Unlock()
				ap.Progress(d, len(todo))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// entry is an action's journal row.
func entry(p *Plan, a *Action) snapshot.JournalEntry {
	src := a.Sources[0]
	subject := a.Subject.Descriptor
	if subject == "" {
		subject = a.Subject.Principal
	}
	if subject == "" && a.Res != nil {
		subject = a.Res.planSubject(a)
	}
	target, targetName := a.Target()
	return snapshot.JournalEntry{PlanID: p.ID, Seq: a.Seq, SourceFile: src.File, SourceSheet: src.Sheet, SourceRow: src.Row,
		Action: a.Kind, Subject: subject, SubjectName: a.Subject.Name, Target: target, TargetName: targetName,
		Approver: a.Approver, Ticket: a.Ticket, Reason: a.Reason}
}

// maxThrottled is how many throttled answers one action may get before it
// fails; the waits between them double from Backoff.
const maxThrottled = 10

// carryOut sends an action's write. When it fails for a passing reason
// the item is read again: if the write happened after all, it is done;
// if not, it is sent again, up to Attempts times.
func (ap *Applier) carryOut(ctx context.Context, a *Action) Outcome {
	attempts, backoff := ap.Attempts, ap.Backoff
	if attempts <= 0 {
		attempts = 4
	}
	if backoff <= 0 {
		backoff = 500 * time.Millisecond
	}
	// A throttled answer (429) says the service refused the request before
	// acting on it, so it spends its own, larger budget: under a burst of
	// throttling an action waits its turn instead of failing.
	throttled := 0
	for attempt := 1; ; attempt++ {
		status, err := ap.send(ctx, a)
		if max(status, collect.HTTPStatus(err)) == http.StatusTooManyRequests && throttled < maxThrottled {
			throttled++
			attempt-- // does not count against Attempts
		}
		switch {
		case err == nil:
			return Outcome{Action: a, Status: snapshot.JournalDone, HTTPStatus: status}
		case errors.Is(err, collect.ErrNotFound) && (a.Kind == ActRevoke || a.Kind == ActRemoveAccount || a.Kind == ActRemoveRole || a.Kind == ActClosePipelines):
			return Outcome{Action: a, Status: snapshot.JournalDone, HTTPStatus: status, Err: "already gone when sent"}
		case errors.Is(err, collect.ErrAccountExists):
			return Outcome{Action: a, Status: snapshot.JournalDone, HTTPStatus: status, Err: "already in the organization when sent"}
		case !collect.Transient(err) || attempt >= attempts || ctx.Err() != nil:
			return Outcome{Action: a, Status: snapshot.JournalFailed, HTTPStatus: max(status, collect.HTTPStatus(err)), Err: err.Error()}
		}
		// The write may or may not have happened: read before sending again.
		probe := *a
		probe.State = ""
		if wanted, rerr := ap.Live.isWanted(ctx, &probe); rerr == nil && wanted {
			return Outcome{Action: a, Status: snapshot.JournalDone, HTTPStatus: status, Err: "confirmed by reading it again after: " + err.Error()}
		}
		if probe.entitlementID != "" {
			a.entitlementID = probe.entitlementID
		}
		select {
		case <-ctx.Done():
			return Outcome{Action: a, Status: snapshot.JournalFailed, HTTPStatus: status, Err: err.Error()}
		case <-time.After(backoff << min(max(attempt-1, throttled), 5)):
		}
	}
}

// send makes an action's one write and returns the answer's status.
func (ap *Applier) send(ctx context.Context, a *Action) (int, error) {
	ado, graph := ap.Live.ADO, ap.Live.Graph
	if isPipelineAction(a.Kind) {
		return ap.Live.pipeSend(ctx, a)
	}
	switch a.Kind {
	case ActGrant:
		if a.Group.Entra {
			_, status, err := graph.AddGroupMember(ctx, a.Group.OriginID, a.Subject.OriginID)
			return status, err
		}
		return ado.AddMember(ctx, a.Subject.Descriptor, a.Group.Descriptor)
	case ActRevoke:
		if a.Group.Entra {
			_, status, err := graph.RemoveGroupMember(ctx, a.Group.OriginID, a.Subject.OriginID)
			return status, err
		}
		return ado.RemoveMember(ctx, a.Subject.Descriptor, a.Group.Descriptor)
	case ActAddAccount:
		lvl, _ := parseLicense(a.License)
		var groups []collect.ProjectGroup
		for _, g := range a.Groups {
			groups = append(groups, collect.ProjectGroup{ProjectID: g.ProjectID, GroupType: g.GroupType})
		}
		acc, status, err := ado.AddAccount(ctx, a.Subject.Principal, lvl, groups)
		if err == nil && acc != nil && a.Subject.Descriptor == "" {
			a.Subject.Descriptor = acc.Descriptor
		}
		return status, err
	case ActSetLicense:
		lvl, _ := parseLicense(a.License)
		return ado.SetAccessLevel(ctx, a.entitlementID, lvl)
	case ActRemoveAccount:
		return ado.RemoveAccount(ctx, a.entitlementID)
	}
	return 0, fmt.Errorf("provision: unknown action %q", a.Kind)
}

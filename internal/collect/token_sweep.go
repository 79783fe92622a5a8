package collect

import (
	"context"
	"fmt"
	"time"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// The cadence of token sweeps. Reading tokens costs two Token Admin
// requests per user (tokens, then SSH keys: isPublic is a boolean, so no
// request answers both), 100,002 on the large preset, more than the rest
// of a full sync. Token creations and revocations write Audit Log entries
// (the Token area: Token.PatCreateEvent, Token.PatRevokeEvent,
// Token.SshCreateEvent, Token.SshRevokeEvent, …), which incremental runs
// follow to the owner's tokens, and expiry is computed from valid_to at
// export, so between sweeps the table stays right without the sweep. A
// full sync therefore sweeps only when the last sweep is at least
// SyncOptions.TokenSweep old; otherwise it carries the token rows forward
// unchanged (it never closes them as gone) and says in its note when the
// last sweep was. Each sweep is recorded in token_sweeps inside the run's
// transaction.

// TokenSweepOff is SyncOptions.TokenSweep for never: full syncs carry the
// tokens forward, and only Audit Log entries change them.
const TokenSweepOff = time.Duration(-1)

// DefaultTokenSweep is the command line's default cadence: weekly.
const DefaultTokenSweep = 7 * 24 * time.Hour

// tokenSweep is one full sync's decision.
type tokenSweep struct {
	due     bool
	at      time.Time
	last    snapshot.TokenSweep
	hasLast bool
	// before is the client's Token Admin requests when the sweep began:
	// in a full sync only the sweep asks that area.
	before int64
}

func tokenAdminRequests(e *env) int64 {
	_, by := e.c.Stats.Requests()
	return by["tokenadmin"]
}

// startTokenSweep decides whether this full sync reads every user's tokens.
func startTokenSweep(ctx context.Context, e *env) (*tokenSweep, error) {
	sw := &tokenSweep{at: e.c.Stats.ServerNow(), before: tokenAdminRequests(e)}
	done := make(chan error, 1)
	if err := e.out.do(ctx, func(w *snapshot.Writer) error {
		var err error
		sw.last, sw.hasLast, err = w.LastTokenSweep()
		done <- err
		return err
	}); err != nil {
		return nil, err
	}
	select {
	case err := <-done:
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	every := e.opts.TokenSweep
	switch {
	case every == 0:
		sw.due = true
	case every < 0:
		sw.due = false
	default:
		sw.due = !sw.hasLast || sw.at.Sub(sw.last.SweptAt) >= every
	}
	return sw, nil
}

// finish records a sweep that happened, and says in the run's note what
// this run did with tokens.
func (sw *tokenSweep) finish(w *snapshot.Writer, e *env, owners int) error {
	if sw.due {
		n := tokenAdminRequests(e) - sw.before
		e.notes.add(fmt.Sprintf("tokens swept: the personal access tokens and SSH keys of %d users read (%d Token Admin requests, one per user and kind)", owners, n))
		return w.RecordTokenSweep(sw.at, int64(owners), n)
	}
	flag := "--token-sweep " + FormatTokenSweep(e.opts.TokenSweep)
	if !sw.hasLast {
		e.notes.add(fmt.Sprintf("tokens not swept (%s) and never swept: only tokens and SSH keys named by Audit Log entries are in this snapshot", flag))
		return nil
	}
	e.notes.add(fmt.Sprintf("tokens not swept (%s): carried forward from the sweep of run %d at %s, kept since by the Audit Log's Token entries",
		flag, sw.last.Run, sw.last.SweptAt.UTC().Format(time.RFC3339)))
	return nil
}

// FormatTokenSweep writes a cadence as the flag takes it.
func FormatTokenSweep(d time.Duration) string {
	switch {
	case d == 0:
		return "every-run"
	case d < 0:
		return "off"
	}
	return d.String()
}

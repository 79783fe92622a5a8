package collect

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/audit"
)

// Reading the Audit Log. Entries come newest first, in pages of up to
// auditBatch, with a continuation token in the body. Entries can become
// visible after newer ones (late arrivals), so each read starts a little
// before the previous cursor and skips the entries already handled.

const auditBatch = 1000

// cursor is where a run's reading of the Audit Log ended: the newest entry
// it accounted for, and the entries near it that it handled.
type cursor struct {
	time time.Time
	id   string
	seen []string // entry ids within the overlap before time
}

// entry is the part of an audit entry the incremental sync uses.
type entry struct {
	id, action string
	time       time.Time
	projectID  string
	data       map[string]any
}

func toEntry(e audit.DecoratedAuditLogEntry) entry {
	out := entry{id: str(e.Id), action: str(e.ActionId)}
	if e.Timestamp != nil {
		out.time = e.Timestamp.Time.UTC()
	}
	if e.ProjectId != nil {
		out.projectID = e.ProjectId.String()
	}
	if e.Data != nil {
		out.data = *e.Data
	}
	return out
}

// errAuditUnreadable wraps why the Audit Log could not be read.
var errAuditUnreadable = errors.New("the Audit Log cannot be read")

// readAudit reads the entries at or after since, newest first. With since
// zero it reads only the first page (enough to place a cursor).
func (c *Client) readAudit(ctx context.Context, since time.Time) ([]entry, error) {
	batch := auditBatch
	args := audit.QueryLogArgs{BatchSize: &batch}
	if !since.IsZero() {
		args.StartTime = &azuredevops.Time{Time: since}
	}
	var out []entry
	for {
		res, err := c.Audit.QueryLog(ctx, args)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errAuditUnreadable, describe("read the Audit Log", "audit", err))
		}
		for _, e := range deref2(res.DecoratedAuditLogEntries) {
			out = append(out, toEntry(e))
		}
		if since.IsZero() || res.HasMore == nil || !*res.HasMore || res.ContinuationToken == nil || *res.ContinuationToken == "" {
			return out, nil
		}
		args.ContinuationToken = res.ContinuationToken
	}
}

// placeCursor records where the log stands now, for a full run: the newest
// entry, and the entries within overlap of it (a full read covers them).
func (c *Client) placeCursor(ctx context.Context, overlap time.Duration) (cursor, error) {
	entries, err := c.readAudit(ctx, time.Time{})
	if err != nil {
		return cursor{}, err
	}
	if len(entries) == 0 {
		return cursor{time: c.Stats.ServerNow()}, nil
	}
	return cursorOf(entries, cursor{}, overlap), nil
}

// cursorOf places the cursor after a read: at the newest entry read (or
// where the previous one was, when there was none), with the ids of every
// entry handled within overlap of it.
func cursorOf(entries []entry, prev cursor, overlap time.Duration) cursor {
	cur := prev
	for _, e := range entries {
		if e.time.After(cur.time) || (e.time.Equal(cur.time) && cur.id == "") {
			cur.time, cur.id = e.time, e.id
		}
	}
	// The next read starts overlap before the cursor, so it meets again
	// the entries read now within that span (the earlier ones are in
	// entries too, since this read also started before its cursor).
	from := cur.time.Add(-overlap)
	cur.seen = nil
	for _, e := range entries {
		if !e.time.Before(from) {
			cur.seen = append(cur.seen, e.id)
		}
	}
	return cur
}

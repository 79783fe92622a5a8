package snapshot

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Run is one sync of one organization.
type Run struct {
	ID              int64            `json:"id"`
	Org             string           `json:"org"`
	Kind            string           `json:"kind"`   // full or incremental
	Status          string           `json:"status"` // running, complete or failed
	StartedAt       time.Time        `json:"started_at"`
	FinishedAt      *time.Time       `json:"finished_at"`
	SnapshotTime    *time.Time       `json:"snapshot_time"` // the service's clock when the run started
	AuditCursorTime *time.Time       `json:"audit_cursor_time,omitempty"`
	AuditCursorID   string           `json:"audit_cursor_id,omitempty"`
	APIRequests     int64            `json:"api_requests"`
	RequestsByArea  map[string]int64 `json:"requests_by_area"`
	Retries         int64            `json:"retries"`
	RowsSeen        int64            `json:"rows_seen"`
	VersionsAdded   int64            `json:"versions_added"`
	VersionsClosed  int64            `json:"versions_closed"`
	VersionsWritten int64            `json:"versions_written"` // added + closed
	Note            string           `json:"note,omitempty"`
	Error           string           `json:"error,omitempty"`
}

// NormalizeOrg is the form organization URLs are stored in: lower case,
// no trailing slash (as the Azure DevOps client normalizes them).
func NormalizeOrg(org string) string { return strings.ToLower(strings.TrimRight(org, "/")) }

const runColumns = `id, org, kind, status, started_at, finished_at, snapshot_time, audit_cursor_time, audit_cursor_id,
	api_requests, requests_by_area, retries, rows_seen, versions_added, versions_closed, note, error`

func scanRun(sc interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var started string
	var finished, snap, cursorTime, cursorID sql.NullString
	var areas string
	err := sc.Scan(&r.ID, &r.Org, &r.Kind, &r.Status, &started, &finished, &snap, &cursorTime, &cursorID,
		&r.APIRequests, &areas, &r.Retries, &r.RowsSeen, &r.VersionsAdded, &r.VersionsClosed, &r.Note, &r.Error)
	if err != nil {
		return r, err
	}
	r.StartedAt = parseTime(started)
	r.FinishedAt = optTime(finished)
	r.SnapshotTime = optTime(snap)
	r.AuditCursorTime = optTime(cursorTime)
	r.AuditCursorID = cursorID.String
	r.VersionsWritten = r.VersionsAdded + r.VersionsClosed
	r.RequestsByArea = map[string]int64{}
	_ = json.Unmarshal([]byte(areas), &r.RequestsByArea)
	return r, nil
}

func optTime(s sql.NullString) *time.Time {
	if !s.Valid || s.String == "" {
		return nil
	}
	t := parseTime(s.String)
	return &t
}

// Runs lists the runs of an organization ("" for all), oldest first.
func (s *Store) Runs(ctx context.Context, org string) ([]Run, error) {
	q := `SELECT ` + runColumns + ` FROM runs WHERE (? = '' OR org = ?) ORDER BY id`
	org = NormalizeOrg(org)
	rows, err := s.db.QueryContext(ctx, q, org, org)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Run reads one run.
func (s *Store) Run(ctx context.Context, id int64) (Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w: run %d", ErrNoRun, id)
	}
	return r, err
}

// CompleteRun reads a run and checks that it committed: only complete runs
// have a snapshot.
func (s *Store) CompleteRun(ctx context.Context, id int64) (Run, error) {
	r, err := s.Run(ctx, id)
	if err != nil {
		return r, err
	}
	if r.Status != "complete" {
		return r, fmt.Errorf("%w: run %d is %s, not complete", ErrNoRun, id, r.Status)
	}
	return r, nil
}

// LatestRun is the newest complete run of an organization ("" for any).
func (s *Store) LatestRun(ctx context.Context, org string) (Run, error) {
	org = NormalizeOrg(org)
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs
		WHERE status = 'complete' AND (? = '' OR org = ?) ORDER BY id DESC LIMIT 1`, org, org))
	if errors.Is(err, sql.ErrNoRows) {
		if org == "" {
			return r, fmt.Errorf("%w: the store holds no complete run yet", ErrNoRun)
		}
		return r, fmt.Errorf("%w: the store holds no complete run of %s yet", ErrNoRun, org)
	}
	return r, err
}

// RunAt is the newest complete run of org that started at or before t.
func (s *Store) RunAt(ctx context.Context, org string, t time.Time) (Run, error) {
	org = NormalizeOrg(org)
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs
		WHERE status = 'complete' AND (? = '' OR org = ?) AND started_at <= ? ORDER BY id DESC LIMIT 1`, org, org, formatTime(t)))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w: no complete run at or before %s", ErrNoRun, t.Format(time.RFC3339))
	}
	return r, err
}

// RecoverInterrupted marks runs left 'running' as failed. Call it only while
// holding the writer lock: then no run can really be running, and a
// 'running' row means a sync died before committing.
func (s *Store) RecoverInterrupted(ctx context.Context) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM runs WHERE status = 'running'`)
	if err != nil {
		return nil, fmt.Errorf("find interrupted runs: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) == 0 {
		return nil, nil
	}
	_, err = s.db.ExecContext(ctx, `UPDATE runs SET status = 'failed', finished_at = ?,
		error = 'interrupted: the process ended before the run committed; its changes were discarded'
		WHERE status = 'running'`, formatTime(time.Now()))
	if err != nil {
		return nil, fmt.Errorf("mark interrupted runs failed: %w", err)
	}
	return ids, nil
}

// AuditSeen lists the Audit Log entry ids a run recorded as handled.
func (s *Store) AuditSeen(ctx context.Context, run int64) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT entry_id FROM audit_seen WHERE run = ?`, run)
	if err != nil {
		return nil, fmt.Errorf("read audit entries of run %d: %w", run, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// LatestFullRun is the newest complete full run of an organization.
func (s *Store) LatestFullRun(ctx context.Context, org string) (Run, error) {
	org = NormalizeOrg(org)
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs
		WHERE status = 'complete' AND kind = 'full' AND org = ? ORDER BY id DESC LIMIT 1`, org))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w: no complete full run of %s", ErrNoRun, org)
	}
	return r, err
}

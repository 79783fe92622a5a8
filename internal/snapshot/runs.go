package snapshot

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Run is one sync of one organization.
type Run struct {
	ID              int64            `json:"id"`
	Org             string           `json:"org"`    // the URL the run was made with
	OrgID           string           `json:"org_id"` // the organization's id ("" before stores recorded it)
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

const runColumns = `id, org, org_id, kind, status, started_at, finished_at, snapshot_time, audit_cursor_time, audit_cursor_id,
	api_requests, requests_by_area, retries, rows_seen, versions_added, versions_closed, note, error`

func scanRun(sc interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var started string
	var finished, snap, cursorTime, cursorID sql.NullString
	var areas string
	err := sc.Scan(&r.ID, &r.Org, &r.OrgID, &r.Kind, &r.Status, &started, &finished, &snap, &cursorTime, &cursorID,
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

// SameOrg reports whether two runs read the same organization: by id when
// both recorded it, by URL for runs from before ids were recorded.
func SameOrg(a, b Run) bool {
	if a.OrgID != "" && b.OrgID != "" {
		return a.OrgID == b.OrgID
	}
	return a.Org == b.Org
}

// Runs lists the store's runs, oldest first. (A store holds one
// organization: see Bind.)
func (s *Store) Runs(ctx context.Context) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+runColumns+` FROM runs ORDER BY id`)
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

// LatestRun is the newest complete run.
func (s *Store) LatestRun(ctx context.Context) (Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs
		WHERE status = 'complete' ORDER BY id DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w: the store holds no complete run yet", ErrNoRun)
	}
	return r, err
}

// RunAt is the newest complete run that started at or before t.
func (s *Store) RunAt(ctx context.Context, t time.Time) (Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs
		WHERE status = 'complete' AND started_at <= ? ORDER BY id DESC LIMIT 1`, formatTime(t)))
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

// LatestFullRun is the newest complete full run.
func (s *Store) LatestFullRun(ctx context.Context) (Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs
		WHERE status = 'complete' AND kind = 'full' ORDER BY id DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w: no complete full run", ErrNoRun)
	}
	return r, err
}

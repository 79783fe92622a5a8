package snapshot

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The apply journal: the plans 'exporter apply' builds from reviewers'
// decisions and one row per action of a plan, written before the call to
// Azure DevOps ('started') and after it (its outcome). Each write is its
// own transaction, so what a killed process had finished is on disk.

// Journal statuses. Done and Skipped are final: an action in one of them
// is never carried out again. Started means the call may or may not have
// happened; the next apply re-reads the item live before deciding. A no-op
// (an Entra group under a PAT) is decided again each time, as it may be
// carried out once Entra group provisioning is on.
const (
	JournalStarted = "started"
	JournalDone    = "done"    // carried out
	JournalSkipped = "skipped" // already as wanted when read live
	JournalNoop    = "noop"    // nothing to call (membership managed in Entra ID)
	JournalRefused = "refused" // a safety rail or a stale item stopped it
	JournalFailed  = "failed"  // the call failed
)

// JournalFinal reports whether an action in this status is finished for good.
func JournalFinal(status string) bool {
	return status == JournalDone || status == JournalSkipped
}

// ErrNoPlan is returned for a plan id the journal does not hold.
var ErrNoPlan = errors.New("no such plan")

// PlanRecord is one plan as the journal keeps it.
type PlanRecord struct {
	ID        string     `json:"id"`
	Org       string     `json:"org"`
	BaseRun   int64      `json:"base_run"`
	PacketRun int64      `json:"packet_run,omitempty"` // 0 for a plan file
	PacketID  string     `json:"packet_id,omitempty"`
	Source    string     `json:"source"`
	Actions   int        `json:"actions"`
	Actor     string     `json:"actor,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	AppliedAt *time.Time `json:"applied_at,omitempty"`
	// Statuses counts the plan's journal rows by status (read only).
	Statuses map[string]int `json:"statuses,omitempty"`
}

// JournalEntry is one action of a plan.
type JournalEntry struct {
	PlanID      string     `json:"plan_id"`
	Seq         int        `json:"seq"`
	SourceFile  string     `json:"source_file"`
	SourceSheet string     `json:"source_sheet,omitempty"`
	SourceRow   int        `json:"source_row"`
	Action      string     `json:"action"`
	Subject     string     `json:"subject"`
	SubjectName string     `json:"subject_name"`
	Target      string     `json:"target"`
	TargetName  string     `json:"target_name"`
	Status      string     `json:"status"`
	HTTPStatus  int        `json:"http_status,omitempty"`
	Error       string     `json:"error,omitempty"`
	Approver    string     `json:"approver,omitempty"`
	Ticket      string     `json:"ticket,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	Attempts    int        `json:"attempts"`
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

// HasJournal reports whether the store has the journal's tables (a store
// last opened by an older version, read without migrating, has not).
func (s *Store) HasJournal(ctx context.Context) bool {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'apply_journal'`).Scan(&n)
	return err == nil && n > 0
}

// SavePlan records a plan when it is first applied; applying it again
// records the new actor and time and keeps the rest.
func (s *Store) SavePlan(ctx context.Context, p PlanRecord) error {
	var packetRun any
	if p.PacketRun != 0 {
		packetRun = p.PacketRun
	}
	now := formatTime(time.Now())
	_, err := s.db.ExecContext(ctx, `INSERT INTO apply_plans (id, org, base_run, packet_run, packet_id, source, actions, actor, created_at, applied_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET actor = excluded.actor, applied_at = excluded.applied_at`,
		p.ID, NormalizeOrg(p.Org), p.BaseRun, packetRun, p.PacketID, p.Source, p.Actions, p.Actor, now, now)
	if err != nil {
		return fmt.Errorf("record plan %s: %w", p.ID, err)
	}
	return nil
}

// JournalStart records that an action is about to be carried out: a new
// row, or the row of an earlier attempt set back to started.
func (s *Store) JournalStart(ctx context.Context, e JournalEntry) error {
	return s.journalWrite(ctx, e, JournalStarted)
}

// JournalRecord records an action's outcome without a call before it
// (skipped, no-op, refused), in one write.
func (s *Store) JournalRecord(ctx context.Context, e JournalEntry) error {
	if e.Status == JournalStarted || e.Status == "" {
		return fmt.Errorf("snapshot: JournalRecord needs a final status, got %q", e.Status)
	}
	return s.journalWrite(ctx, e, e.Status)
}

func (s *Store) journalWrite(ctx context.Context, e JournalEntry, status string) error {
	now := formatTime(time.Now())
	var finished any
	attempts := 1
	if status != JournalStarted {
		finished, attempts = now, 0
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO apply_journal (plan_id, seq, source_file, source_sheet, source_row, action,
			subject, subject_name, target, target_name, status, http_status, error, approver, ticket, reason, attempts, started_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (plan_id, seq) DO UPDATE SET status = excluded.status, http_status = excluded.http_status,
			error = excluded.error, attempts = apply_journal.attempts + excluded.attempts,
			started_at = excluded.started_at, finished_at = excluded.finished_at`,
		e.PlanID, e.Seq, e.SourceFile, e.SourceSheet, e.SourceRow, e.Action, e.Subject, e.SubjectName, e.Target, e.TargetName,
		status, e.HTTPStatus, e.Error, e.Approver, e.Ticket, e.Reason, attempts, now, finished)
	if err != nil {
		return fmt.Errorf("journal action %d of plan %s: %w", e.Seq, e.PlanID, err)
	}
	return nil
}

// JournalFinish records the outcome of a started action.
func (s *Store) JournalFinish(ctx context.Context, planID string, seq int, status string, httpStatus int, errText string) error {
	if status == JournalStarted {
		return fmt.Errorf("snapshot: JournalFinish needs a final status")
	}
	res, err := s.db.ExecContext(ctx, `UPDATE apply_journal SET status = ?, http_status = ?, error = ?, finished_at = ?
		WHERE plan_id = ? AND seq = ?`, status, httpStatus, errText, formatTime(time.Now()), planID, seq)
	if err != nil {
		return fmt.Errorf("journal the outcome of action %d of plan %s: %w", seq, planID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("journal the outcome of action %d of plan %s: it was never started", seq, planID)
	}
	return nil
}

const journalColumns = `plan_id, seq, source_file, source_sheet, source_row, action, subject, subject_name, target, target_name,
	status, http_status, error, approver, ticket, reason, attempts, started_at, finished_at`

func scanJournal(sc interface{ Scan(...any) error }) (JournalEntry, error) {
	var e JournalEntry
	var started string
	var finished sql.NullString
	err := sc.Scan(&e.PlanID, &e.Seq, &e.SourceFile, &e.SourceSheet, &e.SourceRow, &e.Action, &e.Subject, &e.SubjectName,
		&e.Target, &e.TargetName, &e.Status, &e.HTTPStatus, &e.Error, &e.Approver, &e.Ticket, &e.Reason, &e.Attempts, &started, &finished)
	e.StartedAt = parseTime(started)
	e.FinishedAt = optTime(finished)
	return e, err
}

// Journal lists the actions of a plan, in plan order.
func (s *Store) Journal(ctx context.Context, planID string) ([]JournalEntry, error) {
	if !s.HasJournal(ctx) {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+journalColumns+` FROM apply_journal WHERE plan_id = ? ORDER BY seq`, planID)
	if err != nil {
		return nil, fmt.Errorf("read the journal of plan %s: %w", planID, err)
	}
	defer rows.Close()
	var out []JournalEntry
	for rows.Next() {
		e, err := scanJournal(rows)
		if err != nil {
			return nil, fmt.Errorf("read the journal of plan %s: %w", planID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

const planColumns = `id, org, base_run, coalesce(packet_run, 0), packet_id, source, actions, actor, created_at, applied_at`

func scanPlan(sc interface{ Scan(...any) error }) (PlanRecord, error) {
	var p PlanRecord
	var created string
	var applied sql.NullString
	err := sc.Scan(&p.ID, &p.Org, &p.BaseRun, &p.PacketRun, &p.PacketID, &p.Source, &p.Actions, &p.Actor, &created, &applied)
	p.CreatedAt = parseTime(created)
	p.AppliedAt = optTime(applied)
	return p, err
}

// Plans lists the plans applied with the store, oldest first, with their
// actions counted by status.
func (s *Store) Plans(ctx context.Context) ([]PlanRecord, error) {
	if !s.HasJournal(ctx) {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+planColumns+` FROM apply_plans ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list plans: %w", err)
	}
	var out []PlanRecord
	for rows.Next() {
		p, err := scanPlan(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list plans: %w", err)
		}
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Statuses, err = s.planStatuses(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Plan reads one plan, by its id or a unique prefix of it (as 'apply
// --status' prints them).
func (s *Store) Plan(ctx context.Context, id string) (PlanRecord, error) {
	if id == "" || !s.HasJournal(ctx) {
		return PlanRecord{}, fmt.Errorf("%w: %q", ErrNoPlan, id)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+planColumns+` FROM apply_plans WHERE substr(id, 1, length(?)) = ? ORDER BY id LIMIT 2`, id, id)
	if err != nil {
		return PlanRecord{}, fmt.Errorf("read plan %s: %w", id, err)
	}
	var found []PlanRecord
	for rows.Next() {
		p, err := scanPlan(rows)
		if err != nil {
			rows.Close()
			return PlanRecord{}, fmt.Errorf("read plan %s: %w", id, err)
		}
		found = append(found, p)
	}
	rows.Close()
	switch len(found) {
	case 0:
		return PlanRecord{}, fmt.Errorf("%w: %q", ErrNoPlan, id)
	case 2:
		return PlanRecord{}, fmt.Errorf("%w: %q names more than one plan; give more of its id", ErrNoPlan, id)
	}
	p := found[0]
	p.Statuses, err = s.planStatuses(ctx, p.ID)
	return p, err
}

func (s *Store) planStatuses(ctx context.Context, id string) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status, count(*) FROM apply_journal WHERE plan_id = ? GROUP BY status`, id)
	if err != nil {
		return nil, fmt.Errorf("count the actions of plan %s: %w", id, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}

package snapshot

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// EntraSweep is a run's read of what changes in Microsoft Entra ID without
// an Audit Log entry (sql/migrations/0008_entra_sweeps.sql,
// 0013_users_delta.sql).
type EntraSweep struct {
	Run       int64
	SweptAt   time.Time // the service's clock
	Method    string
	DeltaLink string // Microsoft Graph groups delta
	// UsersDeltaLink is the Microsoft Graph users delta to resume from.
	UsersDeltaLink string
}

// RecordEntraSweep records that this run swept Entra-side changes (s.Run
// is ignored: it is this run); it is kept only if the run commits.
func (w *Writer) RecordEntraSweep(s EntraSweep) error {
	_, err := w.tx.ExecContext(w.ctx, `INSERT OR REPLACE INTO entra_sweeps (run, swept_at, method, delta_link, users_delta_link) VALUES (?, ?, ?, ?, ?)`,
		w.run.ID, formatTime(s.SweptAt), s.Method, s.DeltaLink, s.UsersDeltaLink)
	if err != nil {
		return fmt.Errorf("record the Entra sweep of run %d: %w", w.run.ID, explain(w.s.path, err))
	}
	return nil
}

// LastEntraSweep is the newest sweep of a complete run; ok is false when
// no run has swept yet.
func (w *Writer) LastEntraSweep() (s EntraSweep, ok bool, err error) {
	var at string
	err = w.tx.QueryRowContext(w.ctx, `SELECT s.run, s.swept_at, s.method, s.delta_link, s.users_delta_link FROM entra_sweeps s
		JOIN runs r ON r.id = s.run WHERE r.status = 'complete' ORDER BY s.run DESC LIMIT 1`).Scan(&s.Run, &at, &s.Method, &s.DeltaLink, &s.UsersDeltaLink)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("read the last Entra sweep: %w", explain(w.s.path, err))
	}
	s.SweptAt = parseTime(at)
	return s, true, nil
}

package snapshot

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// EntraSweep is a run's read of what changes in Microsoft Entra ID without
// an Audit Log entry (sql/migrations/0008_entra_sweeps.sql).
type EntraSweep struct {
	Run       int64
	SweptAt   time.Time // the service's clock
	Method    string
	DeltaLink string
}

// RecordEntraSweep records that this run swept Entra-side changes; it is
// kept only if the run commits.
func (w *Writer) RecordEntraSweep(at time.Time, method, deltaLink string) error {
	_, err := w.tx.ExecContext(w.ctx, `INSERT OR REPLACE INTO entra_sweeps (run, swept_at, method, delta_link) VALUES (?, ?, ?, ?)`,
		w.run.ID, formatTime(at), method, deltaLink)
	if err != nil {
		return fmt.Errorf("record the Entra sweep of run %d: %w", w.run.ID, explain(w.s.path, err))
	}
	return nil
}

// LastEntraSweep is the newest sweep of a complete run; ok is false when
// no run has swept yet.
func (w *Writer) LastEntraSweep() (s EntraSweep, ok bool, err error) {
	var at string
	err = w.tx.QueryRowContext(w.ctx, `SELECT s.run, s.swept_at, s.method, s.delta_link FROM entra_sweeps s
		JOIN runs r ON r.id = s.run WHERE r.status = 'complete' ORDER BY s.run DESC LIMIT 1`).Scan(&s.Run, &at, &s.Method, &s.DeltaLink)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("read the last Entra sweep: %w", explain(w.s.path, err))
	}
	s.SweptAt = parseTime(at)
	return s, true, nil
}

package snapshot

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// TokenSweep is a run's read of every user's personal access tokens and
// SSH keys (sql/migrations/0012_token_kind.sql).
type TokenSweep struct {
	Run      int64
	SweptAt  time.Time // the service's clock as the sweep began
	Owners   int64
	Requests int64
}

// RecordTokenSweep records that this run read every user's tokens; it is
// kept only if the run commits.
func (w *Writer) RecordTokenSweep(at time.Time, owners, requests int64) error {
	_, err := w.tx.ExecContext(w.ctx, `INSERT OR REPLACE INTO token_sweeps (run, swept_at, owners, requests) VALUES (?, ?, ?, ?)`,
		w.run.ID, formatTime(at), owners, requests)
	if err != nil {
		return fmt.Errorf("record the token sweep of run %d: %w", w.run.ID, explain(w.s.path, err))
	}
	return nil
}

// LastTokenSweep is the newest token sweep of a complete run; ok is false
// when no run has swept yet.
func (w *Writer) LastTokenSweep() (s TokenSweep, ok bool, err error) {
	var at string
	err = w.tx.QueryRowContext(w.ctx, `SELECT s.run, s.swept_at, s.owners, s.requests FROM token_sweeps s
		JOIN runs r ON r.id = s.run WHERE r.status = 'complete' ORDER BY s.run DESC LIMIT 1`).Scan(&s.Run, &at, &s.Owners, &s.Requests)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("read the last token sweep: %w", explain(w.s.path, err))
	}
	s.SweptAt = parseTime(at)
	return s, true, nil
}

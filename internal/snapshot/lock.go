package snapshot

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Lock is the writer lock of a store: an advisory lock (flock) on the
// database file itself, held for a whole sync or apply, so a second writer
// waits or leaves with a clear message instead of interleaving with the
// first. Locking the file, not a name beside it, means a symlink or hard
// link to the store meets the same lock. The kernel drops it when the
// process dies, so a crashed sync never leaves it behind. flock locks are
// separate from the POSIX locks SQLite takes on the same file.
type Lock struct {
	s *Store
}

// Lock takes the writer lock. With wait it blocks until the lock is free or
// ctx ends; without, it fails at once with ErrLocked, naming the holder.
func (s *Store) Lock(ctx context.Context, wait bool) (*Lock, error) {
	unlock, err := s.flock(ctx, wait)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	holder := fmt.Sprintf("held by pid %d on %s since %s", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if _, err := s.db.ExecContext(ctx, `INSERT INTO writer (only_one, holder) VALUES (1, ?)
		ON CONFLICT (only_one) DO UPDATE SET holder = excluded.holder`, holder); err != nil {
		unlock()
		return nil, fmt.Errorf("lock %s: %w", s.path, explain(s.path, err))
	}
	if s.checkDue(ctx) {
		s.startCheck(ctx)
	}
	return &Lock{s: s}, nil
}

// flock takes the advisory lock on the database file, waiting for it if
// wait is set, and returns how to release it.
func (s *Store) flock(ctx context.Context, wait bool) (unlock func(), err error) {
	if s.file == nil {
		return nil, fmt.Errorf("lock %s: the store is open read-only", s.path)
	}
	if s.locked {
		return nil, fmt.Errorf("%w (%s, through this same store)", ErrLocked, s.holder(ctx))
	}
	fd := int(s.file.Fd())
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			s.locked = true
			return func() { s.locked = false; syscall.Flock(fd, syscall.LOCK_UN) }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", s.path, err)
		}
		if !wait {
			return nil, fmt.Errorf("%w (%s); wait for it to finish", ErrLocked, s.holder(ctx))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// holder says who holds the lock, as the holder recorded it.
func (s *Store) holder(ctx context.Context) string {
	if s.db == nil {
		return "held by another process"
	}
	var h string
	err := s.db.QueryRowContext(ctx, `SELECT holder FROM writer WHERE only_one = 1`).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) || err != nil || h == "" {
		return "held by another process"
	}
	return h
}

// Unlock releases the lock. The file stays open until the store closes.
func (l *Lock) Unlock() error {
	if l == nil || l.s == nil {
		return nil
	}
	s := l.s
	l.s = nil
	if s.stopChecked != nil {
		s.stopChecked()
		s.checked, s.stopChecked = nil, nil
	}
	_, _ = s.db.ExecContext(context.Background(), `DELETE FROM writer`)
	s.locked = false
	return syscall.Flock(int(s.file.Fd()), syscall.LOCK_UN)
}

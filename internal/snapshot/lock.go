package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// Lock is the writer lock of a store: an advisory lock on "<db>.lock" held
// for a whole sync, so a second sync waits or leaves with a clear message
// instead of interleaving with the first. The kernel drops it when the
// process dies, so a crashed sync never leaves it behind.
type Lock struct {
	f *os.File
}

// Lock takes the writer lock. With wait it blocks until the lock is free or
// ctx ends; without, it fails at once with ErrLocked, naming the holder.
func (s *Store) Lock(ctx context.Context, wait bool) (*Lock, error) {
	name := s.path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		if !wait {
			holder, _ := os.ReadFile(name)
			f.Close()
			return nil, fmt.Errorf("%w (%s); wait for it to finish, or use --wait", ErrLocked, strings.TrimSpace(string(holder)))
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	host, _ := os.Hostname()
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("held by pid %d on %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))), 0)
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
	return err
}

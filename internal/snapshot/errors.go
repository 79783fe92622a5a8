package snapshot

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// lowSpace is the free space under which an I/O error is taken to be a
// full disk: SQLite reports a full disk as one of several I/O errors
// (growing the WAL index, writing a page), not always as SQLITE_FULL.
const lowSpace = 64 << 20

// explain turns an SQLite error into one that says what happened to the
// store and what to do, keeping the original wrapped. Errors that are not
// SQLite's pass through unchanged.
func explain(p string, err error) error {
	var se *sqlite.Error
	if err == nil || !errors.As(err, &se) || errors.Is(err, ErrDamaged) {
		return err
	}
	where := p + " " // "the store is damaged: PATH (…)", never "the store (…)"
	if p == "" {
		p, where = "the store", ""
	}
	switch code := se.Code(); code & 0xff {
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return &DamagedError{What: fmt.Sprintf("%s(%v)", where, err), Kept: "The exporter changed nothing"}
	case sqlite3.SQLITE_FULL:
		return fmt.Errorf("the disk holding %s is full (%v): free some space and run again; the last good snapshot is intact", p, err)
	case sqlite3.SQLITE_IOERR:
		if free, ok := freeSpace(p); ok && free < lowSpace {
			return fmt.Errorf("the disk holding %s is full (%d KiB free; %v): free some space and run again; the last good snapshot is intact", p, free>>10, err)
		}
		return fmt.Errorf("I/O error on the store %s (%v): check the disk; the last good snapshot is intact", p, err)
	case sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("cannot open the store %s (%v): check that its folder exists and is writable", p, err)
	case sqlite3.SQLITE_READONLY:
		return fmt.Errorf("cannot write the store %s (%v): check the permissions of the file and its folder", p, err)
	}
	return err
}

// DamagedError is a damaged store (errors.Is(err, ErrDamaged)): what is
// damaged, what the exporter kept, and what to do. A caller that knows
// where the file came from (a state blob) gives its own advice with What.
type DamagedError struct {
	What string // the file and SQLite's words
	Kept string // "The exporter changed nothing", "Nothing was committed"
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("%v: %s. %s; restore the file from a backup, or move it aside and run 'exporter sync' to start a new store with a full sync", ErrDamaged, e.What, e.Kept)
}

func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

// freeSpace is the space left to unprivileged users on the file system
// holding p.
func freeSpace(p string) (uint64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(p), &st); err != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}

// Explain is explain for errors met while reading or writing this store.
func (s *Store) Explain(err error) error { return explain(s.path, err) }

// Explain turns an SQLite error met anywhere into one that says what to do,
// for errors that reach the command line without their store (a query of
// diff or export); other errors pass through.
func Explain(err error) error { return explain("", err) }

package export

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// LocalSink writes to a folder. A file is written to a temporary file
// beside its final name (".partial-NAME-…"), fsynced (Stage), renamed into
// place and the folder fsynced (Commit), so a crash leaves either the old
// file or the new one, and the manifest, renamed last, never lands before
// the files it lists.
type LocalSink struct {
	root string
}

// NewLocalSink returns a sink writing under dir (created when the first
// file is written).
func NewLocalSink(dir string) *LocalSink { return &LocalSink{root: filepath.Clean(dir)} }

func (s *LocalSink) String() string { return s.root }

func (s *LocalSink) path(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(name)), nil
}

// partialPrefix starts the names of files being written.
const partialPrefix = ".partial-"

func (s *LocalSink) Create(ctx context.Context, name string) (SinkFile, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	f, err := createPartial(dir, filepath.Base(p))
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	return &localFile{f: f, w: bufio.NewWriterSize(f, 256<<10), final: p, name: name}, nil
}

// createPartial creates a new partial file for base in dir with the
// permissions os.Create gives (0666 less the umask), which os.CreateTemp
// (0600) would not.
func createPartial(dir, base string) (*os.File, error) {
	for range 100 {
		var b [6]byte
		rand.Read(b[:])
		f, err := os.OpenFile(filepath.Join(dir, partialPrefix+base+"-"+hex.EncodeToString(b[:])), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("no free partial file name in %s", dir)
}

type localFile struct {
	f      *os.File
	w      *bufio.Writer
	final  string
	name   string
	staged bool
	done   bool
}

func (l *localFile) Write(p []byte) (int, error) {
	if l.staged || l.done {
		return 0, fmt.Errorf("write %s: already ended", l.name)
	}
	return l.w.Write(p)
}

// Stage flushes, fsyncs and closes the partial file.
func (l *localFile) Stage() error {
	if l.done || l.staged {
		return fmt.Errorf("stage %s: already ended", l.name)
	}
	l.staged = true
	err := l.w.Flush()
	if err == nil {
		err = l.f.Sync()
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.w = nil // a staged file waits for its commit without its buffer
	if err != nil {
		l.done = true
		os.Remove(l.f.Name())
		return fmt.Errorf("write %s: %w", l.name, err)
	}
	return nil
}

func (l *localFile) Commit() error {
	if l.done {
		return fmt.Errorf("commit %s: already ended", l.name)
	}
	if !l.staged {
		if err := l.Stage(); err != nil {
			return err
		}
	}
	l.done = true
	if err := os.Rename(l.f.Name(), l.final); err != nil {
		os.Remove(l.f.Name())
		return fmt.Errorf("write %s: %w", l.name, err)
	}
	if err := syncDir(filepath.Dir(l.final)); err != nil {
		return fmt.Errorf("write %s: %w", l.name, err)
	}
	return nil
}

func (l *localFile) Abort() {
	if l.done {
		return
	}
	l.done = true
	if !l.staged {
		l.f.Close()
	}
	os.Remove(l.f.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

func (s *LocalSink) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return f, nil
}

func (s *LocalSink) List(ctx context.Context, prefix string) ([]string, error) {
	dir := s.root
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		p, err := s.path(prefix)
		if err != nil {
			return nil, err
		}
		dir = p
	}
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", filepath.Join(s.root, prefix), err)
	}
	slices.Sort(out)
	return out, nil
}

func (s *LocalSink) Delete(ctx context.Context, name string) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

package snapshot

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// A Folder is the store of many organizations: one store file each, bound
// to its organization as a single store is (see Bind), so that their syncs
// write side by side (SQLite has one writer per file, and a run is one
// transaction), each keeps its own lock, and one organization's history is
// one file to keep, move or delete. Files are named {name}-{id8}.db; the
// name is for people, the binding inside decides: a store moved into the
// folder under any name is found by its organization's id.
type Folder struct{ Dir string }

// IsFolder reports whether a --db path names a folder store: an existing
// directory, or a path ending in a slash.
func IsFolder(p string) bool {
	if strings.HasSuffix(p, "/") || strings.HasSuffix(p, string(filepath.Separator)) {
		return true
	}
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// FolderEntry is one organization's store in a folder.
type FolderEntry struct {
	Path string
	Org  Organization
}

// List reads every store in the folder (read-only), sorted by
// organization name. A file that is not an ado-access store, or a store no
// sync has bound yet, is an error naming it: the folder is the exporter's.
func (f Folder) List(ctx context.Context) ([]FolderEntry, error) {
	names, err := filepath.Glob(filepath.Join(f.Dir, "*.db"))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(f.Dir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: the folder %s does not exist: run 'exporter sync --db %s/ --org …' first", ErrNoStore, f.Dir, f.Dir)
	}
	var out []FolderEntry
	for _, p := range names {
		if fi, err := os.Stat(p); err == nil && fi.Size() == 0 {
			continue // a store being created by a sync now
		}
		org, ok, err := peekOrganization(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("store folder %s: %w", f.Dir, err)
		}
		if !ok {
			continue // made by a sync that never got as far as binding it
		}
		out = append(out, FolderEntry{Path: p, Org: org})
	}
	sort.Slice(out, func(i, j int) bool {
		return strings.ToLower(out[i].Org.Name) < strings.ToLower(out[j].Org.Name) || strings.EqualFold(out[i].Org.Name, out[j].Org.Name) && out[i].Org.ID < out[j].Org.ID
	})
	return out, nil
}

// PathFor is the store of org in the folder: the file already bound to its
// id, else a new {name}-{id8}.db.
func (f Folder) PathFor(ctx context.Context, org Organization) (string, error) {
	entries, err := f.List(ctx)
	if err != nil && !errors.Is(err, ErrNoStore) {
		return "", err
	}
	for _, e := range entries {
		if strings.EqualFold(e.Org.ID, org.ID) {
			return e.Path, nil
		}
	}
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return "", fmt.Errorf("create store folder: %w", err)
	}
	id := strings.ReplaceAll(org.ID, "-", "")
	return filepath.Join(f.Dir, fmt.Sprintf("%s-%s.db", fileSafe(org.Name), id[:min(8, len(id))])), nil
}

// fileSafe keeps a name to letters, digits, '-', '_' and '.'.
func fileSafe(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	if b.Len() == 0 {
		return "org"
	}
	return b.String()
}

// peekOrganization reads which organization a store holds, read-only, even
// from a store whose schema is older (a store of an organization that is
// gone is not synced, so not upgraded, and is still listed).
func peekOrganization(ctx context.Context, p string) (Organization, bool, error) {
	if _, err := checkFile(p, false); err != nil {
		return Organization{}, false, err
	}
	db, err := openDB(p, "ro")
	if err != nil {
		return Organization{}, false, explain(p, err)
	}
	defer db.Close()
	if _, err := identify(ctx, db, p, false); err != nil {
		return Organization{}, false, err
	}
	s := &Store{db: db, path: p}
	org, ok, err := s.Organization(ctx)
	if err != nil && strings.Contains(err.Error(), "no such column") {
		// A store from before gone organizations were recorded.
		err = db.QueryRowContext(ctx, `SELECT id, name, url FROM organization WHERE only_one = 1`).Scan(&org.ID, &org.Name, &org.URL)
		ok = err == nil
		if errors.Is(err, sql.ErrNoRows) {
			err = nil
		}
	}
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return Organization{}, false, nil // from before stores were bound: not of a folder
	}
	return org, ok, err
}

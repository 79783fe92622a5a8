package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// storeFlags are shared by the commands that read or write a store.
type storeFlags struct {
	db  string
	org string
	// dbDefaulted is set when neither --db nor EXPORTER_DB named the store.
	dbDefaulted bool
	// orgFromEnv is set when org came from ADO_ORG_URL, not --org: over a
	// store folder it does not narrow a command that reads every
	// organization (see openAllForReading).
	orgFromEnv bool
}

const defaultDB = "ado-access.db"

func (s *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.db, "db", "", "snapshot database file (env EXPORTER_DB; default "+defaultDB+")")
	fs.StringVar(&s.org, "org", "", "organization URL, e.g. https://dev.azure.com/fabrikam (env ADO_ORG_URL)")
}

// resolve fills in what the flags left empty from the environment and
// checks the organization URL.
func (s *storeFlags) resolve(env *Env) error {
	if s.db == "" {
		s.db = env.Getenv("EXPORTER_DB")
	}
	if s.db == "" {
		s.db, s.dbDefaulted = defaultDB, true
	}
	from := "--org"
	if s.org == "" {
		s.org, from = env.Getenv("ADO_ORG_URL"), "ADO_ORG_URL"
		s.orgFromEnv = s.org != ""
	}
	return checkOrgURL(from, s.org)
}

// checkOrgURL refuses an organization URL that carries a user name or
// password: a credential there would be printed and stored with the URL.
// The message never repeats the URL.
func checkOrgURL(from, org string) error {
	if org == "" {
		return nil
	}
	u, err := url.Parse(org)
	if err != nil {
		if strings.Contains(org, "@") {
			return usageErrorf("%s: not a valid URL, and it looks like it holds a credential; credentials go in ADO_PAT, --pat-file or Entra ID, never in the URL", from)
		}
		return usageErrorf("%s %q: not a valid URL: want https://dev.azure.com/ORG", from, org)
	}
	if u.User != nil {
		return usageErrorf("%s: the URL holds a user name or password (user@ or user:secret@); remove it: credentials go in ADO_PAT, --pat-file or Entra ID (--auth), never in the URL", from)
	}
	if strings.Contains(org, "://") && (u.Scheme != "https" && u.Scheme != "http" || u.Host == "") {
		return usageErrorf("%s %q: want https://dev.azure.com/ORG (or an Azure DevOps Server collection URL)", from, org)
	}
	return nil
}

// openFileForReading opens the store file read-only and checks that it
// holds the organization --org (or ADO_ORG_URL) names, if any.
func (s *storeFlags) openFileForReading(ctx context.Context, env *Env) (*snapshot.Store, error) {
	if err := s.resolve(env); err != nil {
		return nil, err
	}
	st, err := snapshot.OpenExisting(ctx, s.db)
	if err != nil {
		return nil, err
	}
	if err := st.CheckOrg(ctx, s.org); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// openForWriting opens (creating it if needed) the store for a command that
// writes. cleanup removes the file again if this call created it and the
// command recorded no run in it, so that a command failing before it starts
// leaves nothing behind; call it after closing the store.
func (s *storeFlags) openForWriting(ctx context.Context) (st *snapshot.Store, cleanup func(), err error) {
	_, statErr := os.Stat(s.db)
	created := errors.Is(statErr, fs.ErrNotExist)
	st, err = snapshot.Open(ctx, s.db)
	if err != nil {
		return nil, func() {}, err
	}
	cleanup = func() {
		if !created {
			return
		}
		probe, err := snapshot.OpenExisting(context.Background(), s.db)
		if err != nil {
			return
		}
		runs, err := probe.Runs(context.Background())
		probe.Close()
		if err == nil && len(runs) == 0 {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(s.db + suffix)
			}
		}
	}
	return st, cleanup, nil
}

// orgStore is one organization's store, open for reading.
type orgStore struct {
	*snapshot.Store
	name string // the organization's name, for an org column
}

// openAllForReading opens the stores a reading command reads: the one store
// file, or, when --db is a store folder, the stores of the organizations
// --org picks there (all of them without --org, or with --org all; names,
// URLs and globs, comma-separated, otherwise). Organizations that are gone
// are read only when named, or withGone. close closes them all.
//
// An ADO_ORG_URL left in the environment (the simulator tells users to
// export it) does not narrow a folder here: only --org does, and the log
// says the variable was not used.
func (s *storeFlags) openAllForReading(ctx context.Context, env *Env, withGone bool) (stores []orgStore, close func(), err error) {
	return s.openPicked(ctx, env, withGone, false)
}

// openPicked is openAllForReading; envPicks lets ADO_ORG_URL pick the
// organization in a folder (commands that read one), saying so.
func (s *storeFlags) openPicked(ctx context.Context, env *Env, withGone, envPicks bool) (stores []orgStore, close func(), err error) {
	if err := s.resolve(env); err != nil {
		return nil, nil, err
	}
	sel := s.org
	if s.orgFromEnv && snapshot.IsFolder(s.db) {
		if envPicks {
			env.Logger.Info("picking the organization ADO_ORG_URL names in the store folder (--org names another)", "org", s.org, "folder", s.db)
		} else {
			env.Logger.Info("reading every organization of the store folder; ADO_ORG_URL does not narrow it (--org does)", "ADO_ORG_URL", s.org, "folder", s.db)
			sel = ""
		}
	}
	close = func() {
		for _, st := range stores {
			st.Close()
		}
	}
	if !snapshot.IsFolder(s.db) {
		st, err := s.openFileForReading(ctx, env)
		if err != nil {
			return nil, nil, err
		}
		org, _, _ := st.Organization(ctx)
		return []orgStore{{st, org.Name}}, close, nil
	}
	entries, err := snapshot.Folder{Dir: s.db}.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	var have []string
	explicit := sel != "" && !strings.EqualFold(sel, "all")
	for _, e := range entries {
		have = append(have, e.Org.Name)
		if explicit && !pickedBy(e.Org, sel) {
			continue
		}
		if e.Org.Gone != nil && !explicit && !withGone {
			env.Logger.Info("skipping an organization that is gone; name it with --org to read its history", "org", e.Org.Name, "gone_since", e.Org.Gone.Format(time.DateOnly))
			continue
		}
		st, err := snapshot.OpenExisting(ctx, e.Path)
		if err != nil {
			close()
			return nil, nil, err
		}
		stores = append(stores, orgStore{st, e.Org.Name})
	}
	if len(stores) == 0 {
		if len(have) == 0 {
			return nil, nil, fmt.Errorf("%w: the store folder %s holds no organization yet: run 'exporter sync --db %s --org …' first", snapshot.ErrNoStore, s.db, s.db)
		}
		from := "--org"
		if s.orgFromEnv {
			from = "ADO_ORG_URL"
		}
		return nil, nil, fmt.Errorf("%w: %s %s picks none of the organizations in %s (%s)", snapshot.ErrOtherOrg, from, sel, s.db, strings.Join(have, ", "))
	}
	return stores, close, nil
}

// pickedBy reports whether --org (names, URLs or globs, comma-separated)
// picks the organization.
func pickedBy(org snapshot.Organization, selector string) bool {
	for _, item := range strings.Split(selector, ",") {
		item = strings.ToLower(strings.TrimRight(strings.TrimSpace(item), "/"))
		if item == "" {
			continue
		}
		if ok, _ := path.Match(item, strings.ToLower(org.Name)); ok || item == org.URL || item == strings.ToLower(org.ID) ||
			strings.Contains(item, "://") && strings.EqualFold(snapshot.OrgName(item), org.Name) {
			return true
		}
	}
	return false
}

// openForReading opens the one store a command that reads one
// organization needs (diff, export, apply): the store file, or the folder's
// store --org picks, which must be exactly one.
func (s *storeFlags) openForReading(ctx context.Context, env *Env) (*snapshot.Store, error) {
	stores, closeAll, err := s.openPicked(ctx, env, false, true)
	if err != nil {
		return nil, err
	}
	if len(stores) > 1 {
		var names []string
		for _, st := range stores {
			names = append(names, st.name)
		}
		closeAll()
		return nil, usageErrorf("the store folder %s holds %d organizations (%s): name one with --org", s.db, len(names), strings.Join(names, ", "))
	}
	return stores[0].Store, nil
}

// storePath is the file of the one store --db and --org name: --db, or the
// folder's store --org picks.
func (s *storeFlags) storePath(ctx context.Context, env *Env) (string, error) {
	if !snapshot.IsFolder(s.db) {
		return s.db, nil
	}
	st, err := s.openForReading(ctx, env)
	if err != nil {
		return "", err
	}
	defer st.Close()
	return st.Path(), nil
}

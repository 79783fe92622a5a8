package main

import (
	"context"
	"errors"
	"flag"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// storeFlags are shared by the commands that read or write a store.
type storeFlags struct {
	db  string
	org string
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
		s.db = defaultDB
	}
	from := "--org"
	if s.org == "" {
		s.org, from = env.Getenv("ADO_ORG_URL"), "ADO_ORG_URL"
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

// openForReading opens an existing store read-only and checks that it
// holds the organization --org (or ADO_ORG_URL) names, if any.
func (s *storeFlags) openForReading(ctx context.Context, env *Env) (*snapshot.Store, error) {
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

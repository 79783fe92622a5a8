package main

import (
	"context"
	"flag"

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

// resolve fills in what the flags left empty from the environment.
func (s *storeFlags) resolve(env *Env) {
	if s.db == "" {
		s.db = env.Getenv("EXPORTER_DB")
	}
	if s.db == "" {
		s.db = defaultDB
	}
	if s.org == "" {
		s.org = env.Getenv("ADO_ORG_URL")
	}
}

// openForReading opens an existing store.
func (s *storeFlags) openForReading(ctx context.Context, env *Env) (*snapshot.Store, error) {
	s.resolve(env)
	return snapshot.OpenExisting(ctx, s.db)
}

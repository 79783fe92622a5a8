package main

import (
	"context"
	"flag"
	"strings"
	"time"

	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/snapshot"
)

func newOrgsCmd() *Command {
	var (
		accounts string
		org      string
		db       string
		patFile  string
		auth     = newChoice("auto", "auto", "pat", "entra", "bearer")
		format   = newChoice("table", "table", "json", "csv")
		budget   = durationValue(10 * time.Minute)
	)
	return &Command{
		Name:    "orgs",
		Summary: "list the organizations the credential sees (what --org all picks)",
		Usage: `
Usage: exporter orgs list [--org all|NAME,…|GLOB] [--accounts-url URL] [--db DIR/] [--format table|json|csv]

List the organizations the credential belongs to, as the service says
(the Profile and Accounts APIs at --accounts-url, or ADO_ACCOUNTS_URL; the
public cloud's by default), with each one's id and URL: what
'exporter sync --org all' would sync. --org narrows the list as sync's
--org does. With --db naming a store folder, each line also says which
store holds the organization, and organizations the folder holds that
the credential no longer sees are listed as gone.

The JSON form is the way to one job per organization when one machine is
not enough: generate a Kubernetes CronJob (or an Indexed Job's list) per
organization from it, each running 'exporter run' or 'exporter sync
--org URL' into its own store (see the README, "Many organizations").

Examples:
  exporter orgs list
  exporter orgs list --org 'contoso-*' --format json
  exporter orgs list --db /data/stores/
`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&org, "org", "all", "which organizations: all, names or URLs (comma-separated), or a glob")
			fs.StringVar(&accounts, "accounts-url", "", "where the credential's organizations are listed (env ADO_ACCOUNTS_URL; default "+collect.DefaultAccountsURL+")")
			fs.StringVar(&db, "db", "", "a store folder, to show which store holds each organization")
			fs.StringVar(&patFile, "pat-file", "", "read the PAT from this file instead of ADO_PAT")
			fs.Var(auth, "auth", "how to authenticate (see 'exporter help sync')")
			fs.Var(format, "format", "output format")
			fs.Var(&budget, "retry-budget", "how long one request may go on retrying (an organization failing throughout is listed as failing after this)")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) != 1 || args[0] != "list" {
				return usageErrorf("want 'exporter orgs list'")
			}
			cred, err := credential(env, auth.String(), patFile)
			if err != nil {
				return err
			}
			if !isSelector(org) {
				return usageErrorf("--org %s: name organizations (all, names, or a glob), not one URL", org)
			}
			sel, err := selectOrgs(ctx, env, org, accountsURL(env, accounts), cred, collect.Options{Logger: env.Logger, Retry: collect.RetryPolicy{Budget: time.Duration(budget)}})
			if err != nil {
				return err
			}
			stores := map[string]snapshot.FolderEntry{}
			var entries []snapshot.FolderEntry
			if db != "" {
				if entries, err = (snapshot.Folder{Dir: db}).List(ctx); err != nil {
					return err
				}
				for _, e := range entries {
					stores[strings.ToLower(e.Org.ID)] = e
				}
			}
			w, err := newRowWriter(env.Stdout, format.String(), []string{"name", "id", "url", "status", "store"})
			if err != nil {
				return err
			}
			listed := map[string]bool{}
			for _, o := range sel.targets {
				listed[strings.ToLower(o.ID)] = true
				status := "ok"
				if o.Err != nil {
					status = "failing: " + o.Err.Error()
				}
				w.Row([]any{o.Name, o.ID, o.URL, status, stores[strings.ToLower(o.ID)].Path})
			}
			for _, e := range entries {
				if !listed[strings.ToLower(e.Org.ID)] && matchesAny(e.Org.Name, sel.patterns) {
					w.Row([]any{e.Org.Name, e.Org.ID, e.Org.URL, "gone: not listed for this credential", e.Path})
				}
			}
			if err := w.Close(); err != nil {
				return err
			}
			if len(sel.unmatched) > 0 {
				return exitCode(exitError, usageErrorf("no organization matches %s", strings.Join(sel.unmatched, ", ")))
			}
			return nil
		},
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// Many organizations: --org all, a comma-separated list, or a glob picks
// them among those the credential sees (the Accounts API), and a store
// folder (--db DIR/) keeps one store per organization.

// defaultFolder is the store of many organizations when --db names none.
const defaultFolder = "ado-access/"

// isSelector reports whether --org names organizations to look up rather
// than one organization's URL: all, a list, a glob, or a bare name.
func isSelector(org string) bool {
	if strings.EqualFold(org, "all") || strings.ContainsAny(org, ",*?[") {
		return true
	}
	return org != "" && !strings.Contains(org, "://")
}

// accountsURL is where the credential's organizations are listed.
func accountsURL(env *Env, flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := env.Getenv("ADO_ACCOUNTS_URL"); v != "" {
		return v
	}
	return collect.DefaultAccountsURL
}

// orgSelection is what --org picked.
type orgSelection struct {
	targets   []collect.OrgRef
	listed    []collect.OrgRef // every organization the credential sees ("" when not asked)
	asked     bool             // the Accounts API was asked
	unmatched []string         // names or patterns that matched nothing
	patterns  []string         // what picked organizations by name (for "gone")
}

// selectOrgs resolves --org: URLs are taken as they are; names, globs and
// "all" are matched against the organizations the credential sees.
func selectOrgs(ctx context.Context, env *Env, selector, accounts string, cred collect.Credential, opts collect.Options) (orgSelection, error) {
	var sel orgSelection
	var names []string
	for _, item := range strings.Split(selector, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
		case strings.Contains(item, "://"):
			if err := checkOrgURL("--org", item); err != nil {
				return sel, err
			}
			sel.targets = append(sel.targets, collect.OrgRef{URL: snapshot.NormalizeOrg(item), Name: snapshot.OrgName(item)})
		default:
			names = append(names, item)
		}
	}
	if len(names) == 0 {
		return sel, nil
	}
	listed, err := collect.ListOrganizations(ctx, accounts, cred, opts)
	if err != nil {
		return sel, fmt.Errorf("find the organizations --org %s names: %w", selector, err)
	}
	sel.listed, sel.asked, sel.patterns = listed, true, names
	picked, unmatched := collect.MatchOrgs(listed, strings.Join(names, ","))
	sel.targets = append(sel.targets, picked...)
	sel.unmatched = unmatched
	return sel, nil
}

// matchesAny reports whether an organization's name is one --org picked by
// name or pattern.
func matchesAny(name string, patterns []string) bool {
	for _, p := range patterns {
		p = strings.ToLower(p)
		if ok, _ := path.Match(p, strings.ToLower(name)); ok || p == "all" {
			return true
		}
	}
	return false
}

// goneOrgs finds the stores of the folder whose organization --org would
// pick but the credential no longer sees, marks them gone (history stays)
// and returns them.
func goneOrgs(ctx context.Context, folder snapshot.Folder, sel orgSelection) ([]snapshot.FolderEntry, error) {
	if !sel.asked {
		return nil, nil
	}
	entries, err := folder.List(ctx)
	if err != nil {
		return nil, nil // no folder yet: nothing was there to go
	}
	seen := map[string]bool{}
	for _, o := range sel.listed {
		seen[strings.ToLower(o.ID)] = true
	}
	var gone []snapshot.FolderEntry
	for _, e := range entries {
		if seen[strings.ToLower(e.Org.ID)] || !matchesAny(e.Org.Name, sel.patterns) {
			continue
		}
		st, err := snapshot.Open(ctx, e.Path)
		if err != nil {
			return gone, err
		}
		err = st.MarkGone(ctx, "not listed by the Accounts API for this credential (deleted, or its access lost)")
		if err == nil {
			e.Org, _, err = st.Organization(ctx)
		}
		st.Close()
		if err != nil {
			return gone, err
		}
		gone = append(gone, e)
	}
	return gone, nil
}

// syncManyParams are what a sync of many organizations needs.
type syncManyParams struct {
	selector, folder, accounts string
	cred                       collect.Credential
	concurrency, perOrg        int
	parallel                   int
	retry                      time.Duration // RetryPolicy.Budget
	opts                       collect.SyncOptions
	out                        io.Writer // one line per organization as it finishes
}

// syncMany syncs every organization --org picks into its store in the
// folder. It returns an error only when nothing could start; each
// organization's outcome is in its result, and failed says whether any
// failed (or was named but not found).
func syncMany(ctx context.Context, env *Env, p syncManyParams) (results []collect.OrgResult, gone []snapshot.FolderEntry, failed bool, err error) {
	dial := collect.Options{Concurrency: p.perOrg, Logger: env.Logger, Retry: collect.RetryPolicy{Budget: p.retry}}
	sel, err := selectOrgs(ctx, env, p.selector, p.accounts, p.cred, dial)
	if err != nil {
		return nil, nil, false, err
	}
	folder := snapshot.Folder{Dir: strings.TrimRight(p.folder, "/")}
	if gone, err = goneOrgs(ctx, folder, sel); err != nil {
		return nil, gone, true, err
	}
	for _, g := range gone {
		fmt.Fprintf(p.out, "%-20s gone since %s: %s; its history stays in %s\n", g.Org.Name, g.Org.Gone.Format(time.DateOnly), g.Org.GoneReason, g.Path)
	}
	for _, u := range sel.unmatched {
		if !strings.ContainsAny(u, "*?[") && !strings.EqualFold(u, "all") {
			fmt.Fprintf(p.out, "%-20s FAILED: the credential sees no organization called %s\n", u, u)
			failed = true
		}
	}
	if len(sel.targets) == 0 {
		if failed || len(gone) > 0 {
			return nil, gone, failed, nil
		}
		return nil, gone, false, fmt.Errorf("--org %s picks no organization the credential sees", p.selector)
	}
	var mu sync.Mutex
	targets := make([]collect.Target, len(sel.targets))
	for i, o := range sel.targets {
		targets[i] = collect.Target{Org: o, StorePath: folder.PathFor}
	}
	env.Logger.Info("syncing organizations", "count", len(targets), "at_once", p.parallel, "concurrency", p.concurrency, "per_org", p.perOrg)
	results = collect.SyncEach(ctx, targets, p.cred, collect.EachOptions{
		Dial: dial, Budget: p.concurrency, Parallel: p.parallel, Sync: p.opts,
		Done: func(r collect.OrgResult) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintln(p.out, orgLine(r))
		},
	})
	for _, r := range results {
		failed = failed || r.Err != nil
	}
	return results, gone, failed, nil
}

// orgLine is one organization's outcome, for people.
func orgLine(r collect.OrgResult) string {
	name := r.Org.Name
	if name == "" {
		name = snapshot.OrgName(r.Org.URL)
	}
	if r.Err != nil {
		return fmt.Sprintf("%-20s FAILED: %v", name, r.Err)
	}
	return fmt.Sprintf("%-20s %s", name, summary(r.Run, r.Progress, r.Duration))
}

// folderOf is the store folder of a sync of many organizations: --db when
// it is a folder, the default folder when --db was not given; a file named
// by --db cannot hold several.
func folderOf(sf storeFlags) (string, error) {
	db := sf.db
	if snapshot.IsFolder(db) {
		return db, nil
	}
	if sf.dbDefaulted {
		return defaultFolder, nil
	}
	if !strings.EqualFold(sf.org, "all") && !strings.ContainsAny(sf.org, ",*?[") {
		// One organization, named by name: only a folder resolves names.
		return "", usageErrorf("--org %s names an organization by name, which only a store folder resolves: with one store file (--db %s) give its URL (--org https://dev.azure.com/%s), or name a folder (--db DIR/), which keeps one store per organization", sf.org, db, sf.org)
	}
	return "", usageErrorf("--db %s is one store file, which holds one organization: for several, name a folder (--db DIR/), which keeps one store per organization", db)
}

// manySummary is the last line of a sync of many organizations.
func manySummary(results []collect.OrgResult, gone []snapshot.FolderEntry, d time.Duration) string {
	ok, failed := 0, 0
	var requests int64
	for _, r := range results {
		if r.Err != nil {
			failed++
		} else {
			ok++
		}
		if r.Stats != nil {
			n, _ := r.Stats.Requests()
			requests += n
		}
	}
	return fmt.Sprintf("%d organizations: %d synced, %d failed, %d gone; %s requests in %s", len(results)+len(gone), ok, failed, len(gone), thousands(requests), roundDuration(d))
}

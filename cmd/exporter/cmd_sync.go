package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/snapshot"
)

func newSyncCmd() *Command {
	var (
		sf          storeFlags
		patFile     string
		auth        = newChoice("auto", "auto", "pat", "entra", "bearer")
		concurrency int
		noTeams     bool
		noPerms     bool
		noPipes     bool
		noPATs      bool
		namespaces  string
		wait        bool
		mode        = newChoice("auto", "auto", "full", "incremental")
		fullEvery   durationValue
		overlap     = durationValue(10 * time.Minute)
		retention   = durationValue(90 * 24 * time.Hour)
		accounts    string
		perOrg      int
		parallel    int
		budget      = durationValue(10 * time.Minute)
		entraSweep  entraSweepValue
		tokenSweep  = tokenSweepValue(collect.DefaultTokenSweep)
		graphURL    string
	)
	return &Command{
		Name:    "sync",
		Summary: "read an organization into the snapshot store",
		Usage: `
Usage: exporter sync [--org URL] [--db FILE] [--mode auto|full|incremental] [--full-every 7d]
                     [--entra-sweep every-run|24h] [--token-sweep every-run|168h|off]
                     [--concurrency N] [--auth MODE] [--wait]
       exporter sync --org all|NAME,NAME|'GLOB' [--db DIR/] [--org-concurrency N] [--parallel-orgs N]

Read every identity, group, membership, license, project, team and
repository of an Azure DevOps organization and commit them to the SQLite
store as one run. Rows get a new version only when they change, so an
unchanged organization writes nothing. The run is visible only once it
commits: an interrupted sync leaves the previous snapshot intact, and the
next sync marks the interrupted run failed.

Modes:
  full          read everything
  incremental   read the Audit Log since the last run and re-read only what
                its entries touched (a group's members, a user's access level,
                a project); fails if that is not possible
  auto          incremental when the last run left a usable Audit Log cursor,
                full otherwise: no earlier run, a cursor older than the log's
                retention (--audit-retention), a log the credential cannot read
                (it needs Audit Log (Read), vso.auditlog), or a full sync due
                (--full-every). The run records why it is full.

Changes made in Microsoft Entra ID (a member added to or removed from an
Entra group, a user deleted there) have no Azure DevOps Audit Log entry, so
an incremental sync also re-reads the members of every Entra group and the
state of Entra accounts: about one request per Entra group. With --auth
entra it asks Microsoft Graph's delta query instead which Entra groups
changed, and re-reads only those: one request for an unchanged tenant (the
app needs the Microsoft Graph application permission GroupMember.Read.All;
--msgraph-url none turns this off); with User.Read.All too, its users delta
says which Entra accounts changed, and only those are looked up. --entra-sweep 24h sweeps at most once
a day instead of every run; each run's note says when Entra ID was last
swept.

Credentials:
  --auth pat      a personal access token from ADO_PAT or --pat-file
  --auth entra    Microsoft Entra ID through azidentity: a client secret
                  (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET),
                  workload identity (AZURE_FEDERATED_TOKEN_FILE) or a
                  managed identity
  --auth bearer   an access token from ADO_BEARER_TOKEN, used as is
  --auth auto     the first of these that is configured (default)

The PAT needs these scopes (all read): Graph, Identity, Member Entitlement
Management, Project and Team, Code; and Audit Log for incremental syncs.

Permissions: the access control lists of the security namespaces that
govern projects and repositories (Project, Git Repositories, Build,
ReleaseManagement and Identity; --namespaces names others, by name or id),
one request per namespace. Reading them needs Security (Manage),
vso.security_manage, which has no read-only form (or a full-access PAT).
Without it the sync goes on, leaves the permission tables as they were and
says so in the run's note; --no-permissions skips them.

Pipeline resources: service connections, variable groups, environments,
agent pools and queues, the roles assigned on them and their pipeline
permissions (four lists per project, two reads per resource), and every
user's personal access tokens (Token Admin: one request per user). They
need Service Connections (Read & query), Variable Groups (Read),
Environment (Read & manage), Agent Pools (Read), Build (Read) and Token
Administration (Read & manage). A kind the PAT may not read is skipped with
a warning naming the scope, its table left as it was; --no-pipelines and
--no-pats skip them. No secret is ever stored: no connection credential,
variable value or token value.

Many organizations:
  --org all, a comma-separated list of names or URLs, or a glob
  ('contoso-*') syncs every organization it picks among those the
  credential sees (the Profile and Accounts APIs at --accounts-url, or
  ADO_ACCOUNTS_URL; the public cloud's by default; the PAT then needs User
  Profile (Read) too). They go into a store folder (--db DIR/, default
  ado-access/): one store file per organization, bound to it by its id.
  Organizations sync side by side (--parallel-orgs at once), all within
  --concurrency requests in flight, each within --org-concurrency, so a
  throttled one does not starve the others; one that fails never stops
  the others. One line per organization as it finishes; the exit status
  is 1 if any failed. An organization the credential no longer sees
  (deleted, or access lost) is recorded as gone in its store and
  reported; its history stays. 'exporter orgs list' shows what --org all
  would pick.

Examples:
  ADO_PAT=… exporter sync --org https://dev.azure.com/fabrikam
  exporter sync --org https://dev.azure.com/fabrikam --auth entra --db /data/fabrikam.db
  exporter sync --org all --db /data/stores/ --concurrency 16
  exporter sync --org 'contoso-*,fabrikam' --db /data/stores/
`,
		Flags: func(fs *flag.FlagSet) {
			sf.register(fs)
			fs.StringVar(&patFile, "pat-file", "", "read the PAT from this file instead of ADO_PAT")
			fs.Var(auth, "auth", "how to authenticate")
			fs.IntVar(&concurrency, "concurrency", 8, "requests in flight at once (from 4, the user-entitlement pages are read from both ends, one slot each)")
			fs.BoolVar(&noTeams, "no-teams", false, "skip teams and team members (saves one request per team)")
			fs.BoolVar(&noPerms, "no-permissions", false, "skip security namespaces and access control lists")
			fs.BoolVar(&noPipes, "no-pipelines", false, "skip service connections, variable groups, environments, agent pools and queues")
			fs.BoolVar(&noPATs, "no-pats", false, "skip personal access tokens and SSH keys (two requests per user when swept)")
			fs.Var(&tokenSweep, "token-sweep", "how often a full sync reads every user's personal access tokens and SSH keys (two requests per user); in between it carries them forward and incremental syncs follow the Audit Log's Token entries: every-run, off, or a cadence such as 168h")
			fs.StringVar(&namespaces, "namespaces", "", "security namespaces whose ACLs to read, comma-separated names or ids (default: Project, Git Repositories, Build, ReleaseManagement, Identity)")
			fs.BoolVar(&wait, "wait", false, "if another sync holds the store, wait for it instead of failing")
			fs.Var(mode, "mode", "full, incremental (from the Audit Log), or auto")
			fs.Var(&fullEvery, "full-every", "force a full sync when the last one is this old, e.g. 7d (default: never)")
			fs.Var(&entraSweep, "entra-sweep", "how often an incremental sync re-reads Entra group members and Entra accounts, which change without Audit Log entries: every-run, or a cadence such as 24h")
			fs.StringVar(&graphURL, "msgraph-url", "", "with --auth entra, the Microsoft Graph endpoint the Entra sweep's delta query asks (env MSGRAPH_URL; default "+collect.DefaultMSGraphURL+"; none: no Microsoft Graph)")
			fs.Var(&overlap, "audit-overlap", "how far before the last cursor an incremental sync reads again, for late entries")
			fs.Var(&retention, "audit-retention", "how long the organization keeps Audit Log entries")
			fs.StringVar(&accounts, "accounts-url", "", "where --org all|NAME|GLOB lists the credential's organizations (env ADO_ACCOUNTS_URL; default "+collect.DefaultAccountsURL+")")
			fs.IntVar(&perOrg, "org-concurrency", 4, "with several organizations: requests in flight for one of them")
			fs.IntVar(&parallel, "parallel-orgs", 4, "with several organizations: how many sync at once")
			fs.Var(&budget, "retry-budget", "how long one request may go on retrying throttling, server errors and cut connections")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q", args[0])
			}
			if err := sf.resolve(env); err != nil {
				return err
			}
			if sf.org == "" {
				return usageErrorf("no organization: pass --org https://dev.azure.com/ORG or set ADO_ORG_URL")
			}
			if concurrency < 1 || concurrency > 64 {
				return usageErrorf("--concurrency %d: want 1 to 64", concurrency)
			}
			cred, entra, err := credentialWithEntra(env, auth.String(), patFile)
			if err != nil {
				return err
			}
			opts := collect.SyncOptions{
				Mode: mode.String(), FullEvery: time.Duration(fullEvery), AuditOverlap: time.Duration(overlap),
				AuditRetention: time.Duration(retention), Teams: !noTeams, Wait: wait,
				Permissions: !noPerms, Namespaces: splitComma(namespaces), EntraSweep: time.Duration(entraSweep),
				Pipelines: !noPipes, Tokens: !noPATs, TokenSweep: time.Duration(tokenSweep),
			}
			if opts.Graph, err = sweepGraph(env, entra, graphURL, concurrency); err != nil {
				return err
			}
			if isSelector(sf.org) || snapshot.IsFolder(sf.db) {
				if perOrg < 1 || perOrg > concurrency || parallel < 1 || parallel > 64 {
					return usageErrorf("--org-concurrency %d, --parallel-orgs %d: want 1 to --concurrency, and 1 to 64", perOrg, parallel)
				}
				folder, err := folderOf(sf)
				if err != nil {
					return err
				}
				start := time.Now()
				results, gone, failed, err := syncMany(ctx, env, syncManyParams{
					selector: sf.org, folder: folder, accounts: accountsURL(env, accounts), cred: cred, retry: time.Duration(budget),
					concurrency: concurrency, perOrg: perOrg, parallel: parallel, opts: opts, out: env.Stdout,
				})
				if err != nil {
					return err
				}
				fmt.Fprintln(env.Stdout, manySummary(results, gone, time.Since(start)))
				if failed {
					return exitCode(exitError, nil)
				}
				return nil
			}
			start := time.Now()
			run, prog, err := syncStore(ctx, env, syncParams{
				sf: sf, cred: cred, concurrency: concurrency, opts: opts, retry: time.Duration(budget),
			})
			if err != nil {
				return waitHint(err)
			}
			// The time is the sync's own: discovery included, a wait for
			// another sync to release the store (--wait) not.
			fmt.Fprintln(env.Stdout, summary(run, prog, time.Since(start)-prog.LockWait()))
			if run.Note != "" {
				fmt.Fprintln(env.Stdout, "  "+run.Note)
			}
			return nil
		},
	}
}

// waitHint adds the --wait flag of sync and apply to a locked store's
// error (the snapshot package does not know the commands' flags).
func waitHint(err error) error {
	if errors.Is(err, snapshot.ErrLocked) {
		return fmt.Errorf("%w, or use --wait", err)
	}
	return err
}

// syncParams are what one sync needs; opts.Progress is set by syncStore.
type syncParams struct {
	sf          storeFlags // resolved
	cred        collect.Credential
	concurrency int
	opts        collect.SyncOptions
	retry       time.Duration // RetryPolicy.Budget (0: the default)
}

// syncStore runs one sync into the store, showing progress on stderr (or
// in the log), as 'exporter sync' and scheduled sync jobs do. It writes
// nothing to stdout.
func syncStore(ctx context.Context, env *Env, p syncParams) (snapshot.Run, *collect.Progress, error) {
	// Reach the organization before touching the store: a wrong URL or
	// credential then leaves no store file behind.
	client, err := collect.Dial(ctx, p.sf.org, p.cred, collect.Options{Concurrency: p.concurrency, Logger: env.Logger, Retry: collect.RetryPolicy{Budget: p.retry}})
	if err != nil {
		return snapshot.Run{}, nil, err
	}
	st, cleanup, err := p.sf.openForWriting(ctx)
	if err != nil {
		return snapshot.Run{}, nil, err
	}
	defer cleanup()
	defer st.Close()
	// Collecting more often kept the peak RSS of a first sync of the large
	// organization near 330 MiB instead of 365, in the same wall time
	// (README, performance).
	defer leanGC(env, 60)()
	prog := collect.NewProgress()
	p.opts.Progress = prog
	stop := showProgress(env, prog, client.Stats)
	run, err := collect.Sync(ctx, client, st, p.opts)
	stop()
	return run, prog, err
}

// sweepGraph is the Microsoft Graph connection of the Entra sweep's delta
// query: with an Entra credential, at --msgraph-url (or MSGRAPH_URL, or
// Microsoft's); none without one, or with --msgraph-url none.
func sweepGraph(env *Env, entra azcore.TokenCredential, url string, concurrency int) (*collect.MSGraph, error) {
	if url == "" {
		url = env.Getenv("MSGRAPH_URL")
	}
	if entra == nil || url == "none" {
		return nil, nil
	}
	if url == "" {
		url = collect.DefaultMSGraphURL
	}
	g, err := collect.DialMSGraph(url, collect.EntraTokensFor(entra, collect.MSGraphScope), collect.Options{Concurrency: concurrency, Logger: env.Logger})
	if err != nil {
		return nil, usageErrorf("--msgraph-url: %v", err)
	}
	return g, nil
}

// credential picks how to authenticate. Nothing here ever prints a secret.
func credential(env *Env, mode, patFile string) (collect.Credential, error) {
	cred, _, err := credentialWithEntra(env, mode, patFile)
	return cred, err
}

// credentialWithEntra is credential that also returns the Entra credential
// when it is the one picked (for tokens of other resources, such as
// Microsoft Graph), nil otherwise.
func credentialWithEntra(env *Env, mode, patFile string) (collect.Credential, azcore.TokenCredential, error) {
	c, err := pickCredential(env, mode, patFile)
	if err != nil || c.PAT != "" || c.Tokens != nil {
		return c, nil, err
	}
	opts := &azidentity.DefaultAzureCredentialOptions{}
	if h := env.Getenv("AZURE_AUTHORITY_HOST"); h != "" && !microsoftAuthority(h) {
		// An authority Microsoft does not run (an air-gapped cloud, the
		// simulator) cannot be checked with login.microsoftonline.com.
		opts.DisableInstanceDiscovery = true
	}
	dac, err := azidentity.NewDefaultAzureCredential(opts)
	if err != nil {
		return collect.Credential{}, nil, usageErrorf("--auth entra: %v", err)
	}
	ec := entraCredential{dac, env.Getenv}
	return collect.Credential{Tokens: collect.EntraTokens(ec)}, ec, nil
}

// entraCredential turns the chained credential's many-line failure into
// one line, and a half-configured service principal (a client and tenant
// id with no secret, certificate or token file, and no managed identity
// answering) into a configuration error: exit 2 with what to set.
type entraCredential struct {
	azcore.TokenCredential
	getenv func(string) string
}

func (c entraCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.TokenCredential.GetToken(ctx, opts)
	if err == nil || ctx.Err() != nil {
		return tok, err
	}
	set := func(k string) bool { return c.getenv(k) != "" }
	if set("AZURE_CLIENT_ID") && set("AZURE_TENANT_ID") && !set("AZURE_CLIENT_SECRET") && !set("AZURE_CLIENT_CERTIFICATE_PATH") && !set("AZURE_FEDERATED_TOKEN_FILE") && !set("AZURE_USERNAME") {
		return tok, usageErrorf("Microsoft Entra ID: AZURE_CLIENT_ID and AZURE_TENANT_ID are set, but none of AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE, and no managed identity gave a token: set one of them, or use ADO_PAT")
	}
	return tok, fmt.Errorf("Microsoft Entra ID gave no token: %s", condenseEntraError(err.Error()))
}

// condenseEntraError keeps the first line of each attempted credential's
// reason, on one line, dropping the request dumps under them.
func condenseEntraError(msg string) string {
	var parts []string
	for i, line := range strings.Split(msg, "\n") {
		switch {
		case i == 0:
			parts = append(parts, strings.TrimSpace(line))
		case strings.HasPrefix(line, "\t") && !strings.HasPrefix(line, "\t\t"):
			parts = append(parts, strings.TrimSpace(line))
		}
	}
	return strings.Join(parts, "; ")
}

// microsoftAuthority reports whether an authority host is one of
// Microsoft's public or national clouds.
func microsoftAuthority(host string) bool {
	u, err := url.Parse(host)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Hostname()) {
	case "login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn", "login.partner.microsoftonline.cn", "login.windows.net":
		return true
	}
	return false
}

// pickCredential settles a PAT or bearer token; an empty Credential means
// Entra ID.
func pickCredential(env *Env, mode, patFile string) (collect.Credential, error) {
	pat := env.Getenv("ADO_PAT")
	if patFile != "" {
		b, err := os.ReadFile(patFile)
		if err != nil {
			return collect.Credential{}, usageErrorf("read --pat-file: %v", err)
		}
		pat = strings.TrimSpace(string(b))
		if pat == "" {
			return collect.Credential{}, usageErrorf("--pat-file %s is empty", patFile)
		}
	}
	bearer := env.Getenv("ADO_BEARER_TOKEN")
	entraConfigured := env.Getenv("AZURE_CLIENT_ID") != "" || env.Getenv("AZURE_FEDERATED_TOKEN_FILE") != "" || env.Getenv("IDENTITY_ENDPOINT") != ""
	if mode == "auto" {
		switch {
		case pat != "":
			mode = "pat"
		case bearer != "":
			mode = "bearer"
		case entraConfigured:
			mode = "entra"
		default:
			return collect.Credential{}, usageErrorf("no credential: set ADO_PAT (or --pat-file), ADO_BEARER_TOKEN, or configure Entra ID (AZURE_CLIENT_ID …) and use --auth entra")
		}
	}
	switch mode {
	case "pat":
		if pat == "" {
			return collect.Credential{}, usageErrorf("--auth pat: set ADO_PAT or pass --pat-file")
		}
		return collect.Credential{PAT: pat}, nil
	case "bearer":
		if bearer == "" {
			return collect.Credential{}, usageErrorf("--auth bearer: set ADO_BEARER_TOKEN")
		}
		return collect.Credential{Tokens: collect.StaticToken(bearer)}, nil
	}
	return collect.Credential{}, nil
}

// isTerminal reports whether w is a terminal, where a live progress line
// makes sense; elsewhere (CI logs, container logs) progress is logged.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// showProgress reports a running sync until the returned stop is called.
func showProgress(env *Env, prog *collect.Progress, stats *collect.Stats) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	tty := isTerminal(env.Stderr)
	every := 10 * time.Second
	if tty {
		every = 250 * time.Millisecond
	}
	go func() {
		defer close(finished)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprint(env.Stderr, "\r\033[K")
				}
				return
			case <-tick.C:
				line := progressLine(prog, stats)
				if tty {
					fmt.Fprintf(env.Stderr, "\r\033[K%s", line)
				} else {
					env.Logger.Info("sync progress", "phase", prog.Phase(), "read", line)
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

func progressLine(prog *collect.Progress, stats *collect.Stats) string {
	names, counts := prog.Counts()
	var parts []string
	for i, n := range names {
		if counts[i] > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", thousands(counts[i]), n))
		}
	}
	total, _ := stats.Requests()
	return fmt.Sprintf("%s: %s · %s requests (%d retries)", prog.Phase(), strings.Join(parts, " · "), thousands(total), stats.Retries())
}

func summary(run snapshot.Run, prog *collect.Progress, d time.Duration) string {
	names, counts := prog.Counts()
	var parts []string
	for i, n := range names {
		parts = append(parts, fmt.Sprintf("%s %s", thousands(counts[i]), n))
	}
	return fmt.Sprintf("run %d (%s) of %s complete in %s: %s; %s versions written (%s added, %s closed); %s requests, %d retries",
		run.ID, run.Kind, run.Org, roundDuration(d), strings.Join(parts, ", "),
		thousands(run.VersionsWritten), thousands(run.VersionsAdded), thousands(run.VersionsClosed), thousands(run.APIRequests), run.Retries)
}

// roundDuration keeps two or three significant figures: 84ms, 1.2s, 1m3s.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond)
	case d < time.Minute:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// thousands formats 1234567 as 1,234,567.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// splitComma splits a comma-separated flag value, dropping empty items.
func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/provision"
	"github.com/ado-access/ado-access/internal/review"
	"github.com/ado-access/ado-access/internal/snapshot"
)

func newApplyCmd() *Command {
	var (
		sf          storeFlags
		decisions   string
		packetDir   string
		doApply     bool
		planOut     string
		status      bool
		allowStale  bool
		allowRemove bool
		maxChanges  int
		patFile     string
		auth        = newChoice("auto", "auto", "pat", "entra", "bearer")
		entraGroups bool
		graphURL    string
		concurrency int
		wait        bool
		format      = newChoice("table", "table", "json")
	)
	return &Command{
		Name:    "apply",
		Summary: "carry out reviewers' decisions (a filled-in packet or a plan file), safely",
		Usage: `
Usage: exporter apply --decisions FILE [--apply] [--db FILE] [--org URL] [--plan-out plan.json]
                      [--max-changes 50] [--allow-stale] [--allow-account-removal]
                      [--auth MODE] [--entra-group-provisioning]
       exporter apply --status [PLAN]

Turn decisions into changes in Azure DevOps. Without --apply it only plans:
it reads the decisions, checks them against the newest snapshot in the
store and re-reads every affected item live, prints what it would do, and
changes nothing. With --apply it carries the plan out, then re-reads what
it changed and prints each action's wanted state against the service's.

Decisions (--decisions FILE):
  DIR/                    a review campaign (export packet --split-by
                          project): every scope's filled-in packet.xlsx,
                          each bound to its own packet and to the manifest
                          campaign.json lists, planned as one. Each action's
                          source file names its scope's folder; its
                          approver is the row's Reviewer.
  packet.xlsx             a review packet's workbook with the Decision
                          column filled in (Keep, Revoke, Change) and a
                          Reviewer on every Revoke. It must stay in its
                          packet folder (or give --packet DIR): the packet
                          is verified against its manifest first, and the
                          decisions must be that packet's rows.
  effective_access.csv    a review table as CSV, with Decision, Reviewer
  (accounts, privileged…) (and Comment) columns added.
  plan.csv, plan.json     a plan file: action, subject, target, license,
                          reason, approver, ticket per row. Actions: grant,
                          revoke (a user or group in a group), add-account
                          (with a license and, as target, project groups:
                          "[Atlas]\Contributors; [Atlas]\Readers"),
                          set-license, remove-account. Name subjects by
                          descriptor, principal name or mail, and groups by
                          descriptor or "[Project]\Group" ("[org]\Group" at
                          organization level). Licenses: basic,
                          stakeholder, basic+test-plans. Pipeline
                          resources and tokens: revoke-pat (subject: the
                          owner; target: the authorization id),
                          remove-role (subject: the identity id; target:
                          scope/resource_id), close-pipelines (subject:
                          resource_type/resource_id; target: project id).
  Revoke on an effective_access or privileged_access row removes the direct
  membership; inherited access is explained (which direct membership would
  have to go) and left for an explicit decision. Revoke on an accounts row
  removes the account (needs --allow-account-removal). Revoke on a
  personal_access_tokens row revokes the token (revoke-pat), on a
  resource_roles row removes the role assignment (remove-role), on a
  pipeline_permissions row open to all pipelines closes it (close-pipelines).
  Keep and blank rows
  are counted; Change is listed, not carried out. Any invalid row (with its
  file, sheet and row) stops everything: nothing is applied.

Safety:
  - items already as wanted are skipped; items changed since the packet's
    run are refused unless --allow-stale;
  - never the last member of Project Collection Administrators, never the
    running identity's own administrative access, nor its own tokens or
    resource roles;
  - at most --max-changes changes per run; remove-account only with
    --allow-account-removal;
  - a credential that cannot write is refused, with the scope it needs,
    before anything is attempted (PAT: Graph (Read & manage) for
    memberships, Member Entitlement Management (Read & write) for accounts,
    Token Administration for tokens, Security (Manage) for resource roles,
    Pipeline Resources (Use and manage) for pipeline permissions);
  - every action is journaled in the store before and after its call. If
    apply is interrupted (even kill -9), run the same command again: what
    was done is not done again, the rest is finished.

Entra groups (aadgp.): with a PAT, grants and revokes are reported as no-ops
("membership managed in Entra ID"). With --auth entra and
--entra-group-provisioning they go through Microsoft Graph; the app needs
the GroupMember.ReadWrite.All application permission with admin consent.
Microsoft documents up to an hour before Azure DevOps shows such a change.

--status lists the plans applied with this store, or one plan's journal
(PLAN is its id or the start of it, given last).

Exit status: 0 when everything asked for is done (or already so), 1 when
something failed, was refused or needs a decision, 2 for bad input.

Examples:
  exporter apply --decisions review-q3/packet.xlsx                  # the plan; nothing changes
  exporter apply --decisions review-q3/packet.xlsx --apply
  exporter apply --decisions requests.csv --plan-out plan.json      # keep the plan to review
  exporter apply --decisions plan.json --apply --max-changes 200
  exporter apply --decisions grp.csv --apply --auth entra --entra-group-provisioning
  exporter apply --status
  exporter apply --status 3f2a9c1e
`,
		Flags: func(fs *flag.FlagSet) {
			sf.register(fs)
			fs.StringVar(&decisions, "decisions", "", "the decisions: a filled-in packet.xlsx, a review table CSV, or a plan file (.csv, .json)")
			fs.StringVar(&packetDir, "packet", "", "the packet folder, when the filled-in file is not in it")
			fs.BoolVar(&doApply, "apply", false, "carry the plan out (without it, only show it)")
			fs.StringVar(&planOut, "plan-out", "", "also write the plan as JSON to this file (it can be applied as it is)")
			fs.BoolVar(&status, "status", false, "show the journal: every plan, or the plan named last")
			fs.BoolVar(&allowStale, "allow-stale", false, "apply items that changed since the packet's run")
			fs.BoolVar(&allowRemove, "allow-account-removal", false, "let remove-account (and Revoke on an account row) remove accounts")
			fs.IntVar(&maxChanges, "max-changes", 50, "most changes one run makes")
			fs.StringVar(&patFile, "pat-file", "", "read the PAT from this file instead of ADO_PAT")
			fs.Var(auth, "auth", "how to authenticate (see 'exporter help sync')")
			fs.BoolVar(&entraGroups, "entra-group-provisioning", false, "change Entra group memberships through Microsoft Graph (needs --auth entra)")
			fs.StringVar(&graphURL, "msgraph-url", "", "Microsoft Graph endpoint (env MSGRAPH_URL; default "+collect.DefaultMSGraphURL+")")
			fs.IntVar(&concurrency, "concurrency", 4, "requests in flight at once")
			fs.BoolVar(&wait, "wait", false, "if a sync holds the store, wait for it instead of failing")
			fs.Var(format, "format", "output format of the plan, results and --status")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			if err := sf.resolve(env); err != nil {
				return err
			}
			if status {
				if len(args) > 1 {
					return usageErrorf("--status takes one PLAN, given last")
				}
				return applyStatus(ctx, env, &sf, args, format.String())
			}
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q", args[0])
			}
			if decisions == "" {
				return usageErrorf("no decisions: pass --decisions FILE (a filled-in packet.xlsx, a review table CSV, or a plan file)")
			}
			if maxChanges < 1 {
				return usageErrorf("--max-changes %d: want 1 or more", maxChanges)
			}
			if concurrency < 1 || concurrency > 64 {
				return usageErrorf("--concurrency %d: want 1 to 64", concurrency)
			}
			if entraGroups && auth.String() != "entra" {
				return usageErrorf("--entra-group-provisioning needs --auth entra: Microsoft Graph takes an Entra app token, not a PAT")
			}
			cred, entra, err := credentialWithEntra(env, auth.String(), patFile)
			if err != nil {
				return err
			}
			_, err = applyDecisions(ctx, env, applyParams{
				sf: sf, decisions: decisions, packetDir: packetDir, apply: doApply, planOut: planOut,
				allowStale: allowStale, allowRemove: allowRemove, maxChanges: maxChanges,
				cred: cred, entra: entra, entraGroups: entraGroups, graphURL: graphURL,
				concurrency: concurrency, wait: wait, format: format.String(),
			})
			return err
		},
	}
}

// applyParams are what an apply needs, from the command's flags or a
// scheduled apply-plan job.
type applyParams struct {
	sf                             storeFlags
	decisions, packetDir, planOut  string
	apply, allowStale, allowRemove bool
	maxChanges, concurrency        int
	cred                           collect.Credential
	entra                          azcore.TokenCredential
	entraGroups                    bool
	graphURL, format               string
	wait                           bool
}

// applied is what an apply did, for a job's summary.
type applied struct {
	plan     string
	actions  int   // actions carried out (journaled done)
	requests int64 // requests to Azure DevOps
}

// applyDecisions reads the decisions, builds the plan, prints it, and with
// p.apply carries it out and prints the outcome; the command and scheduled
// apply-plan jobs share it.
func applyDecisions(ctx context.Context, env *Env, p applyParams) (out applied, err error) {
	decisions, doApply, format := p.decisions, p.apply, p.format
	sf := p.sf
	d, err := readDecisions(ctx, env, decisions, p.packetDir)
	if err != nil {
		return out, inputError(err)
	}
	st, unlock, err := openApplyStore(ctx, env, &sf, doApply, p.wait)
	if err != nil {
		return out, err
	}
	defer st.Close()
	defer unlock()
	// The organization is the store's (as last synced), unless --org
	// names how to reach it now.
	org := sf.org
	if o, ok, err := st.Organization(ctx); err != nil {
		return out, err
	} else if !ok {
		return out, fmt.Errorf("%w: the store %s holds no organization yet: run 'exporter sync' first", provision.ErrNoSnapshot, sf.db)
	} else if org == "" || isSelector(org) {
		org = o.URL // a name picked the store in a folder; reach it by its URL
	}
	client, err := collect.Dial(ctx, org, p.cred, collect.Options{Concurrency: p.concurrency, Logger: env.Logger})
	if err != nil {
		return out, err
	}
	live := &provision.Live{ADO: client, Concurrency: p.concurrency}
	if p.entraGroups {
		graphURL := p.graphURL
		if graphURL == "" {
			graphURL = env.Getenv("MSGRAPH_URL")
		}
		if graphURL == "" {
			graphURL = collect.DefaultMSGraphURL
		}
		if live.Graph, err = collect.DialMSGraph(graphURL, collect.EntraTokensFor(p.entra, collect.MSGraphScope), collect.Options{Concurrency: p.concurrency, Logger: env.Logger}); err != nil {
			return out, err
		}
	}
	if client.Me.Descriptor == "" {
		env.Logger.Warn("the service did not say who the credential is; revokes and removals will be refused")
	}
	start := time.Now()
	plan, err := provision.Build(ctx, st, d, live, provision.Options{Org: sf.org, AllowStale: p.allowStale, AllowAccountRemoval: p.allowRemove, MaxChanges: p.maxChanges, Me: client.Me})
	if err != nil {
		return out, inputError(err)
	}
	out.plan = plan.ID
	planTook := time.Since(start)
	if p.planOut != "" {
		if err := provision.WritePlanJSON(p.planOut, plan); err != nil {
			return out, fmt.Errorf("write --plan-out: %w", err)
		}
	}
	defer func() { out.requests, _ = client.Stats.Requests() }()
	var writeErr error
	if plan.Count(provision.StateApply) > 0 {
		writeErr = live.CheckWriteAccess(ctx, plan)
	}
	if !doApply {
		if format == "json" {
			if err := printJSON(env.Stdout, map[string]any{"plan": plan, "applied": false, "write_access_error": errText(writeErr)}); err != nil {
				return out, err
			}
			return out, dryRunExit(plan)
		}
		printPlan(env.Stdout, plan, planTook)
		if writeErr != nil {
			fmt.Fprintf(env.Stdout, "\nwarning: this credential cannot carry the plan out: %v\n", writeErr)
		}
		if plan.Refusal != "" {
			fmt.Fprintf(env.Stdout, "\nrefused as it is: %s\n", plan.Refusal)
		}
		fmt.Fprintf(env.Stdout, "\ndry run: nothing was changed. To carry the plan out: exporter apply --decisions %s --apply\n", decisions)
		return out, dryRunExit(plan)
	}
	if format == "table" {
		printPlan(env.Stdout, plan, planTook)
	}
	if plan.Refusal != "" {
		return out, fmt.Errorf("nothing was applied: %s", plan.Refusal)
	}
	if writeErr != nil {
		return out, fmt.Errorf("nothing was applied: %w", writeErr)
	}
	applier := &provision.Applier{Store: st, Live: live, Concurrency: p.concurrency, Log: env.Logger}
	stop := applyProgress(env, applier, plan.Count(provision.StateApply))
	start = time.Now()
	res, err := applier.Apply(ctx, plan)
	stop()
	if err != nil {
		return out, fmt.Errorf("apply plan %s: %w (run the same command again to finish it: nothing done is done twice)", plan.ID, err)
	}
	out.actions = res.Counts[snapshot.JournalDone]
	took := time.Since(start)
	checks, verr := live.Verify(ctx, plan)
	total, _ := client.Stats.Requests()
	if format == "json" {
		if err := printJSON(env.Stdout, map[string]any{"plan": plan, "applied": true, "outcomes": outcomesJSON(res), "verification": checks, "requests": total}); err != nil {
			return out, err
		}
	} else {
		printOutcomes(env.Stdout, plan, res, checks, took, total)
	}
	if verr != nil {
		return out, fmt.Errorf("verify plan %s: %w", plan.ID, verr)
	}
	return out, applyExit(plan, res, checks)
}

// readDecisions reads a decisions file, or every workbook of a review
// campaign (a folder, or a blob location fetched first, with
// campaign.json).
func readDecisions(ctx context.Context, env *Env, decisions, packetDir string) (*provision.Decisions, error) {
	if export.IsBlobLocation(decisions) {
		sink, err := export.OpenSink(ctx, decisions, env.Getenv, export.BlobOptions{})
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		dir, cleanup, err := review.Fetch(ctx, sink)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		if !review.IsCampaign(dir) {
			return nil, usageErrorf("%s: no %s there; a blob location names a review campaign", decisions, review.CampaignName)
		}
		return review.Decisions(ctx, dir)
	}
	if review.IsCampaign(decisions) {
		if packetDir != "" {
			return nil, usageErrorf("--packet is for one filled-in file; a campaign's packets are its sub-folders")
		}
		return review.Decisions(ctx, decisions)
	}
	return provision.ReadDecisions(ctx, decisions, provision.ReadOptions{PacketDir: packetDir})
}

// inputError makes bad decisions exit 2, with every problem listed.
func inputError(err error) error {
	var ie *provision.InputError
	if errors.As(err, &ie) {
		return exitCode(exitUsage, err)
	}
	return err
}

// openApplyStore opens the store: to read, for a plan; to write the
// journal, with the writer lock held (so apply and sync never write at
// once), for --apply.
func openApplyStore(ctx context.Context, env *Env, sf *storeFlags, write, wait bool) (*snapshot.Store, func(), error) {
	if !write {
		st, err := sf.openForReading(ctx, env)
		return st, func() {}, err
	}
	db, err := sf.storePath(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(db); err != nil {
		return nil, nil, fmt.Errorf("%w at %s: run 'exporter sync' first", snapshot.ErrNoStore, db)
	}
	st, err := snapshot.Open(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	if err := st.CheckOrg(ctx, sf.org); err != nil && !snapshot.IsFolder(sf.db) {
		st.Close()
		return nil, nil, err
	}
	lock, err := st.Lock(ctx, wait)
	if err != nil {
		st.Close()
		return nil, nil, waitHint(err)
	}
	return st, func() { lock.Unlock() }, nil
}

// applyExit is the exit status of an apply: 1 when anything failed, was
// refused, did not verify, or still needs a decision.
func applyExit(p *provision.Plan, res *provision.Result, checks []provision.Check) error {
	var why []string
	if n := res.Counts[snapshot.JournalFailed]; n > 0 {
		why = append(why, fmt.Sprintf("%d failed", n))
	}
	if n := res.Counts[snapshot.JournalRefused]; n > 0 {
		why = append(why, fmt.Sprintf("%d refused", n))
	}
	bad := 0
	for _, c := range checks {
		if !c.OK && !c.Pending {
			bad++
		}
	}
	if bad > 0 {
		why = append(why, fmt.Sprintf("%d not as wanted when read again", bad))
	}
	if n := p.OpenNotes(); n > 0 {
		why = append(why, fmt.Sprintf("%d decision(s) need an explicit revoke", n))
	}
	if len(why) > 0 {
		return exitCode(exitError, fmt.Errorf("plan %s: %s", p.ID, strings.Join(why, ", ")))
	}
	return nil
}

// dryRunExit is the exit status of a plan shown without --apply: 1 when
// applying it would not do everything asked (the plan is refused as a
// whole, or items are refused or need an explicit decision), as an apply
// would exit.
func dryRunExit(p *provision.Plan) error {
	var why []string
	if p.Refusal != "" {
		why = append(why, "refused as a whole")
	}
	if n := p.Count(provision.StateRefused); n > 0 {
		why = append(why, fmt.Sprintf("%d refused", n))
	}
	if n := p.OpenNotes(); n > 0 {
		why = append(why, fmt.Sprintf("%d decision(s) need an explicit revoke", n))
	}
	if len(why) > 0 {
		return exitCode(exitError, fmt.Errorf("plan %s (dry run): %s", p.ID, strings.Join(why, ", ")))
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// printPlan prints a plan as a table, with its counts.
func printPlan(w io.Writer, p *provision.Plan, took time.Duration) {
	from := "plan file " + filepath.Base(p.Source)
	if p.PacketID != "" {
		from = fmt.Sprintf("packet %s (run %d)", p.PacketID, p.PacketRun)
	}
	fmt.Fprintf(w, "plan %s for %s: %s, checked against run %d and live (%s)\n\n", p.ID, p.Org, from, p.BaseRun, roundDuration(took))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tACTION\tSUBJECT\tTARGET\tSTATE\tNOTE\tFROM")
	for _, a := range p.Actions {
		_, target := a.Target()
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Seq, a.Kind, show(a.Subject.Name), show(target), a.State, show(a.Note), show(sourcesText(a.Sources)))
	}
	tw.Flush()
	if len(p.Notes) > 0 {
		fmt.Fprintln(w, "\nNot actions:")
		for _, n := range p.Notes {
			mark := "  "
			if n.Open {
				mark = "! "
			}
			fmt.Fprintf(w, "%s%s: %s", mark, n.Source, displayEscaper.Replace(n.Subject))
			if n.Group != "" {
				fmt.Fprintf(w, " in %s", displayEscaper.Replace(n.Group))
			}
			fmt.Fprintf(w, ": %s\n", displayEscaper.Replace(n.Msg))
		}
	}
	var parts []string
	for _, s := range []string{provision.StateApply, provision.StateSkip, provision.StateNoop, provision.StateRefused, provision.StateDone} {
		if n := p.Count(s); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "none")
	}
	fmt.Fprintf(w, "\n%d action(s): %s; %d Keep, %d without a decision", len(p.Actions), strings.Join(parts, ", "), p.Keep, p.Blank)
	if n := p.OpenNotes(); n > 0 {
		fmt.Fprintf(w, "; %d need(s) an explicit decision", n)
	}
	fmt.Fprintln(w)
	if len(p.Unchecked) > 0 {
		fmt.Fprintf(w, "note: the packet has no CSV copy of %s, so those rows were bound to it by its id and row counts only\n", strings.Join(p.Unchecked, ", "))
	}
}

func show(s string) string {
	if s == "" {
		return "-"
	}
	return displayEscaper.Replace(s)
}

func sourcesText(srcs []provision.Source) string {
	var out []string
	for _, s := range srcs {
		out = append(out, s.String())
	}
	return strings.Join(out, "; ")
}

// printOutcomes prints what apply did and the verification.
func printOutcomes(w io.Writer, p *provision.Plan, res *provision.Result, checks []provision.Check, took time.Duration, requests int64) {
	var parts []string
	for _, s := range []string{snapshot.JournalDone, snapshot.JournalSkipped, snapshot.JournalNoop, snapshot.JournalRefused, snapshot.JournalFailed} {
		if n := res.Counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if n := p.Count(provision.StateDone); n > 0 {
		parts = append(parts, fmt.Sprintf("%d done earlier", n))
	}
	if len(parts) == 0 {
		fmt.Fprintf(w, "\nplan %s: nothing to apply (no actions); %d requests in all\n", p.ID, requests)
	} else {
		fmt.Fprintf(w, "\napplied plan %s in %s: %s; %d requests in all\n", p.ID, roundDuration(took), strings.Join(parts, ", "), requests)
	}
	for _, o := range res.Outcomes {
		if o.Status == snapshot.JournalFailed {
			fmt.Fprintf(w, "  failed: %d %s %s: %s\n", o.Action.Seq, o.Action.Kind, displayEscaper.Replace(o.Action.Subject.Name), displayEscaper.Replace(o.Err))
		}
	}
	if len(checks) == 0 {
		return
	}
	fmt.Fprintln(w, "\nVerification, read live:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tACTION\tSUBJECT\tTARGET\tWANTED\tNOW\tOK")
	pending := false
	for _, c := range checks {
		ok := "yes"
		switch {
		case c.Pending:
			ok, pending = "pending", true
		case !c.OK:
			ok = "NO"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Seq, c.Action, show(c.Subject), show(c.Target), c.Wanted, c.Now, ok)
	}
	tw.Flush()
	if pending {
		fmt.Fprintln(w, "pending: "+provision.EntraDelay)
	}
	fmt.Fprintln(w, "The next 'exporter sync' records these changes; 'exporter diff' then shows them.")
}

func outcomesJSON(res *provision.Result) []map[string]any {
	var out []map[string]any
	for _, o := range res.Outcomes {
		out = append(out, map[string]any{"seq": o.Action.Seq, "status": o.Status, "http_status": o.HTTPStatus, "error": o.Err})
	}
	return out
}

// applyProgress shows how far an apply is: a live line on a terminal, a
// log line every 10 s otherwise.
func applyProgress(env *Env, ap *provision.Applier, total int) (stop func()) {
	tty := isTerminal(env.Stderr)
	last := time.Now()
	ap.Progress = func(done, n int) {
		switch {
		case tty:
			fmt.Fprintf(env.Stderr, "\r\033[Kapplying: %d of %d", done, n)
		case time.Since(last) > 10*time.Second:
			last = time.Now()
			env.Logger.Info("apply progress", "done", done, "of", n)
		}
	}
	return func() {
		if tty && total > 0 {
			fmt.Fprint(env.Stderr, "\r\033[K")
		}
	}
}

// applyStatus prints the journal: the plans, or one plan's actions.
func applyStatus(ctx context.Context, env *Env, sf *storeFlags, args []string, format string) error {
	st, err := sf.openForReading(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	if len(args) == 0 {
		plans, err := st.Plans(ctx)
		if err != nil {
			return err
		}
		if format == "json" {
			if plans == nil {
				plans = []snapshot.PlanRecord{}
			}
			return printJSON(env.Stdout, plans)
		}
		if len(plans) == 0 {
			fmt.Fprintln(env.Stdout, "no plan has been applied with this store")
			return nil
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PLAN\tAPPLIED\tORG\tRUN\tPACKET RUN\tSOURCE\tACTIONS\tDONE\tSKIPPED\tNOOP\tREFUSED\tFAILED\tSTARTED")
		for _, p := range plans {
			applied := "-"
			if p.AppliedAt != nil {
				applied = p.AppliedAt.UTC().Format(time.RFC3339)
			}
			s := p.Statuses
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", p.ID, applied, p.Org, p.BaseRun, p.PacketRun, show(filepath.Base(p.Source)), p.Actions,
				s[snapshot.JournalDone], s[snapshot.JournalSkipped], s[snapshot.JournalNoop], s[snapshot.JournalRefused], s[snapshot.JournalFailed], s[snapshot.JournalStarted])
		}
		return tw.Flush()
	}
	p, err := st.Plan(ctx, args[0])
	if err != nil {
		return err
	}
	j, err := st.Journal(ctx, p.ID)
	if err != nil {
		return err
	}
	if format == "json" {
		if j == nil {
			j = []snapshot.JournalEntry{}
		}
		return printJSON(env.Stdout, map[string]any{"plan": p, "journal": j})
	}
	fmt.Fprintf(env.Stdout, "plan %s for %s, from %s (built against run %d", p.ID, p.Org, p.Source, p.BaseRun)
	if p.PacketRun != 0 {
		fmt.Fprintf(env.Stdout, ", packet %s of run %d", p.PacketID, p.PacketRun)
	}
	fmt.Fprintf(env.Stdout, "), applied by %s\n\n", show(p.Actor))
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tACTION\tSUBJECT\tTARGET\tSTATUS\tHTTP\tFINISHED\tAPPROVER\tTICKET\tFROM\tNOTE")
	for _, e := range j {
		fin := "-"
		if e.FinishedAt != nil {
			fin = e.FinishedAt.UTC().Format(time.RFC3339)
		}
		from := filepath.Base(e.SourceFile)
		if from == export.WorkbookName {
			// A campaign's workbooks are told apart by their scope's folder.
			from = filepath.Base(filepath.Dir(e.SourceFile)) + "/" + from
		}
		if e.SourceSheet != "" {
			from += " " + e.SourceSheet
		}
		from += fmt.Sprintf(" row %d", e.SourceRow)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Action, show(e.SubjectName), show(e.TargetName), e.Status, e.HTTPStatus, fin,
			show(e.Approver), show(e.Ticket), show(from), show(e.Error))
	}
	return tw.Flush()
}

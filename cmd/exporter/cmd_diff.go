package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ado-access/ado-access/internal/diff"
	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/snapshot"
)

func newDiffCmd() *Command {
	var (
		sf          storeFlags
		from, to    string
		effective   bool
		kinds       string
		dormantDays int
		format      = newChoice("table", "table", "json", "csv")
		exitCodes   bool
		packets     bool
		fs          *flag.FlagSet
	)
	return &Command{
		Name:    "diff",
		Summary: "show what changed between two runs or two packets, direct and effective access",
		Usage: `
Usage: exporter diff [--db FILE] [--org URL] [--from RUN|DATE] [--to RUN|DATE|latest]
                     [--effective] [--kind KINDS] [--dormant-days N]
                     [--format table|json|csv] [--exit-code]
       exporter diff --packets OLD NEW [--effective] [--kind KINDS] [--format …] [--exit-code]

Show what changed between two complete runs of an organization: accounts,
groups, group rules, memberships, projects, teams, team members and
repositories added, removed or modified (each changed field, before and
after). Only the rows that changed between the runs are read, so a diff
costs what changed, not the size of the organization.

Change kinds:
  added, removed, modified   an entity appeared, went, or changed fields
  license_changed            an account's access level (license, its source,
                             or how it was assigned) changed
  disabled, enabled          an account's entitlement was disabled, or no
                             longer is
  dormant                    no access for --dormant-days (last access, or
                             creation for accounts that never signed in)
                             at --to, but not at --from; judged on the
                             latest last access the store knows
  access_gained, access_lost with --effective: an account belongs to a group
                             directly or through nested groups, or no longer
                             does, with the grant path ("via Contributors →
                             Project Administrators")
  permission_gained, permission_lost
                             with --kind permissions: an account is now
                             allowed (or explicitly denied) a permission on a
                             project, repository or branch, or no longer is,
                             with the group path; it evaluates every
                             permission of both runs, so it runs only when
                             --kind asks for it

RUN is a run id (see 'exporter runs'); DATE (2026-11-01 or RFC 3339) picks
the newest complete run started at or before it (a bare date means the end
of that day, UTC). --to defaults to the latest complete run, --from to the
complete run before --to.

--kind narrows what is shown: entity kinds (accounts, users,
service-accounts, service-principals, groups, group-rules, memberships,
projects, teams, team-members, repos, effective, permissions) and change kinds (the list
above), comma-separated. A change is shown if it matches one of the entity
kinds given (any when none) and one of the change kinds given (any when
none). effective, access_gained and access_lost imply --effective.

--packets diffs two exported review packets (folders with CSV or Parquet
tables) instead, with no store and no network.

With --exit-code the exit status is 1 when there are differences, 0 when
there are none and 2 on any error, as 'git diff --exit-code'.

CSV has one row per changed field (kind, entity, key, subject,
subject_kind, name, field, before, after, path); JSON one object per change
with a "fields" array. The table is for people: names, not descriptors,
with control characters escaped.

Examples:
  exporter diff
  exporter diff --from 2026-08-01 --to latest --effective --kind access_gained
  exporter diff --from 12 --to 15 --kind users,license_changed,disabled --format csv
  exporter diff --exit-code --kind memberships > /dev/null; echo $?   # 0, 1 or 2
  exporter diff --packets review-2026-q2/ review-2026-q3/ --effective
`,
		Flags: func(f *flag.FlagSet) {
			fs = f
			sf.register(f)
			f.StringVar(&from, "from", "", "older run: id or date (default: the complete run before --to)")
			f.StringVar(&to, "to", "latest", "newer run: id, date or latest")
			f.BoolVar(&effective, "effective", false, "also diff effective access through nested groups")
			f.StringVar(&kinds, "kind", "", "entity and change kinds to show, comma-separated (default: all)")
			f.IntVar(&dormantDays, "dormant-days", diff.DefaultDormantDays, "days without access that make an account dormant (0: off)")
			f.Var(format, "format", "output format")
			f.BoolVar(&exitCodes, "exit-code", false, "exit 1 when there are differences, 0 when none, 2 on error")
			f.BoolVar(&packets, "packets", false, "diff two packet folders, OLD and NEW, instead of two runs")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			sel, err := parseKinds(kinds)
			if err == nil && dormantDays < 0 {
				err = usageErrorf("--dormant-days %d: want 0 (off) or more", dormantDays)
			}
			if err != nil {
				return err
			}
			opts := sel.options(effective, dormantDays)
			var n int
			if packets {
				n, err = diffPackets(ctx, env, fs, args, opts, sel, format.String())
			} else {
				n, err = diffRuns(ctx, env, &sf, from, to, args, opts, sel, format.String())
			}
			var ue *usageError
			switch {
			case err != nil && exitCodes && !errors.As(err, &ue):
				return exitCode(2, err)
			case err != nil:
				return err
			case exitCodes && n > 0:
				return exitCode(1, nil)
			}
			return nil
		},
	}
}

// diffRuns diffs two runs of the store and prints the changes; it returns
// how many it printed.
func diffRuns(ctx context.Context, env *Env, sf *storeFlags, from, to string, args []string, opts diff.Options, sel selection, format string) (int, error) {
	if len(args) > 0 {
		return 0, usageErrorf("unexpected argument %q (to diff packets, use --packets OLD NEW)", args[0])
	}
	n, _, _, err := diffStore(ctx, env, env.Stdout, sf, from, to, opts, sel, format)
	return n, err
}

// diffStore diffs two runs of the store (from and to as --from and --to
// take them) and writes the selected changes to w, as 'exporter diff' and
// scheduled diff reports do. It returns how many it wrote and the runs.
func diffStore(ctx context.Context, env *Env, w io.Writer, sf *storeFlags, from, to string, opts diff.Options, sel selection, format string) (int, snapshot.Run, snapshot.Run, error) {
	var a, b snapshot.Run
	st, err := sf.openForReading(ctx, env)
	if err != nil {
		return 0, a, b, err
	}
	defer st.Close()
	b, err = pickDiffRun(ctx, st, to, "--to")
	if err != nil {
		return 0, a, b, err
	}
	if from == "" {
		a, err = runBefore(ctx, st, b)
	} else {
		a, err = pickDiffRun(ctx, st, from, "--from")
	}
	if err != nil {
		return 0, a, b, err
	}
	if a.ID > b.ID {
		return 0, a, b, usageErrorf("--from is run %d, newer than --to (run %d): swap them", a.ID, b.ID)
	}
	title := fmt.Sprintf("%s: run %d (%s) → run %d (%s)", b.Org, a.ID, runTime(a), b.ID, runTime(b))
	perms, onlyPerms := sel.permissions()
	n, err := printChanges(w, format, title, sel, func(emit func(diff.Change) error) error {
		if !onlyPerms {
			if err := diff.Between(ctx, st, a.ID, b.ID, opts, emit); err != nil {
				return err
			}
		}
		if perms {
			return diff.PermissionChanges(ctx, st, a.ID, b.ID, emit)
		}
		return nil
	})
	return n, a, b, err
}

func diffPackets(ctx context.Context, env *Env, fs *flag.FlagSet, args []string, opts diff.Options, sel selection, format string) (int, error) {
	var clash []string
	fs.Visit(func(f *flag.Flag) {
		if slices.Contains([]string{"db", "org", "from", "to"}, f.Name) {
			clash = append(clash, "--"+f.Name)
		}
	})
	if len(clash) > 0 {
		return 0, usageErrorf("--packets diffs two folders; %s apply to runs of a store", strings.Join(clash, ", "))
	}
	if len(args) != 2 {
		return 0, usageErrorf("--packets needs two folders, OLD and NEW (got %d arguments)", len(args))
	}
	// A packet is evidence only if it is the packet that was exported,
	// whole: verify both, as 'exporter verify' does, before reading them.
	for _, dir := range args {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return 0, usageErrorf("--packets: %s is not a packet folder", dir)
		}
		if _, err := export.VerifiedOrgPacket(ctx, export.NewLocalSink(dir)); err != nil {
			return 0, err
		}
	}
	title := fmt.Sprintf("packet %s → packet %s", args[0], args[1])
	return printChanges(env.Stdout, format, title, sel, func(emit func(diff.Change) error) error {
		return diff.Packets(ctx, args[0], args[1], opts, emit)
	})
}

// pickDiffRun resolves a run given as an id, a date or "latest".
func pickDiffRun(ctx context.Context, st *snapshot.Store, spec, flagName string) (snapshot.Run, error) {
	if spec == "" || spec == "latest" {
		return st.LatestRun(ctx)
	}
	if id, err := strconv.ParseInt(spec, 10, 64); err == nil {
		return st.CompleteRun(ctx, id)
	}
	if t, err := time.Parse(time.RFC3339, spec); err == nil {
		return st.RunAt(ctx, t)
	}
	if d, err := time.Parse(time.DateOnly, spec); err == nil {
		return st.RunAt(ctx, d.AddDate(0, 0, 1).Add(-time.Nanosecond))
	}
	return snapshot.Run{}, usageErrorf("%s %q: want a run id, a date (2026-11-01 or RFC 3339) or latest", flagName, spec)
}

// runBefore is the complete run of the same organization before b.
func runBefore(ctx context.Context, st *snapshot.Store, b snapshot.Run) (snapshot.Run, error) {
	runs, err := st.Runs(ctx)
	if err != nil {
		return snapshot.Run{}, err
	}
	for i := len(runs) - 1; i >= 0; i-- {
		if r := runs[i]; r.ID < b.ID && r.Status == "complete" {
			return r, nil
		}
	}
	return snapshot.Run{}, fmt.Errorf("%w: run %d is the first complete run of %s, there is nothing before it to compare with", snapshot.ErrNoRun, b.ID, b.Org)
}

func runTime(r snapshot.Run) string {
	t := r.StartedAt
	if r.SnapshotTime != nil {
		t = *r.SnapshotTime
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// selection is what --kind asks for.
type selection struct {
	entities []string // entity selectors: accounts, users, groups, …
	kinds    []string // change kinds
}

// entitySelectors maps --kind entity names to diff entities and, for
// accounts, the subject kind they keep.
var entitySelectors = map[string]struct{ entity, subjectKind string }{
	"accounts":           {diff.EntAccounts, ""},
	"users":              {diff.EntAccounts, "user"},
	"service-accounts":   {diff.EntAccounts, "service_account"},
	"service-principals": {diff.EntAccounts, "service_principal"},
	"groups":             {diff.EntGroups, ""},
	"group-rules":        {diff.EntGroupRules, ""},
	"memberships":        {diff.EntMemberships, ""},
	"projects":           {diff.EntProjects, ""},
	"teams":              {diff.EntTeams, ""},
	"team-members":       {diff.EntTeamMembers, ""},
	"repos":              {diff.EntRepositories, ""},
	"repositories":       {diff.EntRepositories, ""},
	"effective":          {diff.EntEffectiveAccess, ""},
	"effective-access":   {diff.EntEffectiveAccess, ""},
	"permissions":        {diff.EntEffectivePerms, ""},
}

// permissionKinds are the change kinds of the permission diff, which runs
// only when --kind asks for it (it evaluates every permission of both runs).
var permissionKinds = []string{diff.PermissionGained, diff.PermissionLost}

// permissions reports whether the selection asks for the permission diff,
// and whether for nothing else.
func (s selection) permissions() (any, only bool) {
	for _, e := range s.entities {
		if entitySelectors[e].entity == diff.EntEffectivePerms {
			any = true
		}
	}
	for _, k := range s.kinds {
		if slices.Contains(permissionKinds, k) {
			any = true
		}
	}
	if !any {
		return false, false
	}
	only = true
	for _, e := range s.entities {
		only = only && entitySelectors[e].entity == diff.EntEffectivePerms
	}
	for _, k := range s.kinds {
		only = only && slices.Contains(permissionKinds, k)
	}
	return true, only
}

func parseKinds(s string) (selection, error) {
	var sel selection
	for _, k := range strings.Split(s, ",") {
		k = strings.ToLower(strings.TrimSpace(k))
		switch {
		case k == "":
		case slices.Contains(diff.Kinds, strings.ReplaceAll(k, "-", "_")) || slices.Contains(permissionKinds, strings.ReplaceAll(k, "-", "_")):
			sel.kinds = append(sel.kinds, strings.ReplaceAll(k, "-", "_"))
		default:
			name := strings.ReplaceAll(k, "_", "-")
			if _, ok := entitySelectors[name]; !ok {
				var known []string
				for n := range entitySelectors {
					known = append(known, n)
				}
				slices.Sort(known)
				return sel, usageErrorf("--kind %q: want entity kinds (%s) or change kinds (%s)", k, strings.Join(known, ", "), strings.Join(append(slices.Clone(diff.Kinds), permissionKinds...), ", "))
			}
			sel.entities = append(sel.entities, name)
		}
	}
	return sel, nil
}

// options are the diff options that compute what the selection shows,
// and no more.
func (s selection) options(effective bool, dormantDays int) diff.Options {
	opts := diff.Options{Effective: effective, DormantDays: dormantDays}
	if dormantDays == 0 {
		opts.DormantDays = -1
	}
	add := func(ent string) {
		if ent == diff.EntEffectivePerms {
			return // the permission diff runs beside (see selection.permissions)
		}
		if ent == diff.EntEffectiveAccess {
			opts.Effective = true
		}
		if !slices.Contains(opts.Entities, ent) {
			opts.Entities = append(opts.Entities, ent)
		}
	}
	for _, e := range s.entities {
		add(entitySelectors[e].entity)
	}
	if len(s.entities) > 0 {
		return opts
	}
	// Change kinds alone: the entities that can have them.
	for _, k := range s.kinds {
		switch k {
		case diff.AccessGained, diff.AccessLost:
			add(diff.EntEffectiveAccess)
		case diff.LicenseChanged:
			add(diff.EntAccounts)
			add(diff.EntGroupRules)
		case diff.Disabled, diff.Enabled, diff.Dormant:
			add(diff.EntAccounts)
		case diff.PermissionGained, diff.PermissionLost:
		default:
			return diff.Options{Effective: opts.Effective, DormantDays: opts.DormantDays}
		}
	}
	return opts
}

// keep reports whether a change is selected.
func (s selection) keep(c diff.Change) bool {
	if len(s.kinds) > 0 && !slices.Contains(s.kinds, c.Kind) {
		return false
	}
	if len(s.entities) == 0 {
		return true
	}
	for _, e := range s.entities {
		sel := entitySelectors[e]
		if sel.entity == c.Entity && (sel.subjectKind == "" || sel.subjectKind == c.SubjectKind) {
			return true
		}
	}
	return false
}

// printChanges runs a diff and prints the selected changes; it returns how
// many it printed.
func printChanges(w io.Writer, format, title string, sel selection, run func(emit func(diff.Change) error) error) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10) // a write per change would be a system call per change
	defer bw.Flush()
	out, err := newChangeWriter(bw, format, title)
	if err != nil {
		return 0, err
	}
	n := 0
	err = run(func(c diff.Change) error {
		if !sel.keep(c) {
			return nil
		}
		n++
		return out.write(c)
	})
	if err != nil {
		return n, err // no summary, no closing bracket: the output is incomplete
	}
	return n, out.close(n)
}

// changeWriter prints changes in one format.
type changeWriter interface {
	write(c diff.Change) error
	close(n int) error // n: how many changes were written
}

func newChangeWriter(w io.Writer, format, title string) (changeWriter, error) {
	switch format {
	case "json":
		return &jsonChanges{w: w}, nil
	case "csv":
		rw, err := newRowWriter(w, format, []string{"kind", "entity", "key", "subject", "subject_kind", "name", "field", "before", "after", "path"})
		return csvChanges{rw}, err
	}
	fmt.Fprintln(w, displayEscaper.Replace(title))
	rw, err := newRowWriter(w, "table", []string{"kind", "entity", "name", "detail"})
	return &tableChanges{w: w, rw: rw}, err
}

// csvChanges writes one row per changed field (one row for a change
// without fields), so that a spreadsheet can filter on them.
type csvChanges struct{ rw rowWriter }

func (c csvChanges) write(ch diff.Change) error {
	if len(ch.Fields) == 0 {
		return c.rw.Row([]any{ch.Kind, ch.Entity, ch.Key, ch.Subject, ch.SubjectKind, ch.Name, "", "", "", ch.Path})
	}
	for _, f := range ch.Fields {
		if err := c.rw.Row([]any{ch.Kind, ch.Entity, ch.Key, ch.Subject, ch.SubjectKind, ch.Name, f.Name, f.Before, f.After, ch.Path}); err != nil {
			return err
		}
	}
	return nil
}

func (c csvChanges) close(int) error { return c.rw.Close() }

// jsonChanges streams an array of diff.Change objects, one marshal each
// (a diff can hold hundreds of thousands), with " > " and "<" left as is.
type jsonChanges struct {
	w   io.Writer
	buf bytes.Buffer
	n   int
}

func (j *jsonChanges) write(c diff.Change) error {
	j.buf.Reset()
	if j.n == 0 {
		j.buf.WriteString("[\n  ")
	} else {
		j.buf.WriteString(",\n  ")
	}
	j.n++
	enc := json.NewEncoder(&j.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return err
	}
	j.buf.Truncate(j.buf.Len() - 1) // Encode's newline
	_, err := j.w.Write(j.buf.Bytes())
	return err
}

func (j *jsonChanges) close(int) error {
	end := "\n]\n"
	if j.n == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(j.w, end)
	return err
}

// tableChanges is for people: names and a few words on what changed, and
// a count at the end.
type tableChanges struct {
	w  io.Writer
	rw rowWriter
}

func (t *tableChanges) write(c diff.Change) error {
	return t.rw.Row([]any{c.Kind, c.Entity, c.Name, detail(c)})
}

func (t *tableChanges) close(n int) error {
	if err := t.rw.Close(); err != nil {
		return err
	}
	var err error
	switch n {
	case 0:
		_, err = fmt.Fprintln(t.w, "no changes")
	case 1:
		_, err = fmt.Fprintln(t.w, "1 change")
	default:
		_, err = fmt.Fprintf(t.w, "%d changes\n", n)
	}
	return err
}

// detail says in a few words what changed, for the table.
func detail(c diff.Change) string {
	switch c.Kind {
	case diff.AccessGained, diff.AccessLost:
		return c.Path
	case diff.Dormant:
		for _, f := range c.Fields {
			if f.Name == "last_accessed" && f.After != "" {
				return "no access since " + day(f.After)
			}
			if f.Name == "date_created" {
				return "never signed in, created " + day(f.After)
			}
		}
	}
	var parts []string
	for _, f := range c.Fields {
		parts = append(parts, fmt.Sprintf("%s: %s → %s", f.Name, short(f.Before), short(f.After)))
	}
	return strings.Join(parts, "; ")
}

func day(ts string) string {
	if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
		return t.Format(time.DateOnly)
	}
	return ts
}

// short quotes a value for the table, cut to a readable length.
func short(s string) string {
	const max = 60
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return strconv.Quote(s)
}

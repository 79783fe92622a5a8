package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/diff"
	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/provision"
	"github.com/ado-access/ado-access/internal/snapshot"
)

func newDemoCmd() *Command {
	var (
		preset  string
		out     string
		changes int
		force   bool
	)
	return &Command{
		Name:    "demo",
		Summary: "run the main job end to end against an embedded simulated organization",
		Usage: `
Usage: exporter demo [--preset small|medium|large] [--changes N] [--out DIR]

Run the main job end to end with no Azure account: start a simulated Azure
DevOps organization in this process and

  1. sync it in full into a snapshot store in DIR,
  2. let a week of changes happen (N changes: memberships, licenses,
     accounts, groups, projects, …; a fifth made in Entra ID, unaudited),
  3. sync again, incrementally, from the Audit Log and a sweep of Entra ID,
  4. diff the two runs, nested-group access included,
  5. export an access-review packet of the new run (CSV, Parquet, XLSX,
     changes since the first run) into DIR and verify it,
  6. mark Revoke on a few direct memberships in the packet's workbook, as
     a reviewer would,
  7. plan them with apply (a dry run: nothing changes),
  8. apply them (journaled) and verify them live,
  9. sync again and show the diff: exactly those memberships are gone.

DIR starts afresh each time: a folder an earlier demo made (it holds a
.exporter-demo marker) is emptied; any other folder that is not empty is
refused unless --force. Explore it afterwards with
'exporter show --db DIR/ado-access.db …' and 'exporter diff --db …'.

Exit codes: 0 every step passed; 1 a step failed (the message names it);
2 bad usage (a flag, an --out folder the demo did not make).

Examples:
  exporter demo
  exporter demo --preset medium --changes 200 --out /tmp/demo
`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&preset, "preset", "small", "organization size: small, medium or large")
			fs.StringVar(&out, "out", "demo-out", "folder for the demo's store and packet (emptied first if an earlier demo made it)")
			fs.BoolVar(&force, "force", false, "empty --out even if the demo did not make it")
			fs.IntVar(&changes, "changes", 25, "changes to make between the two syncs")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q", args[0])
			}
			if changes < 0 {
				return usageErrorf("--changes %d: want 0 or more", changes)
			}
			// A fixed generation time keeps the demo organization the same
			// from one demo to the next.
			sim, err := adosim.New(adosim.Options{Preset: preset, Logger: env.Logger, GeneratedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
			if err != nil {
				return usageErrorf("%v", err)
			}
			if err := sim.Start("127.0.0.1:0"); err != nil {
				return err
			}
			defer sim.Close()
			env.Logger.Info("simulated organization started", "url", sim.URL(), "preset", preset)
			if err := prepareDemoDir(out, force); err != nil {
				return err
			}
			return runDemo(ctx, env, sim, out, changes)
		},
	}
}

// demoMarker marks a folder the demo made, which a later demo may empty.
const demoMarker = ".exporter-demo"

// prepareDemoDir empties out for a new demo, refusing to empty a folder
// with content the demo did not make unless force is set.
func prepareDemoDir(out string, force bool) error {
	entries, err := os.ReadDir(out)
	switch {
	case err != nil && !os.IsNotExist(err):
		return usageErrorf("--out %s: %v", out, err)
	case len(entries) > 0 && !force:
		if _, err := os.Stat(filepath.Join(out, demoMarker)); err != nil {
			return usageErrorf("--out %s is not empty and was not made by 'exporter demo' (it has no %s marker): name another folder, or add --force to empty it", out, demoMarker)
		}
	}
	if err := os.RemoveAll(out); err != nil {
		return fmt.Errorf("empty %s: %w", out, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	return os.WriteFile(filepath.Join(out, demoMarker), []byte("made by 'exporter demo'; the next demo empties this folder\n"), 0o644)
}

func runDemo(ctx context.Context, env *Env, sim *adosim.Server, out string, changes int) error {
	db := filepath.Join(out, "ado-access.db")
	st, err := snapshot.Open(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	client, err := collect.Dial(ctx, sim.URL(), collect.Credential{PAT: sim.Credential("readonly")}, collect.Options{Logger: env.Logger})
	if err != nil {
		return err
	}
	step := func(n int, what string) { fmt.Fprintf(env.Stdout, "\n%d. %s\n", n, what) }
	sync := func(mode string) (snapshot.Run, error) {
		prog := collect.NewProgress()
		stop := showProgress(env, prog, client.Stats)
		start := time.Now()
		run, err := collect.Sync(ctx, client, st, collect.SyncOptions{Mode: mode, Teams: true, Progress: prog})
		stop()
		if err == nil {
			fmt.Fprintln(env.Stdout, "   "+summary(run, prog, time.Since(start)))
		}
		return run, err
	}

	step(1, "Full sync of "+sim.URL())
	first, err := sync("full")
	if err != nil {
		return err
	}

	step(2, fmt.Sprintf("A week passes: %d changes in the organization, each in its Audit Log", changes))
	res, err := sim.Mutate(adosim.MutateRequest{Count: changes, Seed: 7})
	if err != nil {
		return err
	}
	for _, m := range res.Applied[:min(5, len(res.Applied))] {
		fmt.Fprintf(env.Stdout, "   %-34s %s\n", m.ActionID, displayEscaper.Replace(m.Summary))
	}
	if len(res.Applied) > 5 {
		fmt.Fprintf(env.Stdout, "   … and %d more\n", len(res.Applied)-5)
	}

	step(3, "Incremental sync from the Audit Log")
	second, err := sync("incremental")
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "   %s\n", second.Note)

	step(4, fmt.Sprintf("What changed between run %d and run %d", first.ID, second.ID))
	byKind := map[string]int{}
	var access []diff.Change
	err = diff.Between(ctx, st, first.ID, second.ID, diff.Options{Effective: true}, func(c diff.Change) error {
		byKind[c.Entity+" "+c.Kind]++
		if c.Kind == "access_gained" && len(access) < 5 {
			access = append(access, c)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var kinds []string
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(env.Stdout, "   %-34s %d\n", k, byKind[k])
	}
	for _, c := range access {
		fmt.Fprintf(env.Stdout, "   gained: %s, %s\n", displayEscaper.Replace(c.Name), displayEscaper.Replace(c.Path))
	}

	step(5, "Access-review packet of run "+fmt.Sprint(second.ID))
	dir := filepath.Join(out, fmt.Sprintf("packet-run%d", second.ID))
	m, err := export.ExportPacket(ctx, st, export.NewLocalSink(dir), export.PacketOptions{
		Options:  export.Options{Run: second.ID, ToolVersion: version, Logger: env.Logger},
		Baseline: export.Baseline{Run: first.ID},
	})
	if err != nil {
		return err
	}
	rep, err := export.Verify(ctx, export.NewLocalSink(dir), "")
	if err != nil {
		return err
	}
	var files []string
	for _, f := range m.Files {
		files = append(files, f.Path)
	}
	fmt.Fprintf(env.Stdout, "   %s: %d files (%s, …), verified: %d checked, %d problems\n",
		dir, len(files), strings.Join(files[:min(3, len(files))], ", "), rep.Checked, len(rep.Problems))

	third, err := demoApply(ctx, env, sim, st, dir, sync)
	if err != nil {
		return err
	}

	fmt.Fprintf(env.Stdout, "\nStore: %s. Some users of run %d:\n", db, third.ID)
	if err := printQuery(ctx, env, st, showKinds["users"], "table", []any{sql.Named("run", third.ID), sql.Named("kind", "user")}, 8); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "\nNext (exporter is bin/exporter, which 'make demo' and 'make build' write, or on your PATH after 'go install ./cmd/exporter'):\n")
	fmt.Fprintf(env.Stdout, "  exporter show groups --db %s\n", db)
	if user, err := someMember(ctx, st, third.ID); err == nil && user != "" {
		fmt.Fprintf(env.Stdout, "  exporter show access %s --db %s\n", user, db)
	}
	fmt.Fprintf(env.Stdout, "  exporter diff --effective --db %s\n", db)
	fmt.Fprintf(env.Stdout, "  exporter apply --status --db %s\n", db)
	fmt.Fprintf(env.Stdout, "  open %s in a spreadsheet\n", filepath.Join(dir, "packet.xlsx"))
	return nil
}

// someMember is the principal name of a user with a group membership at
// run, shell-safe, for the demo's example command.
func someMember(ctx context.Context, st *snapshot.Store, run int64) (string, error) {
	var name string
	err := st.DB().QueryRowContext(ctx, `SELECT a.principal_name FROM accounts a JOIN memberships m ON m.member = a.descriptor
		WHERE a.kind = 'user' AND a.principal_name GLOB '[a-z]*@*' AND a.principal_name NOT GLOB '*[^a-zA-Z0-9.@_-]*'
		AND a.valid_from <= ? AND (a.valid_to IS NULL OR a.valid_to > ?) AND m.valid_from <= ? AND (m.valid_to IS NULL OR m.valid_to > ?)
		ORDER BY a.principal_name LIMIT 1`, run, run, run, run).Scan(&name)
	return name, err
}

// demoRevokes is how many direct memberships the demo's reviewer revokes.
const demoRevokes = 3

// demoApply closes the loop: a reviewer marks Revoke on a few direct
// memberships in the packet's workbook, apply plans them (a dry run) and
// carries them out, and the next sync and diff show exactly those.
func demoApply(ctx context.Context, env *Env, sim *adosim.Server, st *snapshot.Store, dir string, sync func(string) (snapshot.Run, error)) (snapshot.Run, error) {
	step := func(n int, what string) { fmt.Fprintf(env.Stdout, "\n%d. %s\n", n, what) }
	workbook := filepath.Join(dir, export.WorkbookName)
	step(6, fmt.Sprintf("A reviewer marks Revoke on %d direct memberships in %s", demoRevokes, workbook))
	marked, err := markRevokes(workbook, demoRevokes)
	if err != nil {
		return snapshot.Run{}, err
	}
	for _, m := range marked {
		fmt.Fprintf(env.Stdout, "   %s\n", displayEscaper.Replace(m))
	}

	step(7, "exporter apply: the plan, checked against the store and read live (changes nothing)")
	d, err := provision.ReadDecisions(ctx, workbook, provision.ReadOptions{})
	if err != nil {
		return snapshot.Run{}, err
	}
	client, err := collect.Dial(ctx, sim.URL(), collect.Credential{PAT: sim.Credential("readwrite")}, collect.Options{Logger: env.Logger})
	if err != nil {
		return snapshot.Run{}, err
	}
	live := &provision.Live{ADO: client}
	p, err := provision.Build(ctx, st, d, live, provision.Options{Me: client.Me})
	if err != nil {
		return snapshot.Run{}, err
	}
	fmt.Fprintf(env.Stdout, "   plan %s: %d to apply, %d Keep, %d rows without a decision\n", p.ID, p.Count(provision.StateApply), p.Keep, p.Blank)

	step(8, "exporter apply --apply: carried out, each action journaled before and after its call")
	if err := live.CheckWriteAccess(ctx, p); err != nil {
		return snapshot.Run{}, err
	}
	res, err := (&provision.Applier{Store: st, Live: live, Log: env.Logger}).Apply(ctx, p)
	if err != nil {
		return snapshot.Run{}, err
	}
	checks, err := live.Verify(ctx, p)
	if err != nil {
		return snapshot.Run{}, err
	}
	ok := 0
	for _, c := range checks {
		if c.OK {
			ok++
		}
	}
	fmt.Fprintf(env.Stdout, "   %d done, %d failed; verified live: %d of %d as wanted\n", res.Counts[snapshot.JournalDone], res.Counts[snapshot.JournalFailed], ok, len(checks))

	step(9, "Sync again, and what changed")
	before, err := st.LatestRun(ctx)
	if err != nil {
		return snapshot.Run{}, err
	}
	third, err := sync("incremental")
	if err != nil {
		return snapshot.Run{}, err
	}
	err = diff.Between(ctx, st, before.ID, third.ID, diff.Options{}, func(c diff.Change) error {
		fmt.Fprintf(env.Stdout, "   %s %s: %s\n", c.Entity, c.Kind, displayEscaper.Replace(c.Name))
		return nil
	})
	return third, err
}

// markRevokes fills in Revoke, a reviewer and a comment on the first n
// direct memberships of users in built-in project groups (Contributors,
// Readers) on the workbook's effective_access sheet, as a reviewer would
// in Excel, and names them.
func markRevokes(workbook string, n int) ([]string, error) {
	f, err := excelize.OpenFile(workbook)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	const sheet = "effective_access"
	rows, err := f.Rows(sheet)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	col := map[string]int{}
	var marked []string
	for r := 1; rows.Next() && len(marked) < n; r++ {
		cells, err := rows.Columns()
		if err != nil {
			return nil, err
		}
		if r == 1 {
			for i, h := range cells {
				col[h] = i
			}
			continue
		}
		get := func(c string) string {
			if i := col[c]; i < len(cells) {
				return cells[i]
			}
			return ""
		}
		group := get("group_name")
		if get("direct") != "TRUE" || get("member_kind") != "user" || !(strings.HasSuffix(group, `\Contributors`) || strings.HasSuffix(group, `\Readers`)) {
			continue
		}
		for name, v := range map[string]string{export.DecisionColumn: "Revoke", export.ReviewerColumn: "reviewer@fabrikam.example", export.CommentColumn: "no longer on the project"} {
			cell, _ := excelize.CoordinatesToCellName(col[name]+1, r)
			if err := f.SetCellStr(sheet, cell, v); err != nil {
				return nil, err
			}
		}
		marked = append(marked, get("member_name")+" in "+group)
	}
	if len(marked) < n {
		return nil, fmt.Errorf("the packet has %d direct memberships to revoke, not %d", len(marked), n)
	}
	return marked, f.Save()
}

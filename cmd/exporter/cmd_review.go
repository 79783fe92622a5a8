package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/review"
)

// runCampaignExport writes a review campaign (export packet --split-by
// project) and prints its scopes.
func runCampaignExport(ctx context.Context, env *Env, p exportParams) error {
	start := time.Now()
	c, sink, err := exportCampaign(ctx, env, p)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "campaign %s: run %d of %s, %d scopes\n", c.CampaignID, c.Run, c.Org, len(c.Scopes))
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SCOPE\tFOLDER\tROWS TO DECIDE\tMARKED\tREVIEWERS")
	for _, s := range c.Scopes {
		var who []string
		for _, r := range s.Reviewers {
			who = append(who, r.Name)
		}
		if len(who) > 3 {
			who = append(who[:3], fmt.Sprintf("… %d more", len(s.Reviewers)-3))
		}
		if len(who) == 0 {
			who = []string{"none: name them with --reviewers"}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\n", s.Name, s.Dir, s.RowsToDecide, s.Marked, strings.Join(who, ", "))
	}
	tw.Flush()
	fmt.Fprintf(env.Stdout, "%d packets and %s written to %s in %s\n", len(c.Scopes), review.CampaignName, sink, time.Since(start).Round(time.Millisecond))
	return nil
}

// exportCampaign writes a campaign from the store, as the command and
// scheduled jobs do. It writes nothing to stdout.
func exportCampaign(ctx context.Context, env *Env, p exportParams) (*review.Campaign, export.Sink, error) {
	defer leanGC(env, 50)()
	var reviewers map[string][]review.Reviewer
	if p.reviewers != "" {
		var err error
		if reviewers, err = review.ReadReviewers(p.reviewers); err != nil {
			return nil, nil, usageErrorf("%v", err)
		}
	}
	st, err := p.sf.openForReading(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	r, err := pickRun(ctx, st, p.run)
	if err != nil {
		return nil, nil, err
	}
	b, err := parseBaseline(ctx, env, p.baseline)
	if err != nil {
		return nil, nil, err
	}
	if b.Packet != nil {
		return nil, nil, usageErrorf("--baseline: a campaign's changes are since a run (its id, the previous run by default) or none, not a packet")
	}
	to := p.to
	if to == "" {
		to = fmt.Sprintf("campaign-%s-run%d", export.OrgName(r.Org), r.ID)
	}
	sink, err := export.OpenSink(ctx, to, env.Getenv, export.BlobOptions{})
	if err != nil {
		return nil, nil, err
	}
	c, err := review.Export(ctx, st, sink, review.Options{
		PacketOptions: export.PacketOptions{
			Options: export.Options{Run: r.ID, DormantDays: p.dormantDays, PrivilegedGroups: p.privileged, MaxPrivileged: p.maxPrivileged, MaxPATDays: p.maxPATDays, AllPermissions: p.allPermissions,
				ToolVersion: toolVersion(), Version: version, Commit: buildCommit(), Logger: env.Logger},
			Formats: p.formats, Baseline: b, CSVBOM: p.csvBOM, SignKey: p.signKey,
		},
		Reviewers: reviewers,
	})
	if errors.Is(err, review.ErrUnknownScope) {
		return nil, nil, usageErrorf("--reviewers %s: %v", p.reviewers, err)
	}
	if err != nil {
		return nil, nil, err
	}
	return c, sink, nil
}

func newReviewCmd() *Command {
	format := newChoice("table", "table", "json")
	var reportFile string
	return &Command{
		Name:    "review",
		Summary: "track a review campaign: how much of each scope is decided",
		Usage: `
Usage: exporter review status DIR [--format table|json] [--report FILE]

Reads a review campaign (written by 'export packet --split-by project'):
campaign.json and every scope's filled-in packet.xlsx, saved by Excel,
LibreOffice, openpyxl or any other program. DIR is a folder or a blob
location (https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX,
azblob://CONTAINER/PREFIX). Per scope it prints the rows to decide (its
effective access), the rows decided by hand, kept in bulk (the Summary
sheet's "Keep every row without a decision" set to Yes with a Bulk
reviewer's name), still undecided, the revokes, the reviewers who
answered, and whether the workbook still verifies (its packet matches
its manifest, the manifest is the one campaign.json lists, the workbook
is that packet's, and every decision is one 'apply' would take).

A row is decided by a person (a Decision with a Reviewer's name; without
one, the bulk reviewer's name is taken) or by an explicit bulk Keep, never
by default; a row with a decision is never counted as kept in bulk too.

--report FILE writes the campaign's report.html as it stands: completion
per scope, the reviewers who answered, the revokes (the campaign's own
report.html, written with it, shows every scope open).

Exit status: 0 when every scope is complete, 1 while any is not, 2 for
bad input (no campaign there).

Examples:
  exporter review status reviews/2026-q4
  exporter review status reviews/2026-q4 --format json
  exporter review status azblob://reviews/fabrikam/2026-q4
`,
		Flags: func(fs *flag.FlagSet) {
			fs.Var(format, "format", "output format: table or json")
			fs.StringVar(&reportFile, "report", "", "also write the campaign's report.html, with this completion, to `FILE`")
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) == 0 || args[0] != "status" {
				return usageErrorf("want 'review status DIR'")
			}
			if len(args) != 2 {
				return usageErrorf("want one campaign folder or blob location: 'review status DIR'")
			}
			st, c, err := campaignStatus(ctx, env, args[1])
			if err != nil {
				return err
			}
			if reportFile != "" {
				var buf bytes.Buffer
				if err := review.RenderReport(&buf, c, st); err != nil {
					return err
				}
				if err := os.WriteFile(reportFile, buf.Bytes(), 0o644); err != nil {
					return fmt.Errorf("--report: %w", err)
				}
			}
			if err := printStatus(env, st, format.String()); err != nil {
				return err
			}
			if !st.Done() {
				return exitCode(1, nil)
			}
			return nil
		},
	}
}

// campaignStatus reads the completion of the campaign at loc (a folder or a
// blob location, fetched first).
func campaignStatus(ctx context.Context, env *Env, loc string) (*review.Status, *review.Campaign, error) {
	dir := loc
	if export.IsBlobLocation(loc) {
		sink, err := export.OpenSink(ctx, loc, env.Getenv, export.BlobOptions{})
		if err != nil {
			return nil, nil, usageErrorf("%v", err)
		}
		d, cleanup, err := review.Fetch(ctx, sink)
		if err != nil {
			return nil, nil, err
		}
		defer cleanup()
		dir = d
	} else if fi, err := os.Stat(loc); err != nil || !fi.IsDir() {
		return nil, nil, usageErrorf("%s: not a campaign folder", loc)
	}
	c, err := review.Read(ctx, export.NewLocalSink(dir))
	if err != nil {
		return nil, nil, usageErrorf("%v", err)
	}
	st, err := review.CampaignStatus(ctx, dir)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, nil, err
		}
		return nil, nil, usageErrorf("%v", err)
	}
	return st, c, nil
}

func printStatus(env *Env, st *review.Status, format string) error {
	if format == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fmt.Fprintf(env.Stdout, "campaign %s: run %d of %s; %d of %d scopes complete, %d of %d rows decided, %d revokes\n",
		st.CampaignID, st.Run, st.Org, st.Complete, st.Total, st.Decided, st.RowsToDecide, st.Revokes)
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SCOPE\tTO DECIDE\tBY HAND\tIN BULK\tUNDECIDED\tREVOKES\tVERIFIES\tCOMPLETE\tREVIEWERS")
	for _, s := range st.Scopes {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", s.Scope, s.RowsToDecide, s.DecidedByHand, s.KeptInBulk, s.Undecided, s.Revokes,
			yesNo(s.Verified), yesNo(s.Complete), strings.Join(s.Reviewers, ", "))
	}
	tw.Flush()
	for _, s := range st.Scopes {
		for _, p := range s.Problems {
			fmt.Fprintf(env.Stdout, "  %s: %s\n", s.Scope, p)
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

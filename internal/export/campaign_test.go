package export

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// TestCampaignScopesPartitionThePacket: every scope's packet verifies, holds
// only its scope, and together they hold every row of the whole packet's
// effective access exactly once; the review sheets lead with names, then
// the decision columns, descriptors last, marked rows first.
func TestCampaignScopesPartitionThePacket(t *testing.T) {
	f := storeFixture(t, "small")
	ctx := context.Background()
	whole := t.TempDir()
	wm, err := ExportPacket(ctx, f.st, NewLocalSink(whole), PacketOptions{Formats: []string{FormatCSV}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	scopes, err := ExportCampaign(ctx, f.st, NewLocalSink(dir), PacketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(scopes) < 3 || scopes[0].Name != ScopeOrganization {
		t.Fatalf("scopes %d, first %q: want the organization first and a scope per project", len(scopes), scopes[0].Name)
	}
	wantRows := map[string]int64{}
	for _, c := range wm.Tables {
		wantRows[c.Name] = c.N
	}
	var eff int64
	seen := map[string]bool{}
	for _, sc := range scopes {
		rep, err := Verify(ctx, NewLocalSink(filepath.Join(dir, sc.Dir)), "")
		if err != nil || !rep.OK() {
			t.Fatalf("scope %s does not verify: %v %v", sc.Name, err, rep.Problems)
		}
		if rep.Manifest.Scope != sc.Name || len(sc.ManifestSHA256) != 64 {
			t.Fatalf("scope %s: manifest scope %q, digest %q", sc.Name, rep.Manifest.Scope, sc.ManifestSHA256)
		}
		eff += sc.RowsToDecide
		rows := readCSVFile(t, filepath.Join(dir, sc.Dir, "effective_access.csv"))
		for _, r := range rows[1:] {
			k := r[0] + "|" + r[2]
			if seen[k] {
				t.Fatalf("effective access %s is in two scopes", k)
			}
			seen[k] = true
		}
		if sc.Name != ScopeOrganization {
			for _, r := range readCSVFile(t, filepath.Join(dir, sc.Dir, "repositories.csv"))[1:] {
				if r[3] != sc.Name {
					t.Fatalf("scope %s holds a repository of project %s", sc.Name, r[3])
				}
			}
		}
	}
	if eff != wantRows["effective_access"] || int64(len(seen)) != eff {
		t.Fatalf("scopes hold %d effective access rows (%d distinct), the whole packet %d", eff, len(seen), wantRows["effective_access"])
	}

	// A project's workbook: names first, decisions, descriptors last;
	// marked rows before unmarked ones.
	var proj Scope
	for _, sc := range scopes[1:] {
		if sc.Marked > 0 && sc.Marked < sc.RowsToDecide {
			proj = sc
			break
		}
	}
	if proj.Name == "" {
		t.Fatal("no project scope with both marked and unmarked rows")
	}
	wb, err := excelize.OpenFile(filepath.Join(dir, proj.Dir, WorkbookName))
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	rows, _ := wb.GetRows(EffectiveAccess.Name)
	want := SheetHeader(EffectiveAccess, true)
	if !slices.Equal(rows[0], want) || want[0] != AttentionColumn || want[1] != "member_name" || want[len(want)-1] != "path_descriptors" {
		t.Fatalf("header %v", rows[0])
	}
	dec := slices.Index(want, DecisionColumn)
	if dec < 0 || dec > slices.Index(want, "group_descriptor") {
		t.Fatalf("Decision at %d, after the descriptors: %v", dec, want)
	}
	marked, unmarkedSeen := 0, false
	for _, r := range rows[1:] {
		if len(r) > 0 && r[0] != "" {
			if unmarkedSeen {
				t.Fatal("a marked row after an unmarked one")
			}
			marked++
		} else {
			unmarkedSeen = true
		}
	}
	if int64(marked) != proj.Marked {
		t.Fatalf("%d marked rows, the scope says %d", marked, proj.Marked)
	}
	summary, _ := wb.GetRows(SummarySheet)
	var labels []string
	for _, r := range summary {
		if len(r) > 0 {
			labels = append(labels, strings.TrimSpace(r[0]))
		}
	}
	if !slices.Contains(labels, BulkKeepLabel) || !slices.Contains(labels, BulkReviewerLabel) || !slices.Contains(labels, "Scope") {
		t.Fatalf("the Summary lacks the bulk control or the scope: %v", labels)
	}
}

func readCSVFile(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

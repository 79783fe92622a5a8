package review

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/ado-access/ado-access/internal/export"
)

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadReviewers(t *testing.T) {
	csvFile := write(t, "r.csv", "\ufeffscope,reviewer\nAtlas,alice@contoso.com\nAtlas,Bob\norganization,sec@contoso.com\n")
	m, err := ReadReviewers(csvFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(m["Atlas"]) != 2 || m["Atlas"][0].Principal != "alice@contoso.com" || m["Atlas"][1].Name != "Bob" || len(m[export.ScopeOrganization]) != 1 {
		t.Fatalf("csv: %+v", m)
	}
	y := write(t, "r.yaml", "Atlas: [alice@contoso.com]\n\"(organization)\": [sec@contoso.com, ops@contoso.com]\n")
	if m, err = ReadReviewers(y); err != nil || len(m[export.ScopeOrganization]) != 2 || len(m["Atlas"]) != 1 {
		t.Fatalf("yaml: %+v %v", m, err)
	}
	for name, body := range map[string]string{
		"noheader.csv": "Atlas,alice\n",
		"empty.csv":    "scope,reviewer\nAtlas,\n",
		"wide.csv":     "scope,reviewer\nAtlas,alice,extra\n",
		"long.csv":     "scope,reviewer\nAtlas," + strings.Repeat("x", MaxReviewerLength+1) + "\n",
		"none.yaml":    "Atlas: []\n",
		"list.yaml":    "- Atlas\n",
		"r.txt":        "scope,reviewer\n",
	} {
		if _, err := ReadReviewers(write(t, name, body)); err == nil {
			t.Errorf("%s: read without an error", name)
		}
	}
	big := write(t, "big.csv", "scope,reviewer\n"+strings.Repeat("Atlas,alice\n", MaxReviewersFile/12+1))
	if _, err := ReadReviewers(big); err == nil || !strings.Contains(err.Error(), "over the") {
		t.Fatalf("a file over the limit: %v", err)
	}
}

// A workbook as a reviewer returns it: two rows decided by hand (one on
// privileged_access only), one without a Reviewer, the bulk Keep set. The
// bulk Keep takes the undecided rows only, and names the unnamed decision.
func TestCountWorkbookNeverCountsTwice(t *testing.T) {
	f := excelize.NewFile()
	f.SetSheetName("Sheet1", export.SummarySheet)
	f.SetSheetRow(export.SummarySheet, "A1", &[]any{export.BulkKeepLabel, "yes"})
	f.SetSheetRow(export.SummarySheet, "A2", &[]any{export.BulkReviewerLabel, "Carol"})
	f.NewSheet("effective_access")
	f.SetSheetRow("effective_access", "A1", &[]any{"Attention", "member_name", "Decision", "Reviewer", "Comment", "group_descriptor", "member_descriptor"})
	f.SetSheetRow("effective_access", "A2", &[]any{"privileged", "Ann", "Revoke", "Alice", "", "g1", "u1"})
	f.SetSheetRow("effective_access", "A3", &[]any{"", "Ben", "", "", "", "g1", "u2"})
	f.SetSheetRow("effective_access", "A4", &[]any{"", "Cid", "Keep", "", "", "g2", "u3"})
	f.SetSheetRow("effective_access", "A5", &[]any{"", "Dan", "", "", "", "g2", "u4"})
	f.NewSheet("privileged_access")
	f.SetSheetRow("privileged_access", "A1", &[]any{"member_name", "Decision", "Reviewer", "group_descriptor", "member_descriptor"})
	f.SetSheetRow("privileged_access", "A2", &[]any{"Ann", "Revoke", "Alice", "g1", "u1"})
	f.SetSheetRow("privileged_access", "A3", &[]any{"Ben", "Keep", "Bob", "g1", "u2"})
	path := filepath.Join(t.TempDir(), "packet.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	wc, err := countWorkbook(path)
	if err != nil {
		t.Fatal(err)
	}
	if wc.rows != 4 || len(wc.decided) != 3 || wc.revokes != 2 || wc.bulk != "Carol" {
		t.Fatalf("rows %d decided %d revokes %d bulk %q", wc.rows, len(wc.decided), wc.revokes, wc.bulk)
	}
	if wc.decided["g2\x1fu3"].reviewer != "" || wc.decided["g1\x1fu2"].reviewer != "Bob" {
		t.Fatalf("decided %+v", wc.decided)
	}
}

func TestReadRefusesABadCampaign(t *testing.T) {
	ctx := context.Background()
	if _, err := Read(ctx, export.NewLocalSink(t.TempDir())); err == nil || !strings.Contains(err.Error(), CampaignName) {
		t.Fatalf("no campaign.json: %v", err)
	}
	for _, body := range []string{
		`{"kind":"packet","version":1}`,
		`{"kind":"campaign","version":9}`,
		`{"kind":"campaign","version":1,"scopes":[{"name":"a","dir":"../x"}]}`,
		`{"kind":"campaign","version":1,"scopes":[{"name":"a","dir":"x"},{"name":"b","dir":"x"}]}`,
		`not json`,
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, CampaignName), []byte(body), 0o644)
		if _, err := Read(ctx, export.NewLocalSink(dir)); err == nil {
			t.Errorf("%s: read without an error", body)
		}
	}
}

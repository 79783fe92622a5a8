package provision

import (
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// sheetEdit is one sheet of a workbook a test fills in, as a reviewer would.
type sheetEdit struct {
	t     *testing.T
	f     *excelize.File
	path  string
	sheet string
	col   map[string]int // column name → 1-based column number
	rows  [][]string     // data rows (row i is spreadsheet row i+2)
}

func openSheet(t *testing.T, path, sheet string) *sheetEdit {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.GetRows(sheet)
	if err != nil || len(rows) == 0 {
		t.Fatalf("sheet %s: %v", sheet, err)
	}
	s := &sheetEdit{t: t, f: f, path: path, sheet: sheet, col: map[string]int{}, rows: rows[1:]}
	for i, h := range rows[0] {
		s.col[h] = i + 1
	}
	return s
}

func (s *sheetEdit) cell(row int, col string) string {
	name, err := excelize.CoordinatesToCellName(s.col[col], row+2)
	if err != nil {
		s.t.Fatalf("column %s: %v", col, err)
	}
	return name
}

func (s *sheetEdit) get(row int, col string) string {
	if c := s.col[col] - 1; c < len(s.rows[row]) {
		return s.rows[row][c]
	}
	return ""
}

func (s *sheetEdit) set(row int, col, value string) {
	if err := s.f.SetCellStr(s.sheet, s.cell(row, col), value); err != nil {
		s.t.Fatal(err)
	}
}

// decide fills in a row's Decision and Reviewer.
func (s *sheetEdit) decide(row int, value string) {
	s.set(row, export.DecisionColumn, value)
	s.set(row, export.ReviewerColumn, "reviewer@fabrikam.example")
}

func (s *sheetEdit) save() {
	if err := s.f.Save(); err != nil {
		s.t.Fatal(err)
	}
	s.f.Close()
}

// rowsWhere lists the data rows a test may decide on: direct or not, in
// an Azure DevOps group other than the administrators'.
func (s *sheetEdit) rowsWhere(direct bool) []int {
	var out []int
	for i := range s.rows {
		name := s.get(i, "group_name")
		if strings.EqualFold(s.get(i, "direct"), "true") == direct && strings.HasPrefix(s.get(i, "group_descriptor"), "vssgp.") &&
			!strings.Contains(name, "Administrators") && s.get(i, "member_kind") == "user" {
			out = append(out, i)
		}
	}
	return out
}

// A packet.xlsx that export wrote and a reviewer filled in is read back,
// bound to its packet, and becomes a plan: direct memberships revoked,
// inherited access explained, Keep and blank rows counted.
func TestPacketWorkbookDecisions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	dir := e.packet()
	wb := filepath.Join(dir, export.WorkbookName)
	s := openSheet(t, wb, TableEffective)
	direct, inherited := s.rowsWhere(true), s.rowsWhere(false)
	if len(direct) < 4 || len(inherited) < 1 {
		t.Fatalf("rows to decide on: %d direct, %d inherited", len(direct), len(inherited))
	}
	revoked := direct[:3]
	for _, r := range revoked {
		s.decide(r, "Revoke")
	}
	s.decide(direct[3], "keep") // any case
	s.decide(inherited[0], "Revoke")
	s.save()

	d, err := e.read(wb)
	if err != nil {
		t.Fatal(err)
	}
	if d.Packet == nil || len(d.Rows) != 4 || d.Keep != 1 || d.Blank <= len(s.rows)-5 {
		t.Fatalf("decisions: packet %v, %d rows, keep %d, blank %d of %d", d.Packet != nil, len(d.Rows), d.Keep, d.Blank, len(s.rows))
	}
	var first *Decision
	for i := range d.Rows {
		if d.Rows[i].Source.Row == revoked[0]+2 {
			first = &d.Rows[i]
		}
	}
	if first == nil || first.Source.Sheet != TableEffective || first.Reviewer != "reviewer@fabrikam.example" || !first.Direct || first.Value != Revoke {
		t.Fatalf("the first revoked row's decision: %+v", first)
	}
	p := e.mustBuild(d, Options{})
	if p.PacketRun != e.run.ID || p.PacketID != d.Packet.Manifest.PacketID || states(p)[StateApply] != 3 || p.OpenNotes() != 1 {
		t.Fatalf("plan: packet run %d, states %v, open notes %d: %+v", p.PacketRun, states(p), p.OpenNotes(), p.Notes)
	}
	if n := p.Notes[0]; !strings.Contains(n.Msg, "inherited through") || n.Source.Row != inherited[0]+2 {
		t.Fatalf("note %+v", n)
	}
	res := e.apply(p)
	if res.Counts[snapshot.JournalDone] != 3 {
		t.Fatalf("outcomes %+v", res.Outcomes)
	}
	for _, r := range revoked {
		if e.isMember(s.get(r, "member_descriptor"), s.get(r, "group_descriptor")) {
			t.Errorf("row %d: still a member", r+2)
		}
	}
	if !e.isMember(s.get(direct[3], "member_descriptor"), s.get(direct[3], "group_descriptor")) {
		t.Error("a Keep row was revoked")
	}
}

// The same review tables as CSV, with a Decision column added: values are
// unescaped as export escaped them.
func TestPacketCSVDecisions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	dir := e.packet("csv")
	recs := readCSV(t, filepath.Join(dir, "effective_access.csv"))
	header := append(recs[0], "Decision", "Reviewer")
	out := [][]string{header}
	var want [][2]string
	for _, r := range recs[1:] {
		row := append(append([]string(nil), r...), "", "")
		if r[5] == "true" && strings.HasPrefix(r[0], "vssgp.") && !strings.Contains(r[1], "Administrators") && len(want) < 2 {
			row[len(row)-2], row[len(row)-1] = "Revoke", "rev@fabrikam.example"
			want = append(want, [2]string{r[2], r[0]})
		}
		out = append(out, row)
	}
	path := writeCSV(t, filepath.Join(dir, "effective_access-reviewed.csv"), out)
	d, err := e.read(path)
	if err != nil {
		t.Fatal(err)
	}
	p := e.mustBuild(d, Options{})
	if states(p)[StateApply] != 2 {
		t.Fatalf("plan %v", states(p))
	}
	e.apply(p)
	for _, w := range want {
		if e.isMember(w[0], w[1]) {
			t.Errorf("%s still in %s", w[0], w[1])
		}
	}
}

// Each kind of bad input is reported with where it is, all at once, and
// nothing is applied.
func TestBadInputIsRefusedWhole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	dir := e.packet()
	um := e.userMemberships()
	okRow := []string{"revoke", um[0][1], um[0][3], "", "", "a@b.example", ""}

	// A filled-in copy of the packet for each workbook case.
	copyPacket := func(name string) string {
		t.Helper()
		to := filepath.Join(e.dir, name)
		if err := os.CopyFS(to, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		return to
	}
	effective := readCSV(t, filepath.Join(dir, "effective_access.csv"))
	tableCSV := func(name string, header []string, rows ...[]string) string {
		return writeCSV(t, filepath.Join(dir, name), append([][]string{header}, rows...))
	}
	effRow := func(i int, decision string) []string {
		return append(append([]string(nil), effective[i]...), decision, "rev@x")
	}
	effHeader := append(append([]string(nil), effective[0]...), "Decision", "Reviewer")

	tests := []struct {
		name  string
		file  func() (path string, opts ReadOptions)
		want  []string // in the error, with the source
		where string   // the source the first problem names
	}{
		{"unknown column", func() (string, ReadOptions) {
			return tableCSV("effective_access-a.csv", append(effHeader, "Notes"), append(effRow(1, "Revoke"), "x")), ReadOptions{}
		}, []string{`unknown column "Notes"`}, "effective_access-a.csv row 1"},
		{"no Decision column", func() (string, ReadOptions) {
			return tableCSV("effective_access-b.csv", effective[0], effective[1]), ReadOptions{}
		}, []string{"no Decision column"}, "row 1"},
		{"a value outside Keep/Revoke/Change", func() (string, ReadOptions) {
			return tableCSV("effective_access-c.csv", effHeader, effRow(1, "Keep"), effRow(2, "Remove"), effRow(3, "Maybe")), ReadOptions{}
		}, []string{`Decision "Remove": want Keep, Revoke or Change`, `Decision "Maybe"`}, "row 3"},
		{"a duplicated row", func() (string, ReadOptions) {
			return tableCSV("effective_access-d.csv", effHeader, effRow(1, "Revoke"), effRow(1, "Keep")), ReadOptions{}
		}, []string{"the same effective_access row as"}, "row 3"},
		{"a row the packet does not have", func() (string, ReadOptions) {
			r := effRow(1, "Revoke")
			r[2] = "aad.bm90LWEtbWVtYmVyLW9mLWFueXRoaW5n" // a member the packet never showed
			return tableCSV("effective_access-e.csv", effHeader, r), ReadOptions{}
		}, []string{"not a row of the packet's effective_access"}, "row 2"},
		{"a formula", func() (string, ReadOptions) {
			c := copyPacket("formula")
			s := openSheet(t, filepath.Join(c, export.WorkbookName), TableEffective)
			s.decide(0, "Revoke")
			s.f.SetCellFormula(s.sheet, s.cell(1, export.DecisionColumn), `IF(TRUE,"Revoke","Keep")`)
			s.f.SetCellStr(s.sheet, s.cell(1, export.ReviewerColumn), "rev@x")
			s.save()
			return filepath.Join(c, export.WorkbookName), ReadOptions{}
		}, []string{"column Decision holds a formula"}, "sheet effective_access row 3"},
		{"a hyperlink", func() (string, ReadOptions) {
			c := copyPacket("link")
			s := openSheet(t, filepath.Join(c, export.WorkbookName), TableEffective)
			s.decide(0, "Revoke")
			s.f.SetCellHyperLink(s.sheet, s.cell(0, export.ReviewerColumn), "https://evil.example", "External")
			s.save()
			return filepath.Join(c, export.WorkbookName), ReadOptions{}
		}, []string{"column Reviewer holds a hyperlink"}, "sheet effective_access row 2"},
		{"rows removed from a sheet", func() (string, ReadOptions) {
			c := copyPacket("removed")
			s := openSheet(t, filepath.Join(c, export.WorkbookName), TableEffective)
			s.decide(0, "Revoke")
			s.f.RemoveRow(s.sheet, len(s.rows)+1)
			s.save()
			return filepath.Join(c, export.WorkbookName), ReadOptions{}
		}, []string{"rows were added or removed"}, "sheet effective_access"},
		{"a packet whose files do not match its manifest", func() (string, ReadOptions) {
			c := copyPacket("tampered")
			f, _ := os.OpenFile(filepath.Join(c, "memberships.csv"), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("x,y,z,w,v\r\n")
			f.Close()
			return filepath.Join(c, export.WorkbookName), ReadOptions{}
		}, []string{"the packet does not match its manifest: memberships.csv"}, "manifest.json"},
		{"the workbook of another packet", func() (string, ReadOptions) {
			other := filepath.Join(e.dir, "other")
			if _, err := export.ExportPacket(e.ctx, e.st, export.NewLocalSink(other), export.PacketOptions{Options: export.Options{Run: e.run.ID}, Formats: []string{"csv", "xlsx"}}); err != nil {
				t.Fatal(err)
			}
			c := copyPacket("another")
			s := openSheet(t, filepath.Join(c, export.WorkbookName), TableEffective)
			s.decide(0, "Revoke")
			s.save()
			return filepath.Join(c, export.WorkbookName), ReadOptions{PacketDir: other}
		}, []string{"this workbook is not this packet's"}, "sheet Summary"},
		{"no manifest beside the workbook", func() (string, ReadOptions) {
			c := copyPacket("nomanifest")
			os.Remove(filepath.Join(c, export.ManifestName))
			return filepath.Join(c, export.WorkbookName), ReadOptions{}
		}, []string{"no manifest.json", "--packet DIR"}, "packet.xlsx"},
		{"unknown subjects and groups", func() (string, ReadOptions) {
			return e.planCSV("unknown.csv", planHeader,
				[]string{"revoke", "nobody@nowhere.example", um[0][3], "", "", "a@b.example", ""},
				[]string{"grant", um[0][1], "Nonexistent Group", "", "", "a@b.example", ""}), ReadOptions{}
		}, []string{`unknown subject "nobody@nowhere.example"`, `unknown group "Nonexistent Group" (name a group with its scope`}, "unknown.csv row 2"},
		{"granted and revoked", func() (string, ReadOptions) {
			return e.planCSV("both.csv", planHeader, okRow, []string{"grant", um[0][1], um[0][3], "", "", "a@b.example", ""}), ReadOptions{}
		}, []string{"grant contradicts row 2, which revokes the same membership"}, "both.csv row 3"},
		{"a duplicated action", func() (string, ReadOptions) {
			return e.planCSV("dup.csv", planHeader, okRow, okRow), ReadOptions{}
		}, []string{"the same revoke as row 2"}, "dup.csv row 3"},
		{"a plan without approvers, actions or targets", func() (string, ReadOptions) {
			return e.planCSV("rows.csv", planHeader,
				[]string{"delete", um[0][1], "", "", "", "a@b.example", ""},
				[]string{"grant", um[0][1], "", "", "", "a@b.example", ""},
				[]string{"revoke", um[0][1], um[0][3], "", "", "", ""},
				[]string{"set-license", um[0][1], "", "gold", "", "a@b.example", ""}), ReadOptions{}
		}, []string{`action "delete"`, "grant needs a target group", "no approver", `license "gold"`}, "rows.csv row 2"},
		{"a plan formula", func() (string, ReadOptions) {
			return e.planCSV("formula.csv", planHeader, []string{"revoke", um[0][1], "=HYPERLINK(\"x\")", "", "", "a@b.example", ""}), ReadOptions{}
		}, []string{"column target holds a formula"}, "formula.csv row 2"},
		{"a plan with an unknown column", func() (string, ReadOptions) {
			return e.planCSV("cols.csv", append(planHeader, "when"), append(okRow, "now")), ReadOptions{}
		}, []string{`unknown column "when"`}, "cols.csv row 1"},
		{"a JSON plan with an unknown key", func() (string, ReadOptions) {
			return e.writeFile("plan.json", `[{"action":"revoke","subject":"`+um[0][1]+`","target":"`+strings.ReplaceAll(um[0][3], `\`, `\\`)+`","approver":"a@b","priority":"high"}]`), ReadOptions{}
		}, []string{`unknown key "priority"`}, "plan.json entry 1"},
		{"a file over 100 MB", func() (string, ReadOptions) {
			p := filepath.Join(e.dir, "huge.csv")
			f, _ := os.Create(p)
			f.Truncate(MaxDecisionFileSize + 1)
			f.Close()
			return p, ReadOptions{}
		}, []string{"over the 100 MB"}, "huge.csv"},
	}
	writesBefore := e.requests("graph.memberships.remove") + e.requests("graph.memberships.add")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, opts := tt.file()
			d, err := ReadDecisions(e.ctx, path, opts)
			if err == nil {
				// Some problems show only against the store.
				_, err = e.build(d, Options{})
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("want an InputError, got %v", err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if !strings.Contains(ie.Problems[0].String(), tt.where) {
				t.Errorf("first problem %q does not say %q", ie.Problems[0], tt.where)
			}
			if !strings.HasPrefix(msg, "the decisions have") || !strings.Contains(msg, "nothing was applied") {
				t.Errorf("error does not say nothing was applied: %s", msg)
			}
		})
	}
	if n := e.requests("graph.memberships.remove") + e.requests("graph.memberships.add"); n != writesBefore {
		t.Fatalf("bad input led to %d writes", n-writesBefore)
	}
}

// A plan written as JSON (what --plan-out keeps) reads back as a plan.
func TestPlanJSONRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	um := e.userMemberships()
	d := e.mustRead(e.planCSV("plan.csv", planHeader,
		[]string{"revoke", um[0][1], um[0][3], "", "why", "a@b.example", "T-1"},
		[]string{"set-license", um[1][1], "", "stakeholder", "", "a@b.example", ""}))
	p := e.mustBuild(d, Options{})
	path := filepath.Join(e.dir, "plan.json")
	if err := WritePlanJSON(path, p); err != nil {
		t.Fatal(err)
	}
	back := e.mustRead(path)
	p2 := e.mustBuild(back, Options{})
	if p2.ID != p.ID || len(p2.Actions) != 2 || p2.Actions[0].Ticket != "T-1" || p2.Actions[1].License != "stakeholder" {
		t.Fatalf("plan from its JSON: %s vs %s, %+v", p2.ID, p.ID, p2.Actions)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func writeCSV(t *testing.T, path string, recs [][]string) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	w.UseCRLF = true
	w.WriteAll(recs)
	f.Close()
	return path
}

// FuzzReadPlanCSV feeds arbitrary bytes as a plan file: reading never
// panics, and either gives decisions or problems.
func FuzzReadPlanCSV(f *testing.F) {
	f.Add([]byte("action,subject,target,license,reason,approver,ticket\r\nrevoke,a@b,[P]\\G,,,x@y,\r\n"))
	f.Add([]byte("action,subject\r\n\"unterminated\r\n"))
	f.Add([]byte("\ufeffaction,subject,approver\nadd-account,a@b,c\n,,\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "plan.csv")
		os.WriteFile(path, b, 0o644)
		d, err := ReadDecisions(t.Context(), path, ReadOptions{})
		if err == nil && d == nil {
			t.Fatal("no decisions and no error")
		}
		var ie *InputError
		if err != nil && !errors.As(err, &ie) {
			t.Fatalf("not an InputError: %v", err)
		}
	})
}

// FuzzReadPlanJSON is the same for JSON plans.
func FuzzReadPlanJSON(f *testing.F) {
	f.Add([]byte(`[{"action":"revoke","subject":"a@b","target":"[P]\\G","approver":"x"}]`))
	f.Add([]byte(`{"actions":[{"action":1}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "plan.json")
		os.WriteFile(path, b, 0o644)
		d, err := ReadDecisions(t.Context(), path, ReadOptions{})
		if err == nil && d == nil {
			t.Fatal("no decisions and no error")
		}
	})
}

// Items that changed since the packet's run are refused unless
// --allow-stale; Change decisions are listed, not carried out; inherited
// access whose direct membership is also revoked is covered.
func TestStaleChangeAndCoveredDecisions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	dir := e.packet("csv")
	recs := readCSV(t, filepath.Join(dir, "effective_access.csv"))
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	header := append(append([]string(nil), recs[0]...), "Decision", "Reviewer")
	out := [][]string{header}
	row := func(r []string, decision string) {
		out = append(out, append(append([]string(nil), r...), decision, "rev@x"))
	}
	isDirect := func(r []string) bool {
		return r[col["direct"]] == "true" && strings.HasPrefix(r[col["group_descriptor"]], "vssgp.") && !strings.Contains(r[col["group_name"]], "Administrators")
	}
	// Two direct rows (one to re-add before applying, one to re-add after
	// the newest sync), one to Change, and an inherited row with its first hop.
	var direct [][]string
	for _, r := range recs[1:] {
		if isDirect(r) && len(direct) < 3 {
			direct = append(direct, r)
		}
	}
	var inherited, hop []string
	for _, r := range recs[1:] {
		if r[col["direct"]] != "false" || !strings.HasPrefix(r[col["path_descriptors"]], "vssgp.") {
			continue
		}
		first := strings.TrimSpace(strings.Split(r[col["path_descriptors"]], ">")[0])
		for _, d := range recs[1:] {
			if d[col["group_descriptor"]] == first && d[col["member_descriptor"]] == r[col["member_descriptor"]] && d[col["direct"]] == "true" && !strings.Contains(d[col["group_name"]], "Administrators") {
				inherited, hop = r, d
			}
		}
		if hop != nil {
			break
		}
	}
	if len(direct) < 3 || hop == nil {
		t.Fatalf("rows: %d direct, inherited %v", len(direct), hop != nil)
	}
	row(direct[0], "Revoke")
	row(direct[1], "Revoke")
	row(direct[2], "Change")
	row(inherited, "Revoke")
	row(hop, "Revoke")
	path := writeCSV(t, filepath.Join(dir, "effective_access-reviewed.csv"), out)
	member := func(r []string) (string, string) { return r[col["member_descriptor"]], r[col["group_descriptor"]] }

	// Since the packet: direct[0] removed and added again (the newest
	// snapshot sees it come back at a later run); direct[1] removed before
	// the newest sync and added again after it.
	m0, g0 := member(direct[0])
	m1, g1 := member(direct[1])
	e.ado.RemoveMember(e.ctx, m0, g0)
	e.ado.RemoveMember(e.ctx, m1, g1)
	e.sync()
	e.ado.AddMember(e.ctx, m0, g0)
	e.sync()
	e.ado.AddMember(e.ctx, m1, g1)

	d := e.mustRead(path)
	p := e.mustBuild(d, Options{})
	byMember := map[string]*Action{}
	for _, a := range p.Actions {
		byMember[a.Subject.Descriptor+a.Group.Descriptor] = a
	}
	for _, m := range [][2]string{{m0, g0}, {m1, g1}} {
		a := byMember[m[0]+m[1]]
		if a == nil || a.State != StateRefused || !strings.Contains(a.Note, "changed since the packet's run") || !strings.Contains(a.Note, "--allow-stale") {
			t.Errorf("a stale revoke: %+v", a)
		}
	}
	if p.OpenNotes() != 0 || len(p.Notes) != 2 {
		t.Fatalf("notes %+v", p.Notes)
	}
	for _, n := range p.Notes {
		if !strings.Contains(n.Msg, "Change is not carried out") && !strings.Contains(n.Msg, "covered by action") {
			t.Errorf("note %+v", n)
		}
	}
	p = e.mustBuild(d, Options{AllowStale: true})
	if a := byMember[m0+g0]; p.Actions[a.Seq-1].State != StateApply || !strings.Contains(p.Actions[a.Seq-1].Note, "applied anyway") {
		t.Fatalf("with --allow-stale: %+v", p.Actions[a.Seq-1])
	}
	e.apply(p)
	if e.isMember(m0, g0) || e.isMember(m1, g1) {
		t.Fatal("--allow-stale did not apply the stale revokes")
	}
}

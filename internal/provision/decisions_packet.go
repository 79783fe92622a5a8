package provision

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/safecsv"
)

// Packet is the review packet decisions belong to.
type Packet struct {
	Dir      string
	Manifest *export.Manifest
	// Unchecked names review tables whose rows could not be compared with a
	// verified copy of the packet (a workbook-only packet): their decision
	// rows are bound by the packet id and row counts alone.
	Unchecked []string
}

// reviewTable is what reading needs of one review table.
type reviewTable struct {
	name string
	key  []string // key columns
	cols []string // the table's own columns
}

func reviewTables() []reviewTable {
	var out []reviewTable
	for _, name := range []string{TableAccounts, TableEffective, TablePrivileged, TableTokens, TableRoles, TablePipelinePerms} {
		t := export.TableByName(name)
		key := []string{"group_descriptor", "member_descriptor"}
		switch {
		case name == TableAccounts:
			key = []string{"descriptor"}
		case isPipelineTable(name):
			key = t.Key
		}
		out = append(out, reviewTable{name: name, key: key, cols: t.ColumnNames()})
	}
	return out
}

func reviewTableByName(name string) (reviewTable, bool) {
	for _, t := range reviewTables() {
		if t.name == name {
			return t, true
		}
	}
	return reviewTable{}, false
}

// packetRead is one decisions file of a packet being read.
type packetRead struct {
	path     string
	d        *Decisions
	p        problems
	packetID string                       // as the workbook's Summary sheet says (xlsx)
	rows     map[string]int64             // data rows per sheet (xlsx) or per table (csv)
	keys     map[string]map[string]keyRow // table → key → the row with a decision
}

// keyRow is where a key had a decision, and which.
type keyRow struct {
	src   Source
	value string
}

// table reads the rows of one sheet (or CSV) of a review table. header is
// row 1; next returns each following row's cells and, for each cell, why
// it is not a plain value ("" when it is), until io.EOF.
func (r *packetRead) table(t reviewTable, sheet string, header []string, next func() (cells []string, markup []string, err error)) error {
	src := Source{File: r.path, Sheet: sheet, Row: 1}
	at := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if h == "" {
			continue
		}
		if _, dup := at[h]; dup {
			r.p.add(src, "column %s appears twice", clip(h))
			continue
		}
		if !slices.Contains(t.cols, h) && h != export.DecisionColumn && h != export.ReviewerColumn && h != export.CommentColumn && h != export.AttentionColumn {
			r.p.add(src, "unknown column %s (a %s table has %s, then Decision, Reviewer and Comment)", clip(h), t.name, strings.Join(t.cols, ", "))
			continue
		}
		at[h] = i
	}
	var missing []string
	for _, c := range append(append([]string(nil), t.key...), export.DecisionColumn) {
		if _, ok := at[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		r.p.add(src, "no %s column", strings.Join(missing, ", "))
		return nil
	}
	if r.keys[t.name] == nil {
		r.keys[t.name] = map[string]keyRow{}
	}
	seen := r.keys[t.name]
	var n int64
	for row := 2; ; row++ {
		cells, markup, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", Source{File: r.path, Sheet: sheet, Row: row}, err)
		}
		if allEmpty(cells) {
			continue // a blank line, such as a spreadsheet's trailing one
		}
		n++
		src := Source{File: r.path, Sheet: sheet, Row: row}
		cell := func(name string) string {
			if i, ok := at[name]; ok && i < len(cells) {
				return strings.TrimSpace(cells[i])
			}
			return ""
		}
		// Decisions must be plain values, never formulas or links, even
		// where they show nothing.
		marked := false
		for _, c := range append(append([]string(nil), t.key...), export.DecisionColumn, export.ReviewerColumn, export.CommentColumn, "direct", "path_descriptors") {
			if i, ok := at[c]; ok && i < len(markup) && markup[i] != "" {
				r.p.add(src, "column %s holds a %s; decisions must be plain values", c, markup[i])
				marked = true
			}
		}
		value, ok := decisionValue(cell(export.DecisionColumn))
		if !ok {
			r.p.add(src, "Decision %s: want Keep, Revoke or Change", clip(cell(export.DecisionColumn)))
			continue
		}
		if value == "" || marked {
			r.d.Blank++
			continue
		}
		var keyVals []string
		empty := false
		for _, k := range t.key {
			v := cell(k)
			// An agent pool's role is of no project.
			if v == "" && !(t.name == TableRoles && k == "project_id") {
				r.p.add(src, "%s is empty", k)
				empty = true
			}
			keyVals = append(keyVals, v)
		}
		if empty {
			continue
		}
		key := strings.Join(keyVals, "\x1f")
		if first, dup := seen[key]; dup {
			r.p.add(src, "the same %s row as %s (%s)", t.name, first.src, clip(strings.Join(keyVals, ", ")))
			continue
		}
		seen[key] = keyRow{src, value}
		if value == Keep {
			r.d.Keep++
			continue
		}
		dec := Decision{Source: src, Table: t.name, Value: value, Reviewer: cell(export.ReviewerColumn), Comment: cell(export.CommentColumn)}
		if dec.Reviewer == "" {
			r.p.add(src, "%s without a Reviewer: say who decided", value)
		}
		for _, c := range []struct {
			name, v string
			max     int
		}{{export.ReviewerColumn, dec.Reviewer, MaxReviewerLen}, {export.CommentColumn, dec.Comment, MaxCommentLen}} {
			if n := utf8.RuneCountInString(c.v); n > c.max {
				r.p.add(src, "%s %s is %d characters, more than the %d it may have", c.name, clip(c.v), n, c.max)
			}
		}
		switch {
		case isPipelineTable(t.name):
			dec.Key = keyVals
		case t.name == TableAccounts:
			dec.Subject = keyVals[0]
		default:
			dec.Group, dec.Subject = keyVals[0], keyVals[1]
			direct, ok := parseBool(cell("direct"))
			if !ok {
				r.p.add(src, "direct %s: want true or false", clip(cell("direct")))
			}
			dec.Direct = direct
			if p := cell("path_descriptors"); p != "" {
				for _, d := range strings.Split(p, ">") {
					dec.Path = append(dec.Path, strings.TrimSpace(d))
				}
			}
			if _, ok := at["direct"]; !ok && len(dec.Path) == 0 {
				r.p.add(src, "no direct or path_descriptors column: cannot tell a direct membership from an inherited one")
			}
		}
		r.d.Rows = append(r.d.Rows, dec)
	}
	r.rows[sheet] += n
	return nil
}

func allEmpty(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// readPacketDecisions reads a review packet's decisions (read fills r) and
// binds them to the packet: the manifest must verify (but for the file
// that was filled in), the file must be that packet's, and every decision
// row must be a row of the packet.
func readPacketDecisions(ctx context.Context, path string, opts ReadOptions, read func(ctx context.Context, r *packetRead) error) (*Decisions, error) {
	dir := opts.PacketDir
	if dir == "" {
		dir = filepath.Dir(path)
	}
	pk, err := verifyPacket(ctx, dir, path)
	if err != nil {
		return nil, err
	}
	r := &packetRead{path: path, d: &Decisions{File: path, Packet: pk}, rows: map[string]int64{}, keys: map[string]map[string]keyRow{}}
	if err := read(ctx, r); err != nil {
		return nil, err
	}
	r.conflicts()
	r.bind(pk)
	if err := r.p.err(); err != nil {
		return nil, err
	}
	if err := r.crossCheck(ctx, pk); err != nil {
		return nil, err
	}
	return r.d, r.p.err()
}

// verifyPacket checks the packet folder against its manifest. The
// decisions file itself, when it is one of the packet's files, was filled
// in and may differ; every other file must match.
func verifyPacket(ctx context.Context, dir, decisions string) (*Packet, error) {
	if _, err := os.Stat(filepath.Join(dir, export.ManifestName)); errors.Is(err, fs.ErrNotExist) {
		return nil, &InputError{Problems: []Problem{{Source: Source{File: decisions},
			Msg: fmt.Sprintf("no %s in %s: a filled-in packet must stay in its packet folder (or give the folder with --packet DIR)", export.ManifestName, dir)}}}
	}
	rep, err := export.Verify(ctx, export.NewLocalSink(dir), "")
	if err != nil {
		return nil, &InputError{Problems: []Problem{{Source: Source{File: filepath.Join(dir, export.ManifestName)}, Msg: "the packet cannot be verified: " + err.Error()}}}
	}
	if rep.Manifest.Kind != "packet" {
		return nil, &InputError{Problems: []Problem{{Source: Source{File: filepath.Join(dir, export.ManifestName)}, Msg: "not a review packet's manifest (a " + rep.Manifest.Kind + " export)"}}}
	}
	if n := len(rep.Manifest.Orgs); n > 0 {
		return nil, &InputError{Problems: []Problem{{Source: Source{File: filepath.Join(dir, export.ManifestName)},
			Msg: fmt.Sprintf("the packet spans %d organizations: apply one organization's packet (export packet --org NAME, or --split-by org)", n)}}}
	}
	own := ""
	if abs, err := filepath.Abs(decisions); err == nil {
		if d, err := filepath.Abs(dir); err == nil && filepath.Dir(abs) == d {
			own = filepath.Base(abs)
		}
	}
	var ps problems
	for _, prob := range rep.Problems {
		name, _, _ := strings.Cut(prob, ": ")
		if name == own {
			continue // the file the reviewer filled in
		}
		ps.add(Source{File: filepath.Join(dir, export.ManifestName)}, "the packet does not match its manifest: %s", prob)
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return &Packet{Dir: dir, Manifest: rep.Manifest}, nil
}

// conflicts finds an access decided differently on effective_access and
// privileged_access, which both show privileged access.
func (r *packetRead) conflicts() {
	eff := r.keys[TableEffective]
	for key, pr := range r.keys[TablePrivileged] {
		if er, ok := eff[key]; ok && er.value != pr.value {
			r.p.add(pr.src, "%s here, but %s for the same access on %s", pr.value, er.value, er.src)
		}
	}
}

// bind checks that the file is the packet's: the workbook names the
// packet's id, and every sheet or table has the rows the manifest says.
func (r *packetRead) bind(pk *Packet) {
	m := pk.Manifest
	src := Source{File: r.path}
	if strings.EqualFold(filepath.Ext(r.path), ".xlsx") {
		if r.packetID != m.PacketID {
			r.p.add(Source{File: r.path, Sheet: export.SummarySheet}, "packet id %s, but the packet's manifest is of packet %q: this workbook is not this packet's", clip(r.packetID), m.PacketID)
			return
		}
		var want map[string]int64
		for _, f := range m.Files {
			if f.Format == export.FormatXLSX {
				want = f.Sheets
			}
		}
		for sheet, n := range r.rows {
			if w, ok := want[sheet]; ok && w != n {
				r.p.add(Source{File: r.path, Sheet: sheet}, "%d data rows, the packet's manifest says %d: rows were added or removed", n, w)
			}
		}
		return
	}
	// A review table's CSV may hold only the rows decided on: each is
	// compared with the packet's own copy (crossCheck). The packet's copy
	// itself, filled in, must keep every row.
	for table, n := range r.rows {
		if !sameFile(r.path, filepath.Join(pk.Dir, table+".csv")) {
			continue
		}
		for _, c := range m.Tables {
			if c.Name == table && c.N != n {
				r.p.add(src, "%d data rows, the packet's manifest says %s has %d: rows were added or removed", n, table, c.N)
			}
		}
	}
}

// crossCheck compares each decision row's key with the packet's own,
// verified copy of its table (its CSV), so a decision can only name what
// the packet showed.
func (r *packetRead) crossCheck(ctx context.Context, pk *Packet) error {
	byTable := map[string][]*Decision{}
	for i := range r.d.Rows {
		byTable[r.d.Rows[i].Table] = append(byTable[r.d.Rows[i].Table], &r.d.Rows[i])
	}
	for table, decs := range byTable {
		if err := ctx.Err(); err != nil {
			return err
		}
		t, _ := reviewTableByName(table)
		name := table + ".csv"
		copyPath := filepath.Join(pk.Dir, name)
		listed := slices.ContainsFunc(pk.Manifest.Files, func(f export.File) bool { return f.Path == name })
		if !listed || sameFile(copyPath, r.path) {
			pk.Unchecked = append(pk.Unchecked, table)
			continue
		}
		want := map[string]*Decision{}
		for _, d := range decs {
			want[decisionKey(t, d)] = d
		}
		if err := scanPacketCSV(copyPath, t.key, func(key string) { delete(want, key) }); err != nil {
			return fmt.Errorf("read the packet's %s: %w", name, err)
		}
		for _, d := range want {
			r.p.add(d.Source, "not a row of the packet's %s (%s): the row was changed after export", table, clip(strings.ReplaceAll(decisionKey(t, d), "\x1f", ", ")))
		}
	}
	slices.Sort(pk.Unchecked)
	return nil
}

func decisionKey(t reviewTable, d *Decision) string {
	if isPipelineTable(t.name) {
		return strings.Join(d.Key, "\x1f")
	}
	if t.name == TableAccounts {
		return d.Subject
	}
	return d.Group + "\x1f" + d.Subject
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// scanPacketCSV streams a packet CSV and reports each row's key (values
// unescaped as export escaped them).
func scanPacketCSV(path string, key []string, fn func(key string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return err
	}
	var at []int
	for _, k := range key {
		i := slices.Index(header, k)
		if i < 0 {
			return fmt.Errorf("no %s column", k)
		}
		at = append(at, i)
	}
	parts := make([]string, len(at))
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		for i, j := range at {
			parts[i] = safecsv.Unescape(rec[j])
		}
		fn(strings.Join(parts, "\x1f"))
	}
}

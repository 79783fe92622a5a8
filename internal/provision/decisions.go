package provision

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Decisions come from a filled-in review packet (packet.xlsx, or its review
// tables as CSV with a Decision column added) or from a plan file (CSV or
// JSON rows of action, subject, target, license, reason, approver,
// ticket). Reading checks every row and reports every problem at once,
// each with its file, sheet and row; a file with any problem yields no
// decisions at all.

// MaxDecisionFileSize is the largest decisions file read (100 MB).
const MaxDecisionFileSize = 100 << 20

// Decision values a review packet's Decision column offers.
const (
	Keep   = "Keep"
	Revoke = "Revoke"
	Change = "Change"
)

// Actions a plan can hold.
const (
	ActGrant         = "grant"
	ActRevoke        = "revoke"
	ActAddAccount    = "add-account"
	ActSetLicense    = "set-license"
	ActRemoveAccount = "remove-account"
)

// Actions lists the plan file actions.
var Actions = []string{ActGrant, ActRevoke, ActAddAccount, ActSetLicense, ActRemoveAccount}

// The review tables of a packet, whose rows carry decisions.
const (
	TableAccounts   = "accounts"
	TableEffective  = "effective_access"
	TablePrivileged = "privileged_access"
)

// Source is where a decision came from.
type Source struct {
	File  string `json:"file"`
	Sheet string `json:"sheet,omitempty"` // sheet or table; empty for a plan file
	Row   int    `json:"row"`             // as a spreadsheet numbers it: the header is row 1
}

func (s Source) String() string {
	if s.Sheet == "" || strings.EqualFold(filepath.Ext(s.File), ".csv") { // a CSV is one table
		if strings.EqualFold(filepath.Ext(s.File), ".json") {
			return fmt.Sprintf("%s entry %d", filepath.Base(s.File), s.Row)
		}
		return fmt.Sprintf("%s row %d", filepath.Base(s.File), s.Row)
	}
	return fmt.Sprintf("%s sheet %s row %d", filepath.Base(s.File), s.Sheet, s.Row)
}

// Problem is one thing wrong with the decisions.
type Problem struct {
	Source Source
	Msg    string
}

func (p Problem) String() string {
	if p.Source.File == "" {
		return p.Msg
	}
	if p.Source.Row == 0 {
		s := filepath.Base(p.Source.File)
		if p.Source.Sheet != "" && !strings.EqualFold(filepath.Ext(p.Source.File), ".csv") {
			s += " sheet " + p.Source.Sheet
		}
		return s + ": " + p.Msg
	}
	return p.Source.String() + ": " + p.Msg
}

// InputError lists every problem found in the decisions. Nothing is
// applied while there is one.
type InputError struct {
	Problems []Problem
}

func (e *InputError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the decisions have %d problem(s); nothing was applied:", len(e.Problems))
	const most = 50
	for i, p := range e.Problems {
		if i == most {
			fmt.Fprintf(&b, "\n  … and %d more", len(e.Problems)-most)
			break
		}
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// problems gathers problems as they are found.
type problems struct{ list []Problem }

func (p *problems) add(src Source, format string, args ...any) {
	p.list = append(p.list, Problem{Source: src, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	sort.SliceStable(p.list, func(i, j int) bool {
		a, b := p.list[i].Source, p.list[j].Source
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Sheet != b.Sheet {
			return a.Sheet < b.Sheet
		}
		return a.Row < b.Row
	})
	return &InputError{Problems: p.list}
}

// Decision is one row that asks for something: a Revoke (or Change) in a
// review packet, or an action of a plan file.
type Decision struct {
	Source Source
	// Review packet rows.
	Table    string   // accounts, effective_access or privileged_access
	Value    string   // Revoke or Change
	Reviewer string   // who decided (the approver)
	Comment  string   //
	Subject  string   // the account: descriptor (accounts) or member_descriptor
	Group    string   // group_descriptor (access tables)
	Direct   bool     // the access is a direct membership
	Path     []string // effective_access path_descriptors: the account's direct group first
	Key      []string // pipeline tables (pipelines.go): the row's key columns, in order
	// Plan file rows; Subject and the fields below.
	Action   string // grant, revoke, add-account, set-license, remove-account
	Target   string // a group (grant, revoke), project groups (add-account, ';' between)
	License  string
	Reason   string
	Approver string
	Ticket   string
}

// Decisions are what one file asks for.
type Decisions struct {
	File string
	// Packet is the review packet the decisions belong to; nil for a plan file.
	Packet *Packet
	// Rows are the rows that ask for something, in file order.
	Rows []Decision
	// Rows that ask for nothing: Keep, and no decision at all.
	Keep, Blank int
	// BulkReviewer certified every row left without a decision as Keep
	// (the workbook's bulk control, see export.BulkKeepLabel); "" when
	// nobody did. The Blank rows are then kept in bulk.
	BulkReviewer string
}

// ReadOptions say where a review packet's manifest is when the decisions
// file is not in its packet folder.
type ReadOptions struct {
	PacketDir string
}

// ReadDecisions reads a decisions file: packet.xlsx, a review table's CSV
// with a Decision column, or a plan file (CSV with an action column, or
// JSON). A packet's decisions are bound to it: its manifest is verified
// first and must be the packet the decisions came from. Bad input is an
// *InputError listing every problem.
func ReadDecisions(ctx context.Context, path string, opts ReadOptions) (*Decisions, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &InputError{Problems: []Problem{{Source: Source{File: path}, Msg: "no such file"}}}
	}
	if err != nil {
		return nil, fmt.Errorf("read decisions: %w", err)
	}
	if fi.IsDir() {
		return nil, &InputError{Problems: []Problem{{Msg: path + " is a folder: give the filled-in packet.xlsx, a review table's CSV, or a plan file"}}}
	}
	if fi.Size() > MaxDecisionFileSize {
		return nil, &InputError{Problems: []Problem{{Source: Source{File: path}, Msg: fmt.Sprintf("the file is %d MB, over the %d MB a decisions file may have", fi.Size()>>20, MaxDecisionFileSize>>20)}}}
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".xlsx":
		return readPacketDecisions(ctx, path, opts, readWorkbook)
	case ".json":
		return readPlanJSON(path)
	case ".csv":
		kind, err := csvKind(path)
		if err != nil {
			return nil, err
		}
		if kind == "plan" {
			return readPlanCSV(path)
		}
		return readPacketDecisions(ctx, path, opts, readTableCSV)
	}
	return nil, &InputError{Problems: []Problem{{Source: Source{File: path}, Msg: "not a decisions file: want .xlsx (a filled-in packet), .csv (a review table or a plan) or .json (a plan)"}}}
}

// decisionValue reads a Decision cell: Keep, Revoke, Change (any case),
// or blank.
func decisionValue(v string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return "", true
	case "keep":
		return Keep, true
	case "revoke":
		return Revoke, true
	case "change":
		return Change, true
	}
	return "", false
}

// parseBool reads a true/false cell as spreadsheets and export write it.
func parseBool(v string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes":
		return true, true
	case "false", "0", "no", "":
		return false, true
	}
	return false, false
}

// errNotPacket is a decisions file that cannot be tied to a packet.
var errNotPacket = errors.New("not a review packet")

// maxQuoted is how much of a value a message quotes: a cell may hold
// anything, up to megabytes, and a message is one short line.
const maxQuoted = 40

// clip quotes a value for a message, cut to maxQuoted characters.
func clip(s string) string {
	n := 0
	for i := range s {
		if n == maxQuoted {
			return fmt.Sprintf("%q… (%d bytes)", s[:i], len(s))
		}
		n++
	}
	return fmt.Sprintf("%q", s)
}

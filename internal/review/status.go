package review

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/xuri/excelize/v2"

	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/provision"
)

// ScopeStatus is how far one scope's review is.
type ScopeStatus struct {
	Scope        string `json:"scope"`
	Dir          string `json:"dir"`
	RowsToDecide int64  `json:"rows_to_decide"`
	// DecidedByHand are rows a person decided (Keep, Revoke or Change on
	// the effective_access row, or on the privileged_access row of the
	// same access), each with a reviewer's name.
	DecidedByHand int64 `json:"decided_by_hand"`
	// KeptInBulk are the rows left without a decision that the bulk
	// control certified as Keep; a row decided by hand is never counted
	// here too.
	KeptInBulk int64 `json:"kept_in_bulk"`
	Undecided  int64 `json:"undecided"`
	// Unattributed are decisions without a Reviewer (and no bulk reviewer
	// to take them): not counted as decided.
	Unattributed int64    `json:"unattributed"`
	Revokes      int64    `json:"revokes"` // on any review sheet
	Changes      int64    `json:"changes"`
	Reviewers    []string `json:"reviewers"` // who answered
	BulkReviewer string   `json:"bulk_reviewer,omitempty"`
	// Verified: the packet verifies against its manifest, the manifest is
	// the one campaign.json lists, and the workbook is that packet's, with
	// every decision valid ('exporter apply' would take it).
	Verified bool     `json:"verified"`
	Problems []string `json:"problems,omitempty"`
	Complete bool     `json:"complete"`
}

// Status is a campaign's completion.
type Status struct {
	CampaignID   string        `json:"campaign_id"`
	Org          string        `json:"org"`
	Run          int64         `json:"run"`
	Scopes       []ScopeStatus `json:"scopes"`
	Complete     int           `json:"scopes_complete"`
	Total        int           `json:"scopes_total"`
	RowsToDecide int64         `json:"rows_to_decide"`
	Decided      int64         `json:"rows_decided"` // by hand or in bulk
	Revokes      int64         `json:"revokes"`
}

// Done reports whether every scope is complete.
func (s *Status) Done() bool { return s.Complete == s.Total }

// statusReaders is how many scopes are read at once.
const statusReaders = 4

// mostProblems is how many problems a scope's status lists.
const mostProblems = 20

// CampaignStatus reads a campaign folder (local: a blob prefix is fetched
// first, see Fetch) and every scope's filled-in workbook.
func CampaignStatus(ctx context.Context, dir string) (*Status, error) {
	c, err := Read(ctx, export.NewLocalSink(dir))
	if err != nil {
		return nil, err
	}
	st := &Status{CampaignID: c.CampaignID, Org: c.Org, Run: c.Run, Total: len(c.Scopes)}
	// Each scope is read on its own (verifying its packet is mostly
	// reading and hashing files), several at once.
	all := make([]ScopeStatus, len(c.Scopes))
	next := make(chan int)
	var wg sync.WaitGroup
	for range statusReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				all[i] = scopeStatus(ctx, filepath.Join(dir, filepath.FromSlash(c.Scopes[i].Dir)), c.Scopes[i])
			}
		}()
	}
	for i := range c.Scopes {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, ss := range all {
		if ss.Complete {
			st.Complete++
		}
		st.RowsToDecide += ss.RowsToDecide
		st.Decided += ss.DecidedByHand + ss.KeptInBulk
		st.Revokes += ss.Revokes
		st.Scopes = append(st.Scopes, ss)
	}
	return st, nil
}

func scopeStatus(ctx context.Context, dir string, sc Scope) ScopeStatus {
	ss := ScopeStatus{Scope: sc.Name, Dir: sc.Dir, RowsToDecide: sc.RowsToDecide, Reviewers: []string{}}
	fail := func(format string, args ...any) ScopeStatus {
		ss.Problems = append(ss.Problems, fmt.Sprintf(format, args...))
		ss.Undecided = ss.RowsToDecide - ss.DecidedByHand - ss.KeptInBulk
		return ss
	}
	if sum, err := fileSHA256(filepath.Join(dir, export.ManifestName)); err != nil {
		return fail("%s: %v", export.ManifestName, err)
	} else if sum != sc.ManifestSHA256 {
		return fail("%s is not the one %s lists (SHA-256 %s, listed %s)", export.ManifestName, CampaignName, sum, sc.ManifestSHA256)
	}
	book := filepath.Join(dir, export.WorkbookName)
	counts, err := countWorkbook(book)
	if err != nil {
		return fail("%s: %v", export.WorkbookName, err)
	}
	ss.Revokes, ss.Changes, ss.BulkReviewer = counts.revokes, counts.changes, counts.bulk
	who := map[string]bool{}
	for _, d := range counts.decided {
		if d.reviewer == "" {
			d.reviewer = counts.bulk
		}
		if d.reviewer == "" {
			ss.Unattributed++
			continue
		}
		ss.DecidedByHand++
		who[d.reviewer] = true
	}
	for r := range counts.reviewers {
		who[r] = true
	}
	if counts.bulk != "" {
		ss.KeptInBulk = counts.rows - int64(len(counts.decided))
		who[counts.bulk] = true
	}
	for r := range who {
		ss.Reviewers = append(ss.Reviewers, r)
	}
	slices.Sort(ss.Reviewers)
	ss.Undecided = ss.RowsToDecide - ss.DecidedByHand - ss.KeptInBulk
	if counts.rows != sc.RowsToDecide {
		ss.Problems = append(ss.Problems, fmt.Sprintf("the workbook's effective_access sheets hold %d rows, %s lists %d", counts.rows, CampaignName, sc.RowsToDecide))
	}
	if _, err := provision.ReadDecisions(ctx, book, provision.ReadOptions{PacketDir: dir}); err != nil {
		var ie *provision.InputError
		if !errors.As(err, &ie) {
			return fail("%v", err)
		}
		for i, p := range ie.Problems {
			if i == mostProblems {
				ss.Problems = append(ss.Problems, fmt.Sprintf("… and %d more", len(ie.Problems)-mostProblems))
				break
			}
			ss.Problems = append(ss.Problems, p.String())
		}
	}
	ss.Verified = len(ss.Problems) == 0
	ss.Complete = ss.Verified && ss.Undecided == 0 && ss.Unattributed == 0
	return ss
}

// decided is one access decided by hand.
type decided struct{ reviewer string }

// workbookCounts are a scope workbook's decisions.
type workbookCounts struct {
	rows             int64              // effective_access rows
	decided          map[string]decided // access key → who decided it
	revokes, changes int64
	reviewers        map[string]bool // every Reviewer named on a decision
	bulk             string          // the bulk reviewer, when the bulk Keep is Yes
}

// countWorkbook reads a filled-in workbook as any spreadsheet program
// saves it (shared or inline strings), by column name.
func countWorkbook(path string) (*workbookCounts, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > provision.MaxDecisionFileSize {
		return nil, fmt.Errorf("%d MB, over the %d MB a decisions file may have", fi.Size()>>20, provision.MaxDecisionFileSize>>20)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("not a readable workbook: %w", err)
	}
	defer f.Close()
	wc := &workbookCounts{decided: map[string]decided{}, reviewers: map[string]bool{}}
	if strings.EqualFold(summaryCell(f, export.BulkKeepLabel), export.BulkKeepYes) {
		wc.bulk = summaryCell(f, export.BulkReviewerLabel)
	}
	for _, sh := range f.GetSheetList() {
		table, _, _ := strings.Cut(sh, " (")
		var key []string
		switch table {
		case export.EffectiveAccess.Name, export.PrivilegedAccess.Name:
			key = []string{"group_descriptor", "member_descriptor"}
		case export.Accounts.Name:
			key = []string{"descriptor"}
		default:
			continue
		}
		err := eachRow(f, sh, func(cell func(string) string) {
			if table == export.EffectiveAccess.Name {
				wc.rows++
			}
			d := strings.ToLower(cell(export.DecisionColumn))
			if d == "" {
				return
			}
			who := cell(export.ReviewerColumn)
			if who != "" {
				wc.reviewers[who] = true
			}
			switch d {
			case "revoke":
				wc.revokes++
			case "change":
				wc.changes++
			}
			if table == export.Accounts.Name {
				return
			}
			k := cell(key[0]) + "\x1f" + cell(key[1])
			if prev, ok := wc.decided[k]; !ok || prev.reviewer == "" {
				wc.decided[k] = decided{reviewer: who}
			}
		})
		if err != nil {
			return nil, fmt.Errorf("sheet %s: %w", sh, err)
		}
	}
	// A privileged_access decision of an access the scope does not list on
	// effective_access decides nothing to count.
	if int64(len(wc.decided)) > wc.rows {
		return nil, fmt.Errorf("%d accesses decided, more than the %d rows to decide: rows were added", len(wc.decided), wc.rows)
	}
	return wc, nil
}

// eachRow streams a sheet's data rows, each cell found by its header.
func eachRow(f *excelize.File, sheet string, fn func(cell func(string) string)) error {
	rows, err := f.Rows(sheet)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		return rows.Error()
	}
	header, err := rows.Columns()
	if err != nil {
		return err
	}
	at := map[string]int{}
	for i, h := range header {
		at[strings.TrimSpace(h)] = i
	}
	for rows.Next() {
		cells, err := rows.Columns()
		if err != nil {
			return err
		}
		if len(strings.Join(cells, "")) == 0 {
			continue
		}
		fn(func(name string) string {
			if i, ok := at[name]; ok && i < len(cells) {
				return strings.TrimSpace(cells[i])
			}
			return ""
		})
	}
	return rows.Error()
}

// summaryCell is the value beside a label in column A of the Summary sheet.
func summaryCell(f *excelize.File, label string) string {
	rows, err := f.Rows(export.SummarySheet)
	if err != nil {
		return ""
	}
	defer rows.Close()
	for rows.Next() {
		cells, _ := rows.Columns()
		if len(cells) >= 2 && strings.TrimSpace(cells[0]) == label {
			return strings.TrimSpace(cells[1])
		}
	}
	return ""
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, 64<<20)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

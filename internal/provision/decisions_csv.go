package provision

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/safecsv"
)

// openCSV opens a CSV file for reading as export writes them and
// spreadsheets save them: a header row, any number of fields per row (a
// spreadsheet drops trailing empty ones), an optional byte-order mark.
func openCSV(path string) (*os.File, *csv.Reader, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read decisions: %w", err)
	}
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		f.Close()
		if err == io.EOF {
			return nil, nil, nil, &InputError{Problems: []Problem{{Source: Source{File: path}, Msg: "the file is empty: no header row"}}}
		}
		return nil, nil, nil, csvError(path, err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff"))
	}
	return f, cr, header, nil
}

// csvError turns a CSV syntax error into a problem with its line.
func csvError(path string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &InputError{Problems: []Problem{{Source: Source{File: path, Row: pe.StartLine}, Msg: "not valid CSV: " + pe.Err.Error()}}}
	}
	return &InputError{Problems: []Problem{{Source: Source{File: path}, Msg: "not valid CSV: " + err.Error()}}}
}

// csvKind tells a plan file (an action column) from a review table.
func csvKind(path string) (string, error) {
	f, _, header, err := openCSV(path)
	if err != nil {
		return "", err
	}
	f.Close()
	if slices.Contains(header, "action") {
		return "plan", nil
	}
	if slices.Contains(header, export.DecisionColumn) {
		return "table", nil
	}
	for _, t := range reviewTables() {
		if slices.Contains(header, t.key[0]) {
			return "table", nil // its problems are told when it is read
		}
	}
	// Neither a plan nor a review table: say so here, before looking for
	// a packet around it, and name the likely cause.
	msg := fmt.Sprintf("the header %s is not recognised: a plan file's starts %s; a review table's CSV has the table's columns and %s",
		clip(strings.Join(header, ",")), strings.Join(planColumns, ","), export.DecisionColumn)
	if len(header) == 1 {
		for _, sep := range []string{";", "\t", "|"} {
			if strings.Contains(header[0], sep) {
				msg = fmt.Sprintf("the header %s is one column: the separator %q is not recognised; save the file with commas between columns (CSV, comma-delimited)", clip(header[0]), sep)
				break
			}
		}
	}
	return "", &InputError{Problems: []Problem{{Source: Source{File: path, Row: 1}, Msg: msg}}}
}

// readTableCSV reads a review table's CSV with a Decision column (and
// Reviewer, Comment) added by the reviewer. The table is the one whose
// name the file starts with (effective_access.csv, accounts-q3.csv, …).
// Values are unescaped as export escaped them; a value that starts with =
// and was not escaped was typed in as a formula.
func readTableCSV(ctx context.Context, r *packetRead) error {
	base := strings.ToLower(filepath.Base(r.path))
	var t reviewTable
	found := false
	for _, rt := range reviewTables() {
		if strings.HasPrefix(base, rt.name) && (!found || len(rt.name) > len(t.name)) {
			t, found = rt, true
		}
	}
	if !found {
		return &InputError{Problems: []Problem{{Source: Source{File: r.path}, Msg: "cannot tell which review table this is: name the file after it (accounts.csv, effective_access.csv or privileged_access.csv)"}}}
	}
	f, cr, header, err := openCSV(r.path)
	if err != nil {
		return err
	}
	defer f.Close()
	line := 1
	return r.table(t, t.name, header, func() ([]string, []string, error) {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		rec, err := cr.Read()
		if err == io.EOF {
			return nil, nil, io.EOF
		}
		line++
		if err != nil {
			return nil, nil, csvError(r.path, err)
		}
		markup := make([]string, len(rec))
		for i, v := range rec {
			if strings.HasPrefix(v, "=") {
				markup[i] = "formula"
			}
			rec[i] = safecsv.Unescape(v)
		}
		return rec, markup, nil
	})
}

// planColumns are a plan file's columns; action and subject are required.
var planColumns = []string{"action", "subject", "target", "license", "reason", "approver", "ticket"}

// readPlanCSV reads a plan file in CSV.
func readPlanCSV(path string) (*Decisions, error) {
	f, cr, header, err := openCSV(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ps problems
	at := map[string]int{}
	for i, h := range header {
		if h == "" {
			continue
		}
		if !slices.Contains(planColumns, h) {
			ps.add(Source{File: path, Row: 1}, "unknown column %s (a plan file has %s)", clip(h), strings.Join(planColumns, ", "))
			continue
		}
		at[h] = i
	}
	for _, c := range []string{"action", "subject"} {
		if _, ok := at[c]; !ok {
			ps.add(Source{File: path, Row: 1}, "no %s column", c)
		}
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	d := &Decisions{File: path}
	var rows []planRow
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(path, err)
		}
		if allEmpty(rec) {
			continue
		}
		get := func(c string) string {
			if i, ok := at[c]; ok && i < len(rec) {
				return safecsv.Unescape(strings.TrimSpace(rec[i]))
			}
			return ""
		}
		for c, i := range at {
			if i < len(rec) && strings.HasPrefix(strings.TrimSpace(rec[i]), "=") {
				ps.add(Source{File: path, Row: line}, "column %s holds a formula; a plan holds plain values", c)
			}
		}
		rows = append(rows, planRow{src: Source{File: path, Row: line}, action: get("action"), subject: get("subject"), target: get("target"),
			license: get("license"), reason: get("reason"), approver: get("approver"), ticket: get("ticket")})
	}
	checkPlanRows(d, rows, &ps)
	return d, ps.err()
}

// planRow is one row of a plan file as read.
type planRow struct {
	src                                                        Source
	action, subject, target, license, reason, approver, ticket string
}

// checkPlanRows checks each row on its own and against the others (the
// same action twice, the same membership granted and revoked) and keeps
// the valid ones.
func checkPlanRows(d *Decisions, rows []planRow, ps *problems) {
	type seen struct {
		row    int
		action string
	}
	byItem := map[string]seen{}
	for _, r := range rows {
		action := strings.ToLower(r.action)
		bad := false
		fail := func(format string, args ...any) { ps.add(r.src, format, args...); bad = true }
		if !slices.Contains(Actions, action) {
			fail("action %s: want %s", clip(r.action), strings.Join(Actions, ", "))
		}
		if r.subject == "" {
			fail("no subject: name an account (descriptor, principal name or mail)")
		}
		switch action {
		case ActGrant, ActRevoke:
			if r.target == "" {
				fail("%s needs a target group: [Project]\\Group, [org]\\Group, or a descriptor", action)
			}
			if r.license != "" {
				fail("%s takes no license", action)
			}
		case ActAddAccount, ActSetLicense:
			if r.license == "" {
				fail("%s needs a license (basic, stakeholder, basic+test-plans, …)", action)
			} else if _, ok := parseLicense(r.license); !ok {
				fail("license %s: want %s", clip(r.license), licenseNames)
			}
			if action == ActSetLicense && r.target != "" {
				fail("set-license takes no target")
			}
		case ActRevokePAT, ActRemoveRole, ActClosePipelines:
			if r.target == "" {
				fail("%s needs a target (%s)", action, pipePlanTargets[action])
			}
			if r.license != "" {
				fail("%s takes no license", action)
			}
		case ActRemoveAccount:
			if r.target != "" || r.license != "" {
				fail("remove-account takes no target or license")
			}
		}
		if r.approver == "" {
			fail("no approver: a plan says who approved each change")
		}
		if bad {
			continue
		}
		// The same item twice is a duplicate; a membership both granted and
		// revoked contradicts itself.
		item := strings.ToLower(r.subject) + "\x1f" + strings.ToLower(r.target)
		if action == ActAddAccount || action == ActSetLicense || action == ActRemoveAccount {
			item = strings.ToLower(r.subject) + "\x1faccount"
		}
		if prev, ok := byItem[item]; ok {
			switch {
			case prev.action == action:
				ps.add(r.src, "the same %s as row %d", action, prev.row)
			case (prev.action == ActGrant && action == ActRevoke) || (prev.action == ActRevoke && action == ActGrant):
				ps.add(r.src, "%s contradicts row %d, which %ss the same membership", action, prev.row, prev.action)
			default:
				ps.add(r.src, "%s of an account row %d already changes (%s)", action, prev.row, prev.action)
			}
			continue
		}
		byItem[item] = seen{r.src.Row, action}
		d.Rows = append(d.Rows, Decision{Source: r.src, Action: action, Subject: r.subject, Target: r.target,
			License: r.license, Reason: r.reason, Approver: r.approver, Ticket: r.ticket})
	}
}

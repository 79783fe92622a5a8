package review

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ado-access/ado-access/internal/export"
)

// Limits of a reviewers file.
const (
	MaxReviewersFile  = 1 << 20 // bytes
	MaxReviewerRows   = 20000   // scope-reviewer pairs
	MaxReviewerLength = 256     // characters of a scope or reviewer
)

// ReadReviewers reads a --reviewers file that maps scopes to people:
//
// CSV, a header "scope,reviewer" then one row per pair:
//
//	scope,reviewer
//	Atlas,alice@contoso.com
//	(organization),security-team@contoso.com
//
// or YAML, a map of scope to a list of people:
//
//	Atlas: [alice@contoso.com, bob@contoso.com]
//	"(organization)": [security-team@contoso.com]
//
// A scope is a project's name or "(organization)" ("organization" too).
func ReadReviewers(path string) (map[string][]Reviewer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--reviewers: %w", err)
	}
	if fi.Size() > MaxReviewersFile {
		return nil, fmt.Errorf("--reviewers %s: %d bytes, over the %d a reviewers file may have", path, fi.Size(), MaxReviewersFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--reviewers: %w", err)
	}
	var pairs [][2]string
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		pairs, err = reviewersCSV(b)
	case ".yaml", ".yml":
		pairs, err = reviewersYAML(b)
	default:
		err = errors.New("want a .csv or .yaml file")
	}
	if err != nil {
		return nil, fmt.Errorf("--reviewers %s: %w", path, err)
	}
	if len(pairs) > MaxReviewerRows {
		return nil, fmt.Errorf("--reviewers %s: %d scope-reviewer pairs, over the %d a file may have", path, len(pairs), MaxReviewerRows)
	}
	out := map[string][]Reviewer{}
	for i, p := range pairs {
		scope, who := strings.TrimSpace(p[0]), strings.TrimSpace(p[1])
		if scope == "" || who == "" {
			return nil, fmt.Errorf("--reviewers %s: entry %d: a scope and a reviewer, both not empty", path, i+1)
		}
		if len(scope) > MaxReviewerLength || len(who) > MaxReviewerLength {
			return nil, fmt.Errorf("--reviewers %s: entry %d: over %d characters", path, i+1, MaxReviewerLength)
		}
		if strings.EqualFold(scope, "organization") {
			scope = export.ScopeOrganization
		}
		r := Reviewer{Name: who}
		if strings.Contains(who, "@") {
			r.Principal = who
		}
		out[scope] = append(out[scope], r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--reviewers %s: no scope named", path)
	}
	return out, nil
}

func reviewersCSV(b []byte) ([][2]string, error) {
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff"))))
	cr.FieldsPerRecord = 2
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("want a header row scope,reviewer: %w", err)
	}
	if !strings.EqualFold(strings.TrimSpace(header[0]), "scope") || !strings.EqualFold(strings.TrimSpace(header[1]), "reviewer") {
		return nil, fmt.Errorf("header %q: want scope,reviewer", strings.Join(header, ","))
	}
	var out [][2]string
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(out) == MaxReviewerRows {
			return nil, fmt.Errorf("over %d rows", MaxReviewerRows)
		}
		out = append(out, [2]string{rec[0], rec[1]})
	}
}

func reviewersYAML(b []byte) ([][2]string, error) {
	var m map[string][]string
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("want a map of scope to a list of reviewers: %w", err)
	}
	var out [][2]string
	for scope, people := range m {
		if len(people) == 0 {
			return nil, fmt.Errorf("scope %q has no reviewer", scope)
		}
		for _, p := range people {
			out = append(out, [2]string{scope, p})
		}
	}
	return out, nil
}

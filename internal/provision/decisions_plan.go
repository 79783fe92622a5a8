package provision

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/ado-access/ado-access/internal/collect"
)

// planJSONInfo are the keys a plan written by --plan-out carries besides
// the plan columns; they are informational and ignored on reading, so a
// written plan can be applied as it is.
var planJSONInfo = []string{"seq", "state", "note", "sources", "subject_name", "target_name", "subject_descriptor", "target_descriptor"}

// readPlanJSON reads a plan file in JSON: an array of objects with the
// plan columns as keys, or an object whose "actions" is that array (what
// --plan-out writes).
func readPlanJSON(path string) (*Decisions, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read decisions: %w", err)
	}
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	var entries []map[string]json.RawMessage
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, jsonError(path, err)
		}
		raw, ok := doc["actions"]
		if !ok {
			return nil, &InputError{Problems: []Problem{{Source: Source{File: path}, Msg: `a plan object needs an "actions" array`}}}
		}
		err = json.Unmarshal(raw, &entries)
		if err != nil {
			return nil, jsonError(path, err)
		}
	} else if err := json.Unmarshal(b, &entries); err != nil {
		return nil, jsonError(path, err)
	}
	if entries == nil { // null, where a list of actions belongs
		return nil, &InputError{Problems: []Problem{{Source: Source{File: path}, Msg: `not a plan: want a JSON array of actions, or an object with an "actions" array (got null)`}}}
	}
	var ps problems
	var rows []planRow
	for i, e := range entries {
		src := Source{File: path, Row: i + 1}
		get := func(key string) string {
			raw, ok := e[key]
			if !ok {
				return ""
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				ps.add(src, "%s must be a string", key)
			}
			return strings.TrimSpace(s)
		}
		var keys []string
		for k := range e {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !slices.Contains(planColumns, k) && !slices.Contains(planJSONInfo, k) {
				ps.add(src, "unknown key %s (a plan action has %s)", clip(k), strings.Join(planColumns, ", "))
			}
		}
		rows = append(rows, planRow{src: src, action: get("action"), subject: get("subject"), target: get("target"),
			license: get("license"), reason: get("reason"), approver: get("approver"), ticket: get("ticket")})
	}
	d := &Decisions{File: path}
	checkPlanRows(d, rows, &ps)
	return d, ps.err()
}

func jsonError(path string, err error) error {
	return &InputError{Problems: []Problem{{Source: Source{File: path}, Msg: "not a valid plan (JSON): " + err.Error()}}}
}

// licenseNames lists the licenses a plan may name.
const licenseNames = "basic, stakeholder, basic+test-plans (or express, advanced)"

// parseLicense reads a license as people write it.
func parseLicense(s string) (collect.AccessLevel, bool) {
	n := strings.ToLower(strings.Join(strings.Fields(s), ""))
	switch n {
	case "basic", "express":
		return collect.AccessLevel{AccountLicenseType: "express", LicensingSource: "account", MsdnLicenseType: "none"}, true
	case "stakeholder":
		return collect.AccessLevel{AccountLicenseType: "stakeholder", LicensingSource: "account", MsdnLicenseType: "none"}, true
	case "basic+test-plans", "basic+testplans", "advanced":
		return collect.AccessLevel{AccountLicenseType: "advanced", LicensingSource: "account", MsdnLicenseType: "none"}, true
	}
	return collect.AccessLevel{}, false
}

// licenseLabel is the portal's name of a license type.
func licenseLabel(accountLicenseType string) string {
	switch accountLicenseType {
	case "express":
		return "Basic"
	case "stakeholder":
		return "Stakeholder"
	case "advanced":
		return "Basic + Test Plans"
	}
	return accountLicenseType
}

package export

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/ado-access/ado-access/internal/diff"
)

// The findings, in the order a reviewer should read them.
const (
	FindGuestPrivileged      = "guest_in_privileged_group"
	FindDormantPrivileged    = "dormant_in_privileged_group"
	FindDeletedWithAccess    = "deleted_in_origin_with_access"
	FindServiceInteractive   = "service_account_interactive_license"
	FindPrivilegedTooMany    = "privileged_group_too_many_members"
	FindPrivilegedTooFew     = "privileged_group_too_few_members"
	severityHigh, severityMd = "high", "medium"
	severityLow              = "low"
)

// FindingKinds lists the findings in report order.
var FindingKinds = []string{FindGuestPrivileged, FindDormantPrivileged, FindDeletedWithAccess, FindServiceInteractive, FindPrivilegedTooMany, FindPrivilegedTooFew,
	FindUnknownIdentity, FindRepoPrivileged, FindDirectUser}

// FindingSeverity is each finding's severity.
var FindingSeverity = map[string]string{
	FindGuestPrivileged: severityHigh, FindDormantPrivileged: severityHigh, FindDeletedWithAccess: severityHigh,
	FindServiceInteractive: severityMd, FindPrivilegedTooMany: severityMd, FindPrivilegedTooFew: severityLow,
	FindUnknownIdentity: severityMd, FindRepoPrivileged: severityMd, FindDirectUser: severityMd,
}

func (j *job) find(kind, subject, subjectName, grp, grpName, detail string) {
	j.findings = append(j.findings, Row{kind, FindingSeverity[kind], subject, subjectName, grp, grpName, detail})
}

// accountFindings looks at one account on its own: an Entra identity that
// is gone but keeps access (an active access level or a group), and a
// service identity holding an interactive access level (Basic and above,
// or a Visual Studio subscription; Stakeholder is not one).
func (j *job) accountFindings(d string, a *account, r Row) {
	if r[accDeleted].(bool) && (a.status == "active" || r[accGroups].(int64) > 0) {
		j.find(FindDeletedWithAccess, d, a.name, "", "",
			fmt.Sprintf("gone from %s but still in the organization: access level %q (%s), %d direct groups",
				originName(r), orNone(a.license), orNone(a.status), r[accGroups].(int64)))
	}
	if (a.kind == "service_account" || a.kind == "service_principal") && a.status != "disabled" && interactive(r[accLicType].(string), r[accLicSource].(string)) {
		j.find(FindServiceInteractive, d, a.name, "", "",
			fmt.Sprintf("a %s holds the interactive access level %q", strings.ReplaceAll(a.kind, "_", " "), a.license))
	}
}

func originName(r Row) string {
	if r[col(Accounts, "origin")] == "aad" {
		return "Entra ID"
	}
	return "its directory"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// interactive reports an access level meant for people: Basic (express),
// Basic + Test Plans (advanced), Visual Studio Professional, Early Adopter,
// or any Visual Studio subscription.
func interactive(licenseType, source string) bool {
	switch licenseType {
	case "express", "advanced", "professional", "earlyAdopter":
		return true
	}
	return source == "msdn"
}

// privilegedFindings looks at one account's access to a privileged group.
func (j *job) privilegedFindings(g diff.Grant, gi *group, a *account, path string) {
	if a.metaType == "guest" {
		j.find(FindGuestPrivileged, g.Subject, a.name, g.Group, gi.name,
			fmt.Sprintf("a guest account is in %s (%s)", gi.name, path))
	}
	if a.dormant {
		j.find(FindDormantPrivileged, g.Subject, a.name, g.Group, gi.name,
			fmt.Sprintf("no access for %d days or more, yet in %s (%s)", j.opts.DormantDays, gi.name, path))
	}
}

// findingRows streams the findings: those noted on the way, and the
// privileged groups with fewer than 2 or more than MaxPrivileged
// accounts, in report order.
func (j *job) findingRows(emit func(Row) error) error {
	var groups []string
	for d, g := range j.groups {
		if g.privileged {
			groups = append(groups, d)
		}
	}
	slices.Sort(groups)
	for _, d := range groups {
		g, n := j.groups[d], j.privMembers[d]
		switch {
		case n < 2:
			j.find(FindPrivilegedTooFew, "", "", d, g.name,
				fmt.Sprintf("%s in %s: fewer than 2 leaves no one to stand in", accounts(n), g.name))
		case n > int64(j.opts.MaxPrivileged):
			j.find(FindPrivilegedTooMany, "", "", d, g.name,
				fmt.Sprintf("%s in %s, more than %d", accounts(n), g.name, j.opts.MaxPrivileged))
		}
	}
	slices.SortStableFunc(j.findings, func(a, b Row) int {
		return cmp.Or(
			cmp.Compare(slices.Index(FindingKinds, a[0].(string)), slices.Index(FindingKinds, b[0].(string))),
			strings.Compare(a[4].(string), b[4].(string)),
			strings.Compare(a[2].(string), b[2].(string)))
	})
	for _, r := range j.findings {
		if err := emit(r); err != nil {
			return err
		}
	}
	return nil
}

func accounts(n int64) string {
	if n == 1 {
		return "1 account"
	}
	return fmt.Sprintf("%d accounts", n)
}

// highFindings counts the findings of high severity.
func (j *job) highFindings() int64 {
	var n int64
	for _, r := range j.findings {
		if r[1] == severityHigh {
			n++
		}
	}
	return n
}

// findingCounts counts the findings by kind, in report order.
func (j *job) findingCounts() []Count {
	out := make([]Count, len(FindingKinds))
	for i, k := range FindingKinds {
		out[i].Name = k
	}
	for _, r := range j.findings {
		out[slices.Index(FindingKinds, r[0].(string))].N++
	}
	return out
}

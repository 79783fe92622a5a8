package diff

import (
	"cmp"
	"slices"
	"strings"
)

// Change kinds.
const (
	Added          = "added"
	Removed        = "removed"
	Modified       = "modified"
	LicenseChanged = "license_changed" // access level: license, its source, or how it was assigned
	Disabled       = "disabled"        // entitlement status became disabled
	Enabled        = "enabled"         // entitlement status left disabled
	Dormant        = "dormant"         // no access for Options.DormantDays at the newer run, not at the older
	AccessGained   = "access_gained"   // effective access: the account belongs to the group now
	AccessLost     = "access_lost"     // effective access: it no longer does
)

// Kinds lists the change kinds in the order changes to one entity are
// reported.
var Kinds = []string{Added, Removed, Modified, LicenseChanged, Disabled, Enabled, Dormant, AccessGained, AccessLost}

// Change is one difference between two runs (or packets).
type Change struct {
	Kind   string `json:"kind"`
	Entity string `json:"entity"` // a PacketTables name: accounts, groups, memberships, …, effective_access
	// Key is the entity's key; for two-part keys "group > member" (or
	// "team > member"), by descriptor or id.
	Key string `json:"key"`
	// Subject is the descriptor of the account or group concerned, when
	// any: the account, the group, or the member of a membership.
	Subject string `json:"subject"`
	// SubjectKind is user, service_account, service_principal or group.
	SubjectKind string `json:"subject_kind"`
	// Name is a human label: a display or principal name, "group > member"
	// for memberships and effective access.
	Name string `json:"name"`
	// Fields are the changed columns (modified, license_changed, disabled,
	// enabled; last_accessed for dormant).
	Fields []Field `json:"fields"`
	// Path is the grant path of effective access: "direct" or
	// "via Contributors → Project Administrators" (the newer run's for a
	// gain, the older run's for a loss).
	Path string `json:"path"`
}

// Field is one changed column.
type Field struct {
	Name   string `json:"name"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// Options choose what a diff computes.
type Options struct {
	// Entities limits the diff to some PacketTables names; empty means
	// all of them.
	Entities []string
	// Effective computes effective access (access_gained, access_lost);
	// without it effective_access is left out even if Entities names it.
	Effective bool
	// DormantDays is N in "no access for N days"; 0 means 90, negative
	// turns dormancy off.
	DormantDays int
}

// DefaultDormantDays is N when Options.DormantDays is 0.
const DefaultDormantDays = 90

func (o Options) dormantDays() int {
	if o.DormantDays == 0 {
		return DefaultDormantDays
	}
	return o.DormantDays
}

// entities are the packet tables the options ask for, in report order.
func (o Options) entities() []*PacketTable {
	var out []*PacketTable
	for _, t := range PacketTables {
		asked := slices.Contains(o.Entities, t.Name)
		if t.Name == EntEffectiveAccess && o.Effective && (len(o.Entities) == 0 || asked) ||
			t.Name != EntEffectiveAccess && (len(o.Entities) == 0 || asked) {
			out = append(out, t)
		}
	}
	return out
}

// licenseColumns are the compared columns whose change is a license
// (access level) change rather than a plain modification.
var licenseColumns = []string{"account_license_type", "licensing_source", "msdn_license_type", "license_display_name", "assignment_source", "group_rule"}

// compareRows turns the two versions of one entity (nil when absent) into
// changes. Rows hold normalized values in t.Columns order. Run and packet
// diffs both go through here, which is what makes them agree.
func compareRows(t *PacketTable, key string, before, after []string) []Change {
	c := Change{Entity: t.Name, Key: key}
	switch {
	case before == nil && after == nil:
		return nil
	case before == nil:
		c.Kind = Added
		return []Change{c}
	case after == nil:
		c.Kind = Removed
		return []Change{c}
	}
	var modified, license, status []Field
	statusKind := ""
	for i, col := range t.Compare {
		j := len(t.Key) + i
		if before[j] == after[j] {
			continue
		}
		f := Field{Name: col.Name, Before: before[j], After: after[j]}
		switch {
		case t.Name == EntAccounts && col.Name == "status" && f.After == "disabled":
			statusKind, status = Disabled, []Field{f}
		case t.Name == EntAccounts && col.Name == "status" && f.Before == "disabled":
			statusKind, status = Enabled, []Field{f}
		case slices.Contains(licenseColumns, col.Name):
			license = append(license, f)
		default: // including status pending → active and the like
			modified = append(modified, f)
		}
	}
	var out []Change
	if len(modified) > 0 {
		out = append(out, with(c, Modified, modified))
	}
	if len(license) > 0 {
		out = append(out, with(c, LicenseChanged, license))
	}
	if statusKind != "" {
		out = append(out, with(c, statusKind, status))
	}
	return out
}

func with(c Change, kind string, fields []Field) Change {
	c.Kind, c.Fields = kind, fields
	return c
}

// joinKey is how a two-part key is written in Change.Key.
func joinKey(parts ...string) string { return strings.Join(parts, " > ") }

// sortChanges orders one entity's changes for people and machines alike:
// by name, then key (names repeat, keys do not), then kind.
func sortChanges(cs []Change) {
	slices.SortFunc(cs, func(a, b Change) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return cmp.Compare(slices.Index(Kinds, a.Kind), slices.Index(Kinds, b.Kind))
	})
}

// compareNamed is compareRows for one key, naming the changes of entities
// that carry their own name (projects, teams, repositories).
func compareNamed(t *PacketTable, key string, before, after []string) []Change {
	cs := compareRows(t, key, before, after)
	if i := t.Col("name"); i >= 0 {
		name := ""
		switch {
		case after != nil:
			name = after[i]
		case before != nil:
			name = before[i]
		}
		for j := range cs {
			cs[j].Name = name
		}
	}
	return cs
}

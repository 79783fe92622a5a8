package diff

import (
	"strings"
	"time"
)

// Type says how a column's values are normalized before they are compared,
// so that a packet written as CSV, as Parquet or read from the store gives
// the same text.
type Type int

const (
	// Text is compared as is.
	Text Type = iota
	// Flag is a yes/no value: "1" or "0" (true/false are read as 1/0).
	Flag
	// Time is an instant: RFC 3339 in UTC as the store writes it; empty or
	// "never" means none.
	Time
)

// Column is one column of a packet table.
type Column struct {
	Name string // the column's name in packet files
	Type Type
	// Table and Store name where the value comes from in the snapshot store:
	// an entity table of internal/snapshot or access_dates. Empty for values
	// the diff computes (effective access).
	Table, Store string
}

// PacketTable is one table a packet carries for diffing: a file named
// Name+".csv" or Name+".parquet" with a header (CSV) or schema (Parquet)
// naming at least the Key and Compare columns. Other columns are ignored,
// in any order, so packets may carry more.
type PacketTable struct {
	Name string
	// Key identifies a row; no two rows of a table share one.
	Key []Column
	// Compare are the columns whose changes are reported (modified,
	// license_changed, disabled, enabled).
	Compare []Column
	// Carry are read but not compared: last access for dormancy, the grant
	// path of effective access. They may be missing from a packet.
	Carry []Column
	// Optional tables may be missing from one packet (written before the
	// table existed); the diff then skips them.
	Optional bool
}

// Columns lists the key, compared and carried columns, in that order: the
// order of the values in a row.
func (t *PacketTable) Columns() []Column {
	out := make([]Column, 0, len(t.Key)+len(t.Compare)+len(t.Carry))
	return append(append(append(out, t.Key...), t.Compare...), t.Carry...)
}

// Col returns the position of a column in Columns, or -1.
func (t *PacketTable) Col(name string) int {
	for i, c := range t.Key {
		if c.Name == name {
			return i
		}
	}
	for i, c := range t.Compare {
		if c.Name == name {
			return len(t.Key) + i
		}
	}
	for i, c := range t.Carry {
		if c.Name == name {
			return len(t.Key) + len(t.Compare) + i
		}
	}
	return -1
}

// Entity names: the packet tables, and what changes are reported under.
const (
	EntAccounts        = "accounts"
	EntGroups          = "groups"
	EntGroupRules      = "group_rules"
	EntMemberships     = "memberships"
	EntProjects        = "projects"
	EntTeams           = "teams"
	EntTeamMembers     = "team_members"
	EntRepositories    = "repositories"
	EntEffectiveAccess = "effective_access"
)

func cols(table string, typ Type, names ...string) []Column {
	out := make([]Column, len(names))
	for i, n := range names {
		out[i] = Column{Name: n, Type: typ, Table: table, Store: n}
	}
	return out
}

func join(parts ...[]Column) []Column {
	var out []Column
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// PacketTables is the contract between packets and the diff, in the order
// changes are reported. Export writes these tables (more columns are
// welcome); Packets reads them. accounts joins an account with its
// entitlement (empty when it has none) and its last access.
var PacketTables = []*PacketTable{
	{
		Name: EntAccounts,
		Key:  cols("accounts", Text, "descriptor"),
		Compare: join(
			cols("accounts", Text, "kind", "subject_type", "origin", "origin_id", "principal_name", "mail",
				"display_name", "domain", "meta_type", "directory_alias", "application_id"),
			cols("accounts", Flag, "deleted_in_origin"),
			cols("entitlements", Text, "account_license_type", "licensing_source", "msdn_license_type",
				"license_display_name", "status", "assignment_source", "group_rule"),
			cols("entitlements", Time, "date_created")),
		Carry: cols("access_dates", Time, "last_accessed"),
	},
	{
		Name: EntGroups,
		Key:  cols("groups", Text, "descriptor"),
		Compare: join(
			cols("groups", Text, "subject_type", "scope_id", "origin", "origin_id", "display_name",
				"principal_name", "description", "domain", "mail"),
			cols("groups", Flag, "entra_managed")),
	},
	{
		Name: EntGroupRules,
		Key:  cols("group_rules", Text, "group_descriptor"),
		Compare: cols("group_rules", Text, "account_license_type", "licensing_source", "msdn_license_type",
			"license_display_name", "status"),
	},
	{
		Name: EntMemberships,
		Key: []Column{
			{Name: "group_descriptor", Table: "memberships", Store: "container"},
			{Name: "member_descriptor", Table: "memberships", Store: "member"},
		},
	},
	{
		Name:    EntProjects,
		Key:     cols("projects", Text, "id"),
		Compare: cols("projects", Text, "name", "description", "state", "visibility"),
	},
	{
		Name:    EntTeams,
		Key:     cols("teams", Text, "id"),
		Compare: cols("teams", Text, "project_id", "name", "description"),
	},
	{
		Name:    EntTeamMembers,
		Key:     cols("team_members", Text, "team_id", "member"),
		Compare: cols("team_members", Flag, "is_admin"),
	},
	{
		Name:    EntRepositories,
		Key:     cols("repositories", Text, "id"),
		Compare: join(cols("repositories", Text, "project_id", "name", "default_branch"), cols("repositories", Flag, "is_disabled")),
	},
	{
		// Effective access of accounts: one row per (group, account) that
		// the account belongs to directly or through nested groups.
		Name: EntEffectiveAccess,
		Key:  []Column{{Name: "group_descriptor"}, {Name: "member_descriptor"}},
		Carry: []Column{
			{Name: "member_kind"},        // user, service_account or service_principal
			{Name: "direct", Type: Flag}, // 1: a direct member
			{Name: "path"},               // Grant.PathText: "direct" or "via A → B"
			{Name: "path_descriptors"},   // Grant.Path joined by " > "
		},
	},
}

// PacketTableByName finds a table of the contract.
func PacketTableByName(name string) *PacketTable {
	for _, t := range PacketTables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// normalize puts a value into the form it is compared in.
func normalize(typ Type, v string) string {
	switch typ {
	case Flag:
		switch strings.ToLower(v) {
		case "1", "true":
			return "1"
		case "0", "false", "":
			return "0"
		}
	case Time:
		if v == "" || v == "never" {
			return ""
		}
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t.UTC().Format(time.RFC3339Nano)
		}
	}
	return v
}

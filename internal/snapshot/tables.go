package snapshot

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
)

// Table describes one temporal entity table of the schema in sql/: its
// natural key and its versioned attributes. Rows are values in the order
// Key then Attrs. The write statements are derived from these lists (names
// only, never values), and a test checks them against the migrations.
type Table struct {
	Name string
	Key  []string
	// Scope is how many leading key columns group rows that are read and
	// replaced together (memberships by container, team members by team).
	Scope int
	Attrs []string
}

// Columns lists the key then the attribute columns.
func (t *Table) Columns() []string { return append(append([]string(nil), t.Key...), t.Attrs...) }

// The entity tables.
var (
	Accounts = &Table{Name: "accounts", Key: []string{"descriptor"}, Attrs: []string{
		"kind", "subject_type", "origin", "origin_id", "principal_name", "mail", "display_name",
		"domain", "meta_type", "directory_alias", "application_id", "deleted_in_origin"}}
	Entitlements = &Table{Name: "entitlements", Key: []string{"descriptor"}, Attrs: []string{
		"account_license_type", "licensing_source", "msdn_license_type", "license_display_name",
		"status", "assignment_source", "group_rule", "date_created"}}
	Groups = &Table{Name: "groups", Key: []string{"descriptor"}, Attrs: []string{
		"subject_type", "scope_id", "origin", "origin_id", "display_name", "principal_name",
		"description", "domain", "mail", "entra_managed"}}
	GroupRules = &Table{Name: "group_rules", Key: []string{"group_descriptor"}, Attrs: []string{
		"account_license_type", "licensing_source", "msdn_license_type", "license_display_name", "status"}}
	Memberships  = &Table{Name: "memberships", Key: []string{"container", "member"}, Scope: 1}
	Projects     = &Table{Name: "projects", Key: []string{"id"}, Attrs: []string{"name", "description", "state", "visibility"}}
	Teams        = &Table{Name: "teams", Key: []string{"id"}, Attrs: []string{"project_id", "name", "description"}}
	TeamMembers  = &Table{Name: "team_members", Key: []string{"team_id", "member"}, Scope: 1, Attrs: []string{"is_admin"}}
	Repositories = &Table{Name: "repositories", Key: []string{"id"}, Attrs: []string{"project_id", "name", "default_branch", "is_disabled"}}

	// Permissions (sql/migrations/0007_permissions.sql). ACLs are read and
	// replaced by namespace, their entries by token.
	SecurityNamespaces = &Table{Name: "security_namespaces", Key: []string{"namespace_id"}, Attrs: []string{"name", "separator", "synced"}}
	NamespaceActions   = &Table{Name: "namespace_actions", Key: []string{"namespace_id", "bit"}, Scope: 1, Attrs: []string{"name", "display_name"}}
	ACLs               = &Table{Name: "acls", Key: []string{"namespace_id", "token"}, Attrs: []string{"inherit"}}
	ACEs               = &Table{Name: "aces", Key: []string{"namespace_id", "token", "identity"}, Scope: 2, Attrs: []string{
		"allow", "deny", "effective_allow", "effective_deny", "inherited_allow", "inherited_deny"}}
)

// Tables lists every entity table, in the order a full sync fills them.
var Tables = []*Table{Accounts, Entitlements, Groups, GroupRules, Memberships, Projects, Teams, TeamMembers, Repositories,
	SecurityNamespaces, NamespaceActions, ACLs, ACEs}

// TableByName finds an entity table.
func TableByName(name string) *Table {
	for _, t := range Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Row holds one entity's values in the order of Table.Columns. Values are
// string, int64 or bool.
type Row []any

// key joins the first n values into one string, the form used to track
// which keys a full sync has seen.
func (r Row) key(n int) string {
	if n == 1 {
		return fmt.Sprint(r[0])
	}
	parts := make([]string, n)
	for i := range n {
		parts[i] = fmt.Sprint(r[i])
	}
	return strings.Join(parts, "\x1f")
}

// contentHash fingerprints the attribute values; a row gets a new version
// only when it changes. FNV-1a over type-tagged values: "1" and 1 differ,
// and no value can run into the next.
func contentHash(vals []any) int64 {
	h := fnv.New64a()
	var b [9]byte
	for _, v := range vals {
		switch x := v.(type) {
		case string:
			b[0] = 's'
			binary.LittleEndian.PutUint64(b[1:], uint64(len(x)))
			h.Write(b[:])
			h.Write([]byte(x))
		case int64:
			b[0] = 'i'
			binary.LittleEndian.PutUint64(b[1:], uint64(x))
			h.Write(b[:])
		case bool:
			b[0] = 'b'
			b[1] = 0
			if x {
				b[1] = 1
			}
			h.Write(b[:2])
		case nil:
			h.Write([]byte{'n'})
		default:
			panic(fmt.Sprintf("snapshot: unsupported value %T", v))
		}
	}
	return int64(h.Sum64() & math.MaxInt64)
}

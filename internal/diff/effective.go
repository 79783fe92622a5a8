package diff

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// Grant is one effective membership: an account belongs to a group
// directly or through nested groups.
type Grant struct {
	Subject     string // the account's descriptor
	SubjectKind string // user, service_account or service_principal
	Group       string // the group's descriptor
	Direct      bool
	// Path is the shortest chain of groups from the account's direct group
	// to Group (the last element); one element when Direct.
	Path []string
	// PathNames are the groups' names at the run (principal names).
	PathNames []string
}

// PathText is the grant path for people: "direct", or
// "via Contributors → Project Administrators".
func (g Grant) PathText() string { return pathText(g.PathNames) }

func pathText(names []string) string {
	if len(names) <= 1 {
		return "direct"
	}
	return "via " + strings.Join(names, " → ")
}

// Effective streams the effective access of every account at a run: the
// transitive closure of direct memberships, cycles included (a group
// already on a walk is not entered again), each with its shortest path.
// Accounts come in descriptor order, each account's groups in descriptor
// order. Each group's ancestors are computed once, so the cost is the
// memberships plus the grants, not accounts × depth. emit may keep the
// Grant.
func Effective(ctx context.Context, st *snapshot.Store, run int64, emit func(Grant) error) error {
	if _, err := st.CompleteRun(ctx, run); err != nil {
		return err
	}
	in := newInterner()
	var edges []edge
	err := scanPairs(ctx, st.DB(), "diff_memberships_at", []any{sql.Named("run", run)}, func(c, m []byte, _ []bool) {
		edges = append(edges, edge{in.idOf(c), in.idOf(m)})
	})
	if err != nil {
		return fmt.Errorf("effective access at run %d: %w", run, err)
	}
	names, err := groupNames(ctx, st.DB(), run)
	if err != nil {
		return fmt.Errorf("effective access at run %d: %w", run, err)
	}
	kinds := map[string]string{}
	err = scanPairs(ctx, st.DB(), "diff_account_kinds_at", []any{sql.Named("run", run)}, func(d, k []byte, _ []bool) {
		if _, ok := in.ids[string(d)]; ok { // only accounts in some group matter
			kinds[string(d)] = string(k)
		}
	})
	if err != nil {
		return fmt.Errorf("effective access at run %d: %w", run, err)
	}
	g := newGraph(in, edges)
	c := closure{g: g, names: names, kinds: kinds}
	best := map[int32]reach{}
	for _, u := range c.accounts() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rs := g.effective(u, best)
		slices.SortFunc(rs, func(a, b reach) int { return strings.Compare(in.names[a.group], in.names[b.group]) })
		for _, r := range rs {
			if err := emit(c.grant(u, r)); err != nil {
				return err
			}
		}
	}
	return nil
}

// closure turns graph walks into grants with names.
type closure struct {
	g     *graph
	names map[string]string // group descriptor → name at the run
	kinds map[string]string // account descriptor → kind at the run
}

// isGroup tells groups from accounts: a group of the run, a container,
// or a group descriptor (vssgp., aadgp.) gone from the groups table.
func (c *closure) isGroup(n int32) bool {
	d := c.g.in.names[n]
	if _, ok := c.names[d]; ok {
		return true
	}
	return len(c.g.down.of(n)) > 0 || isGroupDescriptor(d)
}

// accounts lists the members that are not groups, by descriptor.
func (c *closure) accounts() []int32 {
	var out []int32
	for n := range int32(len(c.g.in.names)) {
		if len(c.g.up.of(n)) > 0 && !c.isGroup(n) {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b int32) int { return strings.Compare(c.g.in.names[a], c.g.in.names[b]) })
	return out
}

func (c *closure) grant(u int32, r reach) Grant {
	ids := r.from.path(r.idx)
	gr := Grant{
		Subject:   c.g.in.names[u],
		Group:     c.g.in.names[r.group],
		Direct:    len(ids) == 1,
		Path:      make([]string, len(ids)),
		PathNames: make([]string, len(ids)),
	}
	gr.SubjectKind = c.kinds[gr.Subject]
	if gr.SubjectKind == "" {
		gr.SubjectKind = kindOfDescriptor(gr.Subject)
	}
	for i, id := range ids {
		d := c.g.in.names[id]
		gr.Path[i] = d
		gr.PathNames[i] = c.names[d]
		if gr.PathNames[i] == "" {
			gr.PathNames[i] = d
		}
	}
	return gr
}

// isGroupDescriptor recognizes Azure DevOps and Entra group descriptors.
func isGroupDescriptor(d string) bool {
	return strings.HasPrefix(d, "vssgp.") || strings.HasPrefix(d, "aadgp.")
}

// kindOfDescriptor classifies a subject the store does not describe, as
// the collector does.
func kindOfDescriptor(d string) string {
	t, _, _ := strings.Cut(d, ".")
	switch strings.ToLower(t) {
	case "vssgp", "aadgp":
		return "group"
	case "svc", "s2s", "acs":
		return "service_account"
	case "aadsp":
		return "service_principal"
	}
	return "user"
}

// GroupName is how a group is named for people: its principal name
// ("[Project]\Contributors"), else its display name, else its descriptor.
func GroupName(display, principal, descriptor string) string {
	switch {
	case principal != "":
		return principal
	case display != "":
		return display
	}
	return descriptor
}

// AccountName is how an account is named for people: display name, else
// principal name, else descriptor.
func AccountName(display, principal, descriptor string) string {
	switch {
	case display != "":
		return display
	case principal != "":
		return principal
	}
	return descriptor
}

func groupNames(ctx context.Context, db *sql.DB, run int64) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, snapshot.Query("diff_groups_at"), sql.Named("run", run))
	if err != nil {
		return nil, fmt.Errorf("read groups: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var d, display, principal string
		if err := rows.Scan(&d, &display, &principal); err != nil {
			return nil, fmt.Errorf("read groups: %w", err)
		}
		out[d] = GroupName(display, principal, d)
	}
	return out, rows.Err()
}

// scanPairs streams a named query whose first two columns are text and
// whose others are flags, without allocating per row beyond what the
// driver does.
func scanPairs(ctx context.Context, db *sql.DB, query string, args []any, fn func(a, b []byte, flags []bool)) error {
	rows, err := db.QueryContext(ctx, snapshot.Query(query), args...)
	if err != nil {
		return fmt.Errorf("query %s: %w", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	var a, b sql.RawBytes
	flags := make([]bool, len(cols)-2)
	ptrs := []any{&a, &b}
	for i := range flags {
		ptrs = append(ptrs, &flags[i])
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("query %s: %w", query, err)
		}
		fn(a, b, flags)
	}
	return rows.Err()
}

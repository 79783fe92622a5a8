package provision

import (
	"context"
	"database/sql"
	"strings"
	"sync"

	"github.com/ado-access/ado-access/internal/diff"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// view is a snapshot of the store at one run, indexed by the descriptors
// and names decisions use. Accounts and groups are held in memory (an
// organization of 50,000 users is a few megabytes); memberships are asked
// for one at a time.
type view struct {
	st       *snapshot.Store
	run      int64
	accounts map[string]*account
	groups   map[string]*group
	byName   map[string][]string // lower-case principal name or mail → descriptors (accounts and groups)

	pipeMu sync.Mutex
	pipe   map[string]map[string][]any // pipeline table → key → row, read when first asked for (pipelines.go)
	names  map[string]string           // pipeline resources' names (resourceNames)
}

type account struct {
	descriptor, kind, display, principal, mail, origin, originID string
	licenseType, licensingSource                                 string
	entitlementFrom                                              int64 // run that wrote the current access level, 0: none
}

func (a *account) name() string { return diff.AccountName(a.display, a.principal, a.descriptor) }

type group struct {
	descriptor, display, principal, subjectType, scopeID, originID, project string
	entra                                                                   bool
}

func (g *group) name() string { return diff.GroupName(g.display, g.principal, g.descriptor) }

func loadView(ctx context.Context, st *snapshot.Store, run int64) (*view, error) {
	v := &view{st: st, run: run, accounts: map[string]*account{}, groups: map[string]*group{}, byName: map[string][]string{}}
	index := func(name, d string) {
		if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
			v.byName[name] = append(v.byName[name], d)
		}
	}
	args := []any{sql.Named("run", run)}
	err := st.Rows(ctx, "apply_accounts", args, nil, func(r []any) error {
		a := &account{descriptor: text(r[0]), kind: text(r[1]), display: text(r[2]), principal: text(r[3]), mail: text(r[4]),
			origin: text(r[5]), originID: text(r[6]), licenseType: text(r[7]), licensingSource: text(r[8]), entitlementFrom: integer(r[9])}
		v.accounts[a.descriptor] = a
		index(a.principal, a.descriptor)
		if !strings.EqualFold(a.mail, a.principal) {
			index(a.mail, a.descriptor)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = st.Rows(ctx, "apply_groups", args, nil, func(r []any) error {
		g := &group{descriptor: text(r[0]), display: text(r[1]), principal: text(r[2]), subjectType: text(r[3]), scopeID: text(r[4]),
			originID: text(r[5]), entra: integer(r[6]) != 0, project: text(r[7])}
		v.groups[g.descriptor] = g
		index(g.principal, g.descriptor)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

func integer(v any) int64 {
	if x, ok := v.(int64); ok {
		return x
	}
	return 0
}

// lookup finds the descriptors a name stands for: a descriptor itself, or
// a principal name or mail (case-insensitive).
func (v *view) lookup(name string) []string {
	name = strings.TrimSpace(name)
	if _, ok := v.accounts[name]; ok {
		return []string{name}
	}
	if _, ok := v.groups[name]; ok {
		return []string{name}
	}
	return v.byName[strings.ToLower(name)]
}

// membership reports whether member is a direct member of container at
// the view's run, and the run its version began.
func (v *view) membership(ctx context.Context, container, member string) (from int64, ok bool, err error) {
	err = v.st.Rows(ctx, "apply_membership", []any{sql.Named("container", container), sql.Named("member", member), sql.Named("run", v.run)}, nil,
		func(r []any) error {
			from, ok = integer(r[0]), true
			return nil
		})
	return from, ok, err
}

// containers lists the groups member is a direct member of at the view's run.
func (v *view) containers(ctx context.Context, member string) ([]string, error) {
	var out []string
	err := v.st.Rows(ctx, "apply_containers", []any{sql.Named("member", member), sql.Named("run", v.run)}, nil, func(r []any) error {
		out = append(out, text(r[0]))
		return nil
	})
	return out, err
}

// pathUp finds the shortest chain of direct memberships from member up to
// group (member's direct group first, group last), or nil.
func (v *view) pathUp(ctx context.Context, member, target string) ([]string, error) {
	parent := map[string]string{member: ""}
	frontier := []string{member}
	for len(frontier) > 0 {
		var next []string
		for _, n := range frontier {
			cs, err := v.containers(ctx, n)
			if err != nil {
				return nil, err
			}
			for _, c := range cs {
				if _, seen := parent[c]; seen {
					continue
				}
				parent[c] = n
				if c == target {
					var path []string
					for x := c; x != member; x = parent[x] {
						path = append([]string{x}, path...)
					}
					return path, nil
				}
				next = append(next, c)
			}
		}
		frontier = next
	}
	return nil, nil
}

// reach lists every group member belongs to at the view's run, directly or
// through nested groups, without the memberships in cut.
func (v *view) reach(ctx context.Context, member string, cut map[[2]string]bool) (map[string]bool, error) {
	out := map[string]bool{}
	frontier := []string{member}
	for len(frontier) > 0 {
		var next []string
		for _, n := range frontier {
			cs, err := v.containers(ctx, n)
			if err != nil {
				return nil, err
			}
			for _, c := range cs {
				if out[c] || cut[[2]string{n, c}] {
					continue
				}
				out[c] = true
				next = append(next, c)
			}
		}
		frontier = next
	}
	return out, nil
}

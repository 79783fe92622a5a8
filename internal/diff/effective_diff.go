package diff

import (
	"context"
	"database/sql"
	"slices"
	"strings"
)

// effective finds who gained or lost which group, directly or through
// nested groups. It reads the membership graph of both runs in one pass,
// then recomputes effective access only for the accounts a changed
// membership can reach: those whose direct memberships changed, and the
// direct members of every group at or below a group whose parents changed.
func (d *runDiff) effective(ctx context.Context) ([]Change, error) {
	in := newInterner()
	var ea, eb []edge
	args := []any{sql.Named("from", d.a.ID), sql.Named("to", d.b.ID)}
	err := scanPairs(ctx, d.st.DB(), "diff_memberships_across", args, func(c, m []byte, at []bool) {
		e := edge{in.idOf(c), in.idOf(m)}
		if at[0] {
			ea = append(ea, e)
		}
		if at[1] {
			eb = append(eb, e)
		}
	})
	if err != nil {
		return nil, err
	}
	namesA, err := groupNames(ctx, d.st.DB(), d.a.ID)
	if err != nil {
		return nil, err
	}
	namesB, err := groupNames(ctx, d.st.DB(), d.b.ID)
	if err != nil {
		return nil, err
	}
	ca := &closure{g: newGraph(in, ea), names: namesA}
	cb := &closure{g: newGraph(in, eb), names: namesB}
	var out []Change
	bestA, bestB := map[int32]reach{}, map[int32]reach{}
	for _, u := range affected(ca, cb) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ra, rb := ca.g.effective(u, bestA), cb.g.effective(u, bestB)
		i, j := 0, 0
		for i < len(ra) || j < len(rb) {
			switch {
			case j == len(rb) || i < len(ra) && ra[i].group < rb[j].group:
				out = append(out, accessChange(AccessLost, ca.grant(u, ra[i])))
				i++
			case i == len(ra) || rb[j].group < ra[i].group:
				out = append(out, accessChange(AccessGained, cb.grant(u, rb[j])))
				j++
			default:
				i++
				j++
			}
		}
	}
	return out, nil
}

// accessChange is a gained or lost grant as a change.
func accessChange(kind string, g Grant) Change {
	return Change{Kind: kind, Entity: EntEffectiveAccess, Key: joinKey(g.Group, g.Subject), Path: g.PathText(), Fields: []Field{}}
}

// affected lists, by descriptor, the accounts whose effective access may
// differ between the two graphs. A group's ancestors change only if a
// membership of the group, or of a group above it, changed; so the groups
// to recheck are those at or below the member of a changed membership, in
// either run.
func affected(a, b *closure) []int32 {
	in := a.g.in
	isGroup := func(n int32) bool { return a.isGroup(n) || b.isGroup(n) }
	accounts := map[int32]bool{}
	var seeds []int32
	forChanged(a.g.edges, b.g.edges, func(e edge) {
		if isGroup(e.member) {
			seeds = append(seeds, e.member)
		} else {
			accounts[e.member] = true
		}
	})
	for _, g := range []*graph{a.g, b.g} {
		g.walk.reset()
		queue := slices.Clone(seeds)
		for _, s := range seeds {
			g.walk.visit(s)
		}
		for len(queue) > 0 {
			x := queue[len(queue)-1]
			queue = queue[:len(queue)-1]
			for _, m := range g.down.of(x) {
				switch {
				case !isGroup(m):
					accounts[m] = true
				case g.walk.visit(m):
					queue = append(queue, m)
				}
			}
		}
	}
	out := make([]int32, 0, len(accounts))
	for u := range accounts {
		out = append(out, u)
	}
	slices.SortFunc(out, func(x, y int32) int { return strings.Compare(in.names[x], in.names[y]) })
	return out
}

// forChanged calls fn for each edge in exactly one of two key-sorted lists.
func forChanged(a, b []edge, fn func(edge)) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i].key() < b[j].key():
			fn(a[i])
			i++
		case i == len(a) || b[j].key() < a[i].key():
			fn(b[j])
			j++
		default:
			i++
			j++
		}
	}
}

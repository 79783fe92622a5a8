package diff

import (
	"slices"
	"strings"
)

// interner gives descriptors small ids, so that a run's 600k memberships
// fit in a few megabytes of int32s. The graphs of two runs share one, so
// their ids compare.
type interner struct {
	ids   map[string]int32
	names []string
}

func newInterner() *interner { return &interner{ids: map[string]int32{}} }

// idOf is id for bytes, without allocating when the descriptor is known.
func (in *interner) idOf(b []byte) int32 {
	if id, ok := in.ids[string(b)]; ok {
		return id
	}
	return in.id(string(b))
}

func (in *interner) id(s string) int32 {
	if id, ok := in.ids[s]; ok {
		return id
	}
	id := int32(len(in.names))
	s = strings.Clone(s) // s may be a slice of a larger buffer
	in.ids[s] = id
	in.names = append(in.names, s)
	return id
}

// edge is a direct membership: member in container.
type edge struct{ container, member int32 }

func (e edge) key() uint64 { return uint64(e.container)<<32 | uint64(uint32(e.member)) }

// graph is the direct-membership graph of one run: for each subject the
// groups it is a direct member of (up) and, for each group, its direct
// members (down). Lists are sorted by descriptor so that every walk, and
// so every grant path, is the same whichever order the rows came in.
type graph struct {
	in       *interner
	up, down csr
	edges    []edge // sorted by key
	// anc memoizes each group's ancestors: a group's ancestor set is
	// computed once however many accounts are in it.
	anc  []*ancestry
	walk walker
}

// csr is an adjacency list in compressed form: the neighbours of node n
// are list[start[n]:start[n+1]].
type csr struct {
	start []int32
	list  []int32
}

func (c *csr) of(n int32) []int32 {
	if int(n)+1 >= len(c.start) {
		return nil
	}
	return c.list[c.start[n]:c.start[n+1]]
}

// newGraph builds a graph from a run's edges; in must already hold every
// descriptor the edges name.
func newGraph(in *interner, edges []edge) *graph {
	slices.SortFunc(edges, func(a, b edge) int {
		x, y := a.key(), b.key()
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	edges = slices.CompactFunc(edges, func(a, b edge) bool { return a == b })
	n := len(in.names)
	g := &graph{in: in, edges: edges, anc: make([]*ancestry, n)}
	byName := func(a, b int32) int { return strings.Compare(in.names[a], in.names[b]) }
	g.up = buildCSR(n, edges, func(e edge) (int32, int32) { return e.member, e.container }, byName)
	g.down = buildCSR(n, edges, func(e edge) (int32, int32) { return e.container, e.member }, byName)
	g.walk.init(n)
	return g
}

func buildCSR(n int, edges []edge, pick func(edge) (from, to int32), order func(a, b int32) int) csr {
	c := csr{start: make([]int32, n+1), list: make([]int32, len(edges))}
	for _, e := range edges {
		from, _ := pick(e)
		c.start[from+1]++
	}
	for i := 1; i <= n; i++ {
		c.start[i] += c.start[i-1]
	}
	pos := slices.Clone(c.start[:n])
	for _, e := range edges {
		from, to := pick(e)
		c.list[pos[from]] = to
		pos[from]++
	}
	for i := range n {
		slices.SortFunc(c.list[c.start[i]:c.start[i+1]], order)
	}
	return c
}

// ancestry is every group reachable upwards from one group, breadth first:
// node[0] is the group itself, and pred[i] is the index of the group node[i]
// was first reached from, so following pred gives the shortest path.
type ancestry struct {
	node []int32
	pred []int32
	dist []int32
}

// walker holds scratch space for walks: a mark per node, reset in O(1) by
// moving to a new stamp.
type walker struct {
	mark  []uint32
	stamp uint32
}

func (w *walker) init(n int) { w.mark = make([]uint32, n) }

func (w *walker) reset() {
	w.stamp++
	if w.stamp == 0 { // wrapped: clear for real
		clear(w.mark)
		w.stamp = 1
	}
}

// visit marks n and reports whether it was unmarked.
func (w *walker) visit(n int32) bool {
	if w.mark[n] == w.stamp {
		return false
	}
	w.mark[n] = w.stamp
	return true
}

// ancestors returns group's ancestry, computing it on first use. A group
// already reached is not entered again, so cycles end.
func (g *graph) ancestors(group int32) *ancestry {
	if a := g.anc[group]; a != nil {
		return a
	}
	a := &ancestry{node: []int32{group}, pred: []int32{-1}, dist: []int32{0}}
	g.walk.reset()
	g.walk.visit(group)
	for i := 0; i < len(a.node); i++ {
		for _, p := range g.up.of(a.node[i]) {
			if g.walk.visit(p) {
				a.node = append(a.node, p)
				a.pred = append(a.pred, int32(i))
				a.dist = append(a.dist, a.dist[i]+1)
			}
		}
	}
	g.anc[group] = a
	return a
}

// path returns the groups from the root of a to node i: the direct group
// first, the group reached last.
func (a *ancestry) path(i int32) []int32 {
	n := a.dist[i] + 1
	out := make([]int32, n)
	for j := n - 1; j >= 0; j-- {
		out[j] = a.node[i]
		i = a.pred[i]
	}
	return out
}

// reach is one group an account belongs to, and how: node idx of the
// ancestry of one of its direct groups.
type reach struct {
	group int32
	from  *ancestry
	idx   int32
}

// effective returns every group subject belongs to, directly or through
// nested groups, each with its shortest path (ties go to the direct group
// first in descriptor order, then to breadth-first order), sorted by group
// id. best is scratch space the caller keeps between calls.
func (g *graph) effective(subject int32, best map[int32]reach) []reach {
	clear(best)
	for _, d := range g.up.of(subject) {
		a := g.ancestors(d)
		for i, n := range a.node {
			if r, ok := best[n]; !ok || r.from.dist[r.idx] > a.dist[i] {
				best[n] = reach{group: n, from: a, idx: int32(i)}
			}
		}
	}
	out := make([]reach, 0, len(best))
	for _, r := range best {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b reach) int { return int(a.group) - int(b.group) })
	return out
}

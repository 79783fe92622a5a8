package export

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/ado-access/ado-access/internal/snapshot"
)

// A campaign is one review packet per reviewer scope: each project (its
// groups, their members, the access they give inside it, its permissions,
// privileged access, findings and changes), and the organization level
// (Project Collection Administrators and the other collection groups).
// Scoping is a filter over the same tables a packet has: the run is read
// once, each row is routed to the scopes it belongs to and spooled, then
// each scope's packet is written from its spool, as a packet is.

// ScopeOrganization is the name of the organization-level scope.
const ScopeOrganization = "(organization)"

// Scope is one scope of a campaign, as written.
type Scope struct {
	Name           string // a project's name, or ScopeOrganization
	Dir            string // its sub-folder of the campaign
	Manifest       *Manifest
	ManifestSHA256 string // of its manifest.json as written
	// RowsToDecide are its effective_access rows: every access inside the
	// scope, each decided by a person or by the bulk Keep.
	RowsToDecide int64
	Marked       int64 // of those, the rows marked as needing a human
	// Administrators are the members of the scope's Project Administrators
	// (organization: Project Collection Administrators), direct and
	// through groups: its reviewers by default.
	Administrators []Person
}

// Person is an account, by name.
type Person struct {
	Descriptor string `json:"descriptor"`
	Name       string `json:"name"`
	Principal  string `json:"principal_name,omitempty"`
}

// ExportCampaign writes one packet per scope of the run, each into its
// own sub-folder of sink, and returns the scopes in order (the
// organization first, then projects by name). Changes are since a
// baseline run (or none); a packet baseline is refused. The caller
// writes campaign.json from what is returned.
func ExportCampaign(ctx context.Context, st *snapshot.Store, sink Sink, opts PacketOptions) ([]Scope, error) {
	if opts.Baseline.Packet != nil {
		return nil, fmt.Errorf("a campaign's changes are since a baseline run (--baseline RUN, the previous run by default, or none), not a packet")
	}
	if opts.PacketID != "" {
		return nil, fmt.Errorf("a campaign gives each scope's packet an id of its own")
	}
	j, err := newJob(ctx, st, opts.Options)
	if err != nil {
		return nil, err
	}
	defer j.close()
	if err := j.resolveBaseline(ctx, opts.Baseline); err != nil {
		return nil, err
	}
	if err := j.prepareChanges(ctx); err != nil {
		return nil, err
	}
	rt, err := newRouter(ctx, j)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "export-campaign-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	spools := make([]*scopeSpool, len(rt.names))
	for i := range spools {
		spools[i] = &scopeSpool{path: filepath.Join(tmp, fmt.Sprintf("scope-%d", i)), tables: make([]struct{ off, n int64 }, len(PacketTables))}
	}
	admins := make([]map[string]Person, len(rt.names))
	for ti, t := range PacketTables {
		for _, sp := range spools {
			sp.start(ti)
		}
		err := j.produce(ctx, t, func(r Row) error {
			for _, s := range rt.route(t, r) {
				if err := spools[s].add(ti, r); err != nil {
					return err
				}
				if t == EffectiveAccess && rt.isAdminGroup(s, r[0].(string)) {
					if admins[s] == nil {
						admins[s] = map[string]Person{}
					}
					m := r[2].(string)
					p := Person{Descriptor: m, Name: r[3].(string)}
					if a := j.accounts[m]; a != nil {
						p.Principal = a.principal
					}
					admins[s][m] = p
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("campaign table %s: %w", t.Name, err)
		}
	}
	for _, sp := range spools {
		if err := sp.flush(); err != nil {
			return nil, err
		}
	}
	j.opts.Logger.Debug("campaign routed", "scopes", len(spools))

	out := make([]Scope, len(spools))
	dirs := map[string]bool{}
	for i := range spools {
		sc := Scope{Name: rt.names[i], Dir: scopeDir(rt.names[i], dirs)}
		for _, p := range admins[i] {
			sc.Administrators = append(sc.Administrators, p)
		}
		slices.SortFunc(sc.Administrators, func(a, b Person) int { return strings.Compare(a.Name+a.Descriptor, b.Name+b.Descriptor) })
		out[i] = sc
	}
	// A scope's packet is small; most of its time is spent creating and
	// syncing its few dozen files, so several are written at once.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(spools))
	next := make(chan int)
	for range scopeWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := writeScope(ctx, j, spools[i], SubSink(sink, out[i].Dir), opts, &out[i]); err != nil {
					errs[i] = fmt.Errorf("scope %s: %w", out[i].Name, err)
					cancel()
				}
			}
		}()
	}
	for i := range spools {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// scopeWriters is how many scopes' packets are written at once.
const scopeWriters = 4

// writeScope writes one scope's packet from its spool: the review rows
// that need a human first, each marked.
func writeScope(ctx context.Context, j *job, sp *scopeSpool, sink Sink, opts PacketOptions, sc *Scope) error {
	mk, err := sp.marks()
	if err != nil {
		return err
	}
	rj := &job{
		st: j.st, run: j.run, opts: j.opts, snap: j.snap, priv: j.priv,
		changes:     changeSource{info: j.changes.info, desc: j.changes.desc, kind: "scoped"},
		privMembers: map[string]int64{}, privAccounts: map[string]bool{}, changeKinds: map[string]int64{}, rows: map[string]int64{},
		accounts: map[string]*account{}, groups: map[string]*group{},
	}
	rj.mark = mk.mark
	rj.source = func(ctx context.Context, t *Table, emit func(Row) error) error {
		ti := slices.Index(PacketTables, t)
		if _, review := reviewLead[t.Name]; !review {
			return sp.replay(ti, func(Row) bool { return true }, emit)
		}
		// Marked rows first, then the rest, in the store's order each.
		if err := sp.replay(ti, func(r Row) bool { return mk.mark(t, r) != "" }, emit); err != nil {
			return err
		}
		return sp.replay(ti, func(r Row) bool { return mk.mark(t, r) == "" }, emit)
	}
	opts.Scope = sc.Name
	m, err := writePacket(ctx, []*job{rj}, nil, sink, opts)
	if err != nil {
		return err
	}
	sc.Manifest = m
	sc.RowsToDecide = rj.rows[EffectiveAccess.Name]
	sc.Marked = mk.markedAccess
	rc, err := sink.Open(ctx, ManifestName)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(rc, maxManifest)); err != nil {
		return err
	}
	sc.ManifestSHA256 = hex.EncodeToString(h.Sum(nil))
	return nil
}

// tally keeps, for a replayed table, what the Summary sheet counts.
func (j *job) tally(t *Table, r Row) {
	switch t {
	case Accounts:
		if d, _ := r[accDormant].(bool); d {
			j.dormant++
		}
		lic, _ := r[accLicense].(string)
		j.accounts[r[accDescriptor].(string)] = &account{license: lic} // what the report counts
	case PrivilegedAccess:
		j.privAccounts[r[4].(string)] = true
	case Findings:
		j.findings = append(j.findings, r)
	case Changes:
		j.changeKinds[r[0].(string)]++
	}
}

// scopeDir is a scope's sub-folder: its name in lower case, letters,
// digits, '-', '_' and '.' kept, the rest '-', made unique.
func scopeDir(name string, taken map[string]bool) string {
	base := "organization"
	if name != ScopeOrganization {
		var b strings.Builder
		for _, r := range strings.ToLower(name) {
			if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.' {
				b.WriteRune(r)
			} else {
				b.WriteByte('-')
			}
		}
		base = "project-" + strings.Trim(b.String(), "-.")
		if len(base) > 80 {
			base = base[:80]
		}
	}
	d := base
	for n := 2; taken[d]; n++ {
		d = fmt.Sprintf("%s-%d", base, n)
	}
	taken[d] = true
	return d
}

// router tells which scopes a row belongs to. A project's scope holds its
// own groups and every account and group they reach through membership;
// the organization's, the collection-level Azure DevOps groups and what
// they reach.
type router struct {
	names  []string           // scope names; 0 is the organization
	own    map[string]int32   // group → the scope it is a group of
	reach  map[string][]int32 // account or group → scopes whose groups it is a member of (nested)
	admins map[string]int32   // administrators' group → its scope
	byProj map[string]int32   // project name → scope
	buf    []int32
}

func newRouter(ctx context.Context, j *job) (*router, error) {
	rt := &router{names: []string{ScopeOrganization}, own: map[string]int32{}, reach: map[string][]int32{}, admins: map[string]int32{}, byProj: map[string]int32{}}
	type grp struct{ d, display, project, kind string }
	var groups []grp
	args := []any{sql.Named("run", j.run.ID)}
	err := j.st.Rows(ctx, "export_groups", args, nil, func(v []any) error {
		s := func(i int) string { x, _ := v[i].(string); return x }
		groups = append(groups, grp{d: s(0), display: s(1), kind: s(3), project: s(5)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	var projects []string
	for _, g := range groups {
		if g.project != "" && !slices.Contains(projects, g.project) {
			projects = append(projects, g.project)
		}
	}
	slices.Sort(projects)
	for _, p := range projects {
		rt.byProj[p] = int32(len(rt.names))
		rt.names = append(rt.names, p)
	}
	for _, g := range groups {
		switch {
		case g.project != "":
			rt.own[g.d] = rt.byProj[g.project]
			if strings.EqualFold(g.display, "Project Administrators") {
				rt.admins[g.d] = rt.byProj[g.project]
			}
		case g.kind == "vssgp":
			rt.own[g.d] = 0
			if strings.EqualFold(g.display, "Project Collection Administrators") {
				rt.admins[g.d] = 0
			}
		}
	}
	children := map[string][]string{}
	err = j.st.Rows(ctx, "export_memberships", args, nil, func(v []any) error {
		g, _ := v[0].(string)
		m, _ := v[1].(string)
		children[g] = append(children[g], m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Each scope's reach, breadth first from its own groups (cycles end
	// where a member was already reached).
	seen := map[string]int32{} // member → the last scope that reached it
	queue := []string{}
	for s := range rt.names {
		queue = queue[:0]
		for g, o := range rt.own {
			if int(o) == s {
				queue = append(queue, g)
			}
		}
		for len(queue) > 0 {
			g := queue[0]
			queue = queue[1:]
			for _, m := range children[g] {
				if last, ok := seen[m]; ok && int(last) == s {
					continue
				}
				seen[m] = int32(s)
				rt.reach[m] = append(rt.reach[m], int32(s))
				queue = append(queue, m)
			}
		}
	}
	return rt, nil
}

func (rt *router) isAdminGroup(scope int32, g string) bool {
	s, ok := rt.admins[g]
	return ok && s == scope
}

// of is the scopes of a group (its own, or those it is nested in) or an
// account (those whose groups it reaches).
func (rt *router) of(d string) []int32 {
	if s, ok := rt.own[d]; ok {
		rt.buf = append(rt.buf[:0], s)
		for _, x := range rt.reach[d] {
			if x != s {
				rt.buf = append(rt.buf, x)
			}
		}
		return rt.buf
	}
	return rt.reach[d]
}

func (rt *router) ownOnly(d string) []int32 {
	if s, ok := rt.own[d]; ok {
		rt.buf = append(rt.buf[:0], s)
		return rt.buf
	}
	return nil
}

func (rt *router) project(p any) []int32 {
	name, _ := p.(string)
	if name == "" {
		rt.buf = append(rt.buf[:0], 0)
		return rt.buf
	}
	if s, ok := rt.byProj[name]; ok {
		rt.buf = append(rt.buf[:0], s)
		return rt.buf
	}
	return nil
}

// orOrg is the organization's scope when a row belongs to no other.
func (rt *router) orOrg(s []int32) []int32 {
	if len(s) > 0 {
		return s
	}
	rt.buf = append(rt.buf[:0], 0)
	return rt.buf
}

func (rt *router) route(t *Table, r Row) []int32 {
	str := func(i int) string { s, _ := r[i].(string); return s }
	switch t {
	case Accounts:
		return rt.orOrg(rt.reach[str(accDescriptor)])
	case Groups, GroupRules, Memberships:
		return rt.orOrg(rt.of(str(0)))
	case Projects:
		s := rt.project(r[1])
		return append(s, 0)
	case Teams:
		return rt.project(r[3])
	case TeamMembers:
		return rt.project(r[2])
	case Repositories:
		return rt.project(r[3])
	case EffectiveAccess, PrivilegedAccess:
		return rt.orOrg(rt.ownOnly(str(0)))
	case Permissions:
		return rt.project(r[4])
	case EffectivePermissions:
		return rt.project(r[6])
	case Findings:
		if g := str(4); g != "" {
			return rt.orOrg(rt.of(g))
		}
		return rt.orOrg(rt.of(str(2)))
	case Changes:
		if g, _, ok := strings.Cut(str(2), " > "); ok {
			return rt.orOrg(rt.of(g))
		}
		return rt.orOrg(rt.of(str(3)))
	case AppliedDecisions:
		if g := str(5); g != "" {
			if s := rt.of(g); len(s) > 0 {
				return s
			}
		}
		return rt.orOrg(rt.of(str(3)))
	}
	// Other tables (pipelines, …) go by their project column, else to
	// the organization.
	if i := t.Index("project"); i >= 0 {
		return rt.orOrg(rt.project(r[i]))
	}
	return rt.orOrg(nil)
}

// scopeSpool is one scope's rows of every table, in one temporary file,
// each table's rows together. Rows gather in memory and are appended to
// the file a batch at a time, so a thousand scopes hold a thousand small
// buffers, not a thousand open files.
type scopeSpool struct {
	path   string
	buf    []byte
	size   int64                    // bytes in the file
	tables []struct{ off, n int64 } // by PacketTables index
	cur    int
}

const scopeSpoolBatch = 128 << 10

func (s *scopeSpool) start(ti int) {
	s.cur = ti
	s.tables[ti].off = s.size + int64(len(s.buf))
}

func (s *scopeSpool) add(ti int, r Row) error {
	b, err := appendRow(s.buf, r)
	if err != nil {
		return fmt.Errorf("spool %s: %w", PacketTables[ti].Name, err)
	}
	s.buf = b
	s.tables[ti].n++
	if len(s.buf) >= scopeSpoolBatch {
		return s.flush()
	}
	return nil
}

func (s *scopeSpool) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(s.buf); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	s.size += int64(len(s.buf))
	s.buf = s.buf[:0]
	return nil
}

// replay hands the table's rows that keep accepts to emit, in order.
func (s *scopeSpool) replay(ti int, keep func(Row) bool, emit func(Row) error) error {
	tb := s.tables[ti]
	if tb.n == 0 {
		return nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(tb.off, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReaderSize(f, 64<<10)
	width := len(PacketTables[ti].Columns)
	for range tb.n {
		row, err := readRow(r, width)
		if err != nil {
			return fmt.Errorf("spool %s: read back: %w", PacketTables[ti].Name, err)
		}
		if keep(row) {
			if err := emit(row); err != nil {
				return err
			}
		}
	}
	return nil
}

// marks are what a scope's review rows are marked with: why a person must
// look at them.
type marks struct {
	account      map[string][]string // account → its own reasons (dormant, disabled, deleted in Entra, guest)
	privileged   map[string]bool     // accounts with privileged access, and privileged groups
	gained       map[string]bool     // "group > member" gained since the baseline, and accounts added
	markedAccess int64               // effective_access rows marked
}

// Reasons a row is marked for.
const (
	MarkPrivileged = "privileged"
	MarkGained     = "gained since baseline"
	MarkDormant    = "dormant"
	MarkDisabled   = "disabled"
	MarkDeleted    = "deleted in Entra"
	MarkGuest      = "guest"
)

// marks reads the scope's accounts, groups, privileged access and changes.
func (s *scopeSpool) marks() (*marks, error) {
	mk := &marks{account: map[string][]string{}, privileged: map[string]bool{}, gained: map[string]bool{}}
	all := func(Row) bool { return true }
	if err := s.replay(slices.Index(PacketTables, Accounts), all, func(r Row) error {
		var why []string
		if d, _ := r[accDormant].(bool); d {
			why = append(why, MarkDormant)
		}
		if st, _ := r[accStatus].(string); strings.EqualFold(st, "disabled") {
			why = append(why, MarkDisabled)
		}
		if d, _ := r[accDeleted].(bool); d {
			why = append(why, MarkDeleted)
		}
		if mt, _ := r[accMetaType].(string); strings.EqualFold(mt, "guest") {
			why = append(why, MarkGuest)
		}
		if len(why) > 0 {
			mk.account[r[accDescriptor].(string)] = why
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := s.replay(slices.Index(PacketTables, Groups), all, func(r Row) error {
		if p, _ := r[grpPrivileged].(bool); p {
			mk.privileged[r[grpDescriptor].(string)] = true
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := s.replay(slices.Index(PacketTables, PrivilegedAccess), all, func(r Row) error {
		mk.privileged[r[4].(string)] = true
		return nil
	}); err != nil {
		return nil, err
	}
	if err := s.replay(slices.Index(PacketTables, Changes), all, func(r Row) error {
		kind, entity, key := r[0].(string), r[1].(string), r[2].(string)
		if kind == "access_gained" || (kind == "added" && (entity == "accounts" || entity == "memberships")) {
			mk.gained[key] = true
		}
		return nil
	}); err != nil {
		return nil, err
	}
	eff := slices.Index(PacketTables, EffectiveAccess)
	if err := s.replay(eff, all, func(r Row) error {
		if mk.mark(EffectiveAccess, r) != "" {
			mk.markedAccess++
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return mk, nil
}

// mark says why a review row needs a human, "" when nothing does.
func (mk *marks) mark(t *Table, r Row) string {
	var why []string
	var subject string
	switch t {
	case Accounts:
		subject = r[accDescriptor].(string)
		if mk.privileged[subject] {
			why = append(why, MarkPrivileged)
		}
		if mk.gained[subject] {
			why = append(why, MarkGained)
		}
	case EffectiveAccess, PrivilegedAccess:
		g, m := r[0].(string), r[2].(string)
		if t == PrivilegedAccess {
			m = r[4].(string)
		}
		subject = m
		if t == PrivilegedAccess || mk.privileged[g] {
			why = append(why, MarkPrivileged)
		}
		if mk.gained[g+" > "+m] || mk.gained[m] {
			why = append(why, MarkGained)
		}
	default:
		return ""
	}
	why = append(why, mk.account[subject]...)
	return strings.Join(why, ", ")
}

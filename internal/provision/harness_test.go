package provision

import (
	"context"
	"database/sql"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// env is a simulated organization synced into a store: what apply works
// against in these tests, over real HTTP and a real SQLite file.
type env struct {
	t   *testing.T
	ctx context.Context
	sim *adosim.Server
	st  *snapshot.Store
	ado *collect.Client // read and write
	run snapshot.Run
	dir string
	// pipelines: syncs read pipeline resources and tokens too.
	pipelines bool
}

func newEnv(t *testing.T, opts adosim.Options) *env {
	t.Helper()
	if opts.GeneratedAt.IsZero() {
		opts.GeneratedAt = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	if opts.Preset == "" && opts.Spec == nil {
		opts.Preset = "small"
	}
	sim, err := adosim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	st, err := snapshot.Open(context.Background(), filepath.Join(dir, "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, ctx: context.Background(), sim: sim, st: st, dir: dir}
	e.ado = e.dial("readwrite")
	e.sync()
	return e
}

func (e *env) dial(credential string) *collect.Client {
	e.t.Helper()
	c, err := collect.Dial(e.ctx, e.sim.URL(), collect.Credential{PAT: e.sim.Credential(credential)},
		collect.Options{Retry: collect.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond}})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// sync records the organization as it is now, in full.
func (e *env) sync() snapshot.Run {
	e.t.Helper()
	run, err := collect.Sync(e.ctx, e.ado, e.st, collect.SyncOptions{Mode: "full", Pipelines: e.pipelines, Tokens: e.pipelines})
	if err != nil {
		e.t.Fatal(err)
	}
	e.run = run
	return run
}

func (e *env) live() *Live { return &Live{ADO: e.ado} }

func (e *env) me() collect.Identity {
	e.t.Helper()
	if e.ado.Me.Descriptor == "" {
		e.t.Fatal("the service did not say who the credential is")
	}
	return e.ado.Me
}

// build plans the decisions with the running identity and default rails.
func (e *env) build(d *Decisions, opts Options) (*Plan, error) {
	e.t.Helper()
	if opts.Me.Descriptor == "" {
		opts.Me = e.me()
	}
	return Build(e.ctx, e.st, d, e.live(), opts)
}

func (e *env) mustBuild(d *Decisions, opts Options) *Plan {
	e.t.Helper()
	p, err := e.build(d, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) apply(p *Plan) *Result {
	e.t.Helper()
	ap := &Applier{Store: e.st, Live: e.live(), Backoff: time.Millisecond}
	res, err := ap.Apply(e.ctx, p)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// isMember reads a membership live.
func (e *env) isMember(member, group string) bool {
	e.t.Helper()
	ok, err := e.ado.IsMember(e.ctx, member, group)
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

// requests is the simulator's count of API requests so far.
func (e *env) requests(endpoint string) int64 { return e.sim.Stats().Requests[endpoint] }

// query reads string columns from the store; :run is the newest run and
// :v the value given, if any.
func (e *env) query(q string, v ...string) [][]string {
	e.t.Helper()
	args := []any{sql.Named("run", e.run.ID)}
	if len(v) > 0 {
		args = append(args, sql.Named("v", v[0]))
	}
	rows, err := e.st.DB().Query(q, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, vals)
	}
	return out
}

const atRun = `valid_from <= :run AND (valid_to IS NULL OR valid_to > :run)`

// at is atRun for a table alias.
func at(alias string) string {
	return alias + `.valid_from <= :run AND (` + alias + `.valid_to IS NULL OR ` + alias + `.valid_to > :run)`
}

// userMemberships lists direct memberships of Entra (aad) users in Azure
// DevOps groups: member descriptor, principal name, group descriptor,
// group principal name.
func (e *env) userMemberships() [][]string {
	return e.query(`SELECT m.member, a.principal_name, m.container, g.principal_name FROM memberships m
		JOIN accounts a ON a.descriptor = m.member AND ` + at("a") + `
		JOIN groups g ON g.descriptor = m.container AND ` + at("g") + `
		WHERE ` + at("m") + ` AND a.subject_type = 'aad' AND a.kind = 'user' AND g.subject_type = 'vssgp'
		  AND g.display_name NOT IN ('Project Collection Administrators', 'Project Administrators')
		ORDER BY m.container, m.member`)
}

// groupOf finds a group's descriptor by principal name.
func (e *env) groupOf(principal string) string {
	e.t.Helper()
	r := e.query(`SELECT descriptor FROM groups WHERE principal_name = :v AND `+atRun, principal)
	if len(r) != 1 {
		e.t.Fatalf("group %s: %v", principal, r)
	}
	return r[0][0]
}

// writeFile writes a file in the test's folder and returns its path.
func (e *env) writeFile(name, body string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// planCSV writes a plan file: a header and rows.
func (e *env) planCSV(name string, header []string, rows ...[]string) string {
	e.t.Helper()
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write(header)
	w.WriteAll(rows)
	return e.writeFile(name, b.String())
}

var planHeader = []string{"action", "subject", "target", "license", "reason", "approver", "ticket"}

func (e *env) read(path string) (*Decisions, error) {
	return ReadDecisions(e.ctx, path, ReadOptions{})
}

func (e *env) mustRead(path string) *Decisions {
	e.t.Helper()
	d, err := e.read(path)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// packet exports a review packet of the newest run.
func (e *env) packet(formats ...string) string {
	e.t.Helper()
	dir := filepath.Join(e.dir, "packet")
	_, err := export.ExportPacket(e.ctx, e.st, export.NewLocalSink(dir), export.PacketOptions{Options: export.Options{Run: e.run.ID}, Formats: formats})
	if err != nil {
		e.t.Fatal(err)
	}
	return dir
}

func states(p *Plan) map[string]int {
	out := map[string]int{}
	for _, a := range p.Actions {
		out[a.State]++
	}
	return out
}

package provision

import (
	"encoding/csv"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// newPipeEnv is an env whose syncs read pipeline resources and tokens.
func newPipeEnv(t *testing.T) *env {
	e := newEnv(t, adosim.Options{})
	e.pipelines = true
	e.sync()
	return e
}

// pickRow finds the first data row of a sheet that keep accepts.
func (s *sheetEdit) pickRow(keep func(row int) bool) int {
	s.t.Helper()
	for i := range s.rows {
		if keep(i) {
			return i
		}
	}
	s.t.Fatalf("sheet %s: no row to decide on", s.sheet)
	return -1
}

// A reviewer's Revoke on a token, a role assignment and a resource open to
// all pipelines, in the packet's workbook, is carried out, journaled with
// its action's name, verified live, and seen by the next sync; applying
// the same workbook again sends nothing.
func TestPipelineRevokesFromPacket(t *testing.T) {
	t.Parallel()
	e := newPipeEnv(t)
	me := e.me()
	dir := e.packet()
	wb := filepath.Join(dir, export.WorkbookName)

	s := openSheet(t, wb, TableTokens)
	tok := s.pickRow(func(i int) bool { return s.get(i, "owner") != me.Descriptor })
	owner, authID := s.get(tok, "owner"), s.get(tok, "authorization_id")
	s.decide(tok, "Revoke")
	s.save()

	s = openSheet(t, wb, TableRoles)
	role := s.pickRow(func(i int) bool {
		d := s.get(i, "subject_descriptor")
		return strings.EqualFold(s.get(i, "inherited"), "false") && strings.HasPrefix(d, "aad.") && d != me.Descriptor
	})
	roleKey := []string{s.get(role, "scope"), s.get(role, "resource_id"), s.get(role, "identity")}
	s.decide(role, "Revoke")
	s.save()

	s = openSheet(t, wb, TablePipelinePerms)
	perm := s.pickRow(func(i int) bool { return strings.EqualFold(s.get(i, "all_pipelines"), "true") })
	permKey := []string{s.get(perm, "project_id"), s.get(perm, "resource_type"), s.get(perm, "resource_id")}
	s.decide(perm, "Revoke")
	s.save()

	d := e.mustRead(wb)
	p := e.mustBuild(d, Options{})
	kinds := map[string]bool{}
	for _, a := range p.Actions {
		if a.State != StateApply {
			t.Fatalf("action %+v: %s (%s)", a, a.State, a.Note)
		}
		kinds[a.Kind] = true
	}
	if len(p.Actions) != 3 || !kinds[ActRevokePAT] || !kinds[ActRemoveRole] || !kinds[ActClosePipelines] {
		t.Fatalf("plan: %+v", p.Actions)
	}
	if err := e.live().CheckWriteAccess(e.ctx, p); err != nil {
		t.Fatal(err)
	}
	res := e.apply(p)
	if res.Counts[snapshot.JournalDone] != 3 {
		t.Fatalf("outcomes: %v", res.Counts)
	}
	j, err := e.st.Journal(e.ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range j {
		if !isPipelineAction(en.Action) || en.Status != snapshot.JournalDone || en.Approver != "reviewer@fabrikam.example" || en.Subject == "" || en.Target == "" {
			t.Fatalf("journal: %+v", en)
		}
	}
	checks, err := e.live().Verify(e.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		if !c.OK {
			t.Fatalf("verification: %+v", c)
		}
	}

	// The next sync sees it.
	e.sync()
	for _, r := range e.query(`SELECT authorization_id FROM personal_access_tokens WHERE owner = :v AND `+atRun, owner) {
		if r[0] == authID {
			t.Fatalf("token %s still in the store after the next sync", authID)
		}
	}
	if r := e.query(`SELECT role FROM resource_roles WHERE scope = '`+roleKey[0]+`' AND resource_id = '`+roleKey[1]+`' AND identity = :v AND `+atRun, roleKey[2]); len(r) != 0 {
		t.Fatalf("role still in the store after the next sync: %v", r)
	}
	r := e.query(`SELECT all_pipelines FROM pipeline_permissions WHERE project_id = '`+permKey[0]+`' AND resource_type = '`+permKey[1]+`' AND resource_id = :v AND `+atRun, permKey[2])
	if len(r) != 1 || r[0][0] != "0" {
		t.Fatalf("pipeline permission after the next sync: %v", r)
	}

	// Applying the same workbook again changes nothing and sends nothing.
	before := e.sim.Stats().Requests
	again := e.mustBuild(e.mustRead(wb), Options{})
	if again.ID != p.ID || states(again)[StateDone] != 3 {
		t.Fatalf("second plan: %v", states(again))
	}
	e.apply(again)
	after := e.sim.Stats().Requests
	for _, ep := range []string{"tokenadmin.revocations", "securityroles.roleassignments.remove", "pipelinepermissions.update"} {
		if after[ep] != before[ep] {
			t.Fatalf("%s sent again: %d → %d", ep, before[ep], after[ep])
		}
	}
}

// pipeRow reads one row of a pipeline table of the newest run.
func (e *env) pipeRow(q string) []string {
	e.t.Helper()
	r := e.query(q)
	if len(r) == 0 {
		e.t.Fatalf("no row: %s", q)
	}
	return r[0]
}

// The running identity's own tokens and roles are refused, the rest of
// the plan goes on; a credential without the write scope is told which
// scope it needs before anything is sent.
func TestPipelineRailsAndScopes(t *testing.T) {
	t.Parallel()
	e := newPipeEnv(t)
	tok := e.pipeRow(`SELECT owner, authorization_id FROM personal_access_tokens WHERE ` + atRun + ` ORDER BY owner, authorization_id LIMIT 1`)
	other := e.pipeRow(`SELECT owner, authorization_id FROM personal_access_tokens WHERE owner <> '` + tok[0] + `' AND ` + atRun + ` ORDER BY owner LIMIT 1`)
	role := e.pipeRow(`SELECT identity, scope || '/' || resource_id FROM resource_roles WHERE inherited = 0 AND ` + atRun + ` ORDER BY identity LIMIT 1`)
	perm := e.pipeRow(`SELECT resource_type || '/' || resource_id, project_id FROM pipeline_permissions WHERE all_pipelines = 1 AND ` + atRun + ` LIMIT 1`)
	d := e.mustRead(e.planCSV("plan.csv", planHeader,
		[]string{"revoke-pat", tok[0], tok[1], "", "left", "a@b.example", ""},
		[]string{"revoke-pat", other[0], other[1], "", "", "a@b.example", ""},
		[]string{"remove-role", role[0], role[1], "", "", "a@b.example", ""},
		[]string{"close-pipelines", perm[0], perm[1], "", "", "a@b.example", ""}))
	// As if the credential were the first token's owner, with the role's identity.
	me := collect.Identity{Descriptor: tok[0], ID: role[0]}
	p := e.mustBuild(d, Options{Me: me})
	want := []string{StateRefused, StateApply, StateRefused, StateApply}
	for i, a := range p.Actions {
		if a.State != want[i] {
			t.Fatalf("action %d (%s): %s, want %s (%s)", i+1, a.Kind, a.State, want[i], a.Note)
		}
	}
	if !strings.Contains(p.Actions[0].Note, "running identity") || !strings.Contains(p.Actions[2].Note, "running identity") {
		t.Fatalf("notes: %q, %q", p.Actions[0].Note, p.Actions[2].Note)
	}
	// --plan-out writes a plan file that plans the same again.
	out := filepath.Join(e.dir, "plan.json")
	if err := WritePlanJSON(out, p); err != nil {
		t.Fatal(err)
	}
	if again := e.mustBuild(e.mustRead(out), Options{Me: me}); again.ID != p.ID || len(again.Actions) != 4 {
		t.Fatalf("plan.json planned %s with %d actions, want %s", again.ID, len(again.Actions), p.ID)
	}
	// Nobody known: nothing of anyone's own can be protected.
	if p, err := Build(e.ctx, e.st, d, e.live(), Options{}); err != nil || p.Actions[1].State != StateRefused {
		t.Fatalf("unknown identity: %v %+v", err, p.Actions[1])
	}

	// The read-only credential has no Security (Manage), nor Pipeline
	// Resources (Use and manage): said before anything is sent.
	ro := &Live{ADO: e.dial("readonly")}
	pr, err := Build(e.ctx, e.st, d, ro, Options{Me: e.me()})
	if err != nil {
		t.Fatal(err)
	}
	err = ro.CheckWriteAccess(e.ctx, pr)
	if !errors.Is(err, collect.ErrForbidden) || !strings.Contains(err.Error(), "Security (Manage)") {
		t.Fatalf("security write check: %v", err)
	}
	for _, a := range pr.Actions {
		if a.Kind != ActClosePipelines {
			a.State = StateSkip
		}
	}
	err = ro.CheckWriteAccess(e.ctx, pr)
	if !errors.Is(err, collect.ErrForbidden) || !strings.Contains(err.Error(), "Pipeline Resources (Use and manage)") {
		t.Fatalf("pipeline resources write check: %v", err)
	}
	// The probes changed nothing.
	scope, res, _ := strings.Cut(role[1], "/")
	if r, _, err := e.ado.RoleOf(e.ctx, scope, res, role[0]); err != nil || r == "" {
		t.Fatalf("the role after the checks: %q %v", r, err)
	}
	typ, id, _ := strings.Cut(perm[0], "/")
	if open, err := e.ado.OpenToAllPipelines(e.ctx, perm[1], typ, id); err != nil || !open {
		t.Fatalf("the resource after the checks: %v %v", open, err)
	}
}

// A kill between a write and its journal: the next run reads the item,
// journals the action done, and sends only what was not carried out.
func TestPipelineKillBetweenSendAndJournal(t *testing.T) {
	t.Parallel()
	e := newPipeEnv(t)
	me := e.me()
	// A token, and an SSH key (revoked with isPublic=true).
	toks := e.query(`SELECT owner, authorization_id FROM personal_access_tokens WHERE owner <> :v AND kind = 'pat' AND `+atRun+` ORDER BY owner, authorization_id LIMIT 1`, me.Descriptor)
	toks = append(toks, e.query(`SELECT owner, authorization_id FROM personal_access_tokens WHERE owner <> :v AND kind = 'ssh' AND `+atRun+` ORDER BY owner, authorization_id LIMIT 1`, me.Descriptor)...)
	if len(toks) != 2 {
		t.Fatalf("tokens: %v", toks)
	}
	d := e.mustRead(e.planCSV("plan.csv", planHeader,
		[]string{"revoke-pat", toks[0][0], toks[0][1], "", "", "a@b.example", ""},
		[]string{"revoke-pat", toks[1][0], toks[1][1], "", "", "a@b.example", ""}))
	p := e.mustBuild(d, Options{})
	if err := e.st.SavePlan(e.ctx, snapshot.PlanRecord{ID: p.ID, Org: p.Org, BaseRun: p.BaseRun, Source: p.Source, Actions: 2}); err != nil {
		t.Fatal(err)
	}
	for _, a := range p.Actions {
		if err := e.st.JournalStart(e.ctx, entry(p, a)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.ado.RevokePAT(e.ctx, toks[0][1], false); err != nil {
		t.Fatal(err)
	}
	before := e.requests("tokenadmin.revocations")
	again := e.mustBuild(d, Options{})
	if again.ID != p.ID || again.Actions[0].State != StateDone || again.Actions[1].State != StateApply {
		t.Fatalf("resumed plan: %+v %+v", again.Actions[0], again.Actions[1])
	}
	e.apply(again)
	if n := e.requests("tokenadmin.revocations") - before; n != 1 {
		t.Fatalf("%d revocations sent on resume, want 1", n)
	}
	j, _ := e.st.Journal(e.ctx, p.ID)
	if len(j) != 2 || j[0].Status != snapshot.JournalDone || !strings.Contains(j[0].Error, "confirmed") || j[1].Status != snapshot.JournalDone {
		t.Fatalf("journal after resume: %+v", j)
	}
	if has, err := e.ado.HasPAT(e.ctx, toks[1][0], toks[1][1], true); err != nil || has {
		t.Fatalf("the SSH key after apply: still there %v, %v", has, err)
	}
}

// An item changed since the packet's run (here a pipeline authorized on
// the resource, so its pipeline_permissions row differs in the newest
// snapshot) is refused, and applied with --allow-stale.
func TestPipelineStaleItemRefused(t *testing.T) {
	t.Parallel()
	e := newPipeEnv(t)
	dir := e.packet()
	wb := filepath.Join(dir, export.WorkbookName)
	s := openSheet(t, wb, TablePipelinePerms)
	perm := s.pickRow(func(i int) bool {
		return strings.EqualFold(s.get(i, "all_pipelines"), "true") && s.get(i, "resource_type") == "endpoint"
	})
	project, id := s.get(perm, "project_id"), s.get(perm, "resource_id")
	s.decide(perm, "Revoke")
	s.save()

	// Someone authorizes one more pipeline on it; the next sync sees that.
	body := strings.NewReader(`{"pipelines":[{"id":4242,"authorized":true}]}`)
	req, err := http.NewRequest(http.MethodPatch, e.sim.URL()+"/"+project+"/_apis/pipelines/pipelinepermissions/endpoint/"+id+"?api-version=7.1-preview.1", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("", e.sim.Credential("readwrite"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("authorize a pipeline: HTTP %d", resp.StatusCode)
	}
	e.sync()

	d := e.mustRead(wb)
	p := e.mustBuild(d, Options{})
	if len(p.Actions) != 1 || p.Actions[0].State != StateRefused || !strings.Contains(p.Actions[0].Note, "changed since the packet's run") {
		t.Fatalf("stale plan: %+v", p.Actions[0])
	}
	p = e.mustBuild(d, Options{AllowStale: true})
	if p.Actions[0].State != StateApply {
		t.Fatalf("--allow-stale: %+v", p.Actions[0])
	}
	if res := e.apply(p); res.Counts[snapshot.JournalDone] != 1 {
		t.Fatalf("outcomes: %v", res.Counts)
	}
	if open, err := e.ado.OpenToAllPipelines(e.ctx, project, "endpoint", id); err != nil || open {
		t.Fatalf("after apply: open %v, %v", open, err)
	}
}

// A review table's CSV with a Decision column works for the pipeline
// tables too: the decided row is bound to the packet's own copy.
func TestPipelineTableCSVDecisions(t *testing.T) {
	t.Parallel()
	e := newPipeEnv(t)
	dir := e.packet("csv")
	f, err := os.Open(filepath.Join(dir, TableTokens+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) < 3 {
		t.Fatalf("tokens csv: %d rows, %v", len(rows), err)
	}
	me := e.me().Descriptor
	var pick []string
	for _, r := range rows[1:] {
		if r[0] != me {
			pick = r
			break
		}
	}
	out := [][]string{append(append([]string(nil), rows[0]...), export.DecisionColumn, export.ReviewerColumn),
		append(append([]string(nil), pick...), "Revoke", "sec@fabrikam.example")}
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.WriteAll(out)
	path := filepath.Join(dir, TableTokens+"-decided.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	d := e.mustRead(path)
	p := e.mustBuild(d, Options{})
	if len(p.Actions) != 1 || p.Actions[0].Kind != ActRevokePAT || p.Actions[0].State != StateApply || p.Actions[0].Res.ID != pick[3] {
		t.Fatalf("plan: %+v", p.Actions)
	}

	// A row changed after export is not the packet's.
	out[1][3] = "00000000-0000-0000-0000-000000000001"
	b.Reset()
	w = csv.NewWriter(&b)
	w.WriteAll(out)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var ie *InputError
	if _, err := e.read(path); !errors.As(err, &ie) || !strings.Contains(err.Error(), "not a row of the packet's personal_access_tokens") {
		t.Fatalf("an edited row: %v", err)
	}
}

// A credential without Token Administration is told so, naming the scope,
// both when the plan reads the owner's tokens and by the write check.
func TestPipelineTokenScopeMissing(t *testing.T) {
	t.Parallel()
	creds := adosim.DefaultCredentials()
	for _, c := range creds {
		if c.Name == "readwrite" {
			c.Name, c.Token = "notokens", c.Token+"x"
			c.Scopes = slices.DeleteFunc(slices.Clone(c.Scopes), func(s string) bool { return s == "vso.tokenadministration" })
			creds = append(creds, c)
			break
		}
	}
	e := newEnv(t, adosim.Options{Credentials: creds})
	e.pipelines = true
	e.sync()
	tok := e.pipeRow(`SELECT owner, authorization_id FROM personal_access_tokens WHERE ` + atRun + ` ORDER BY owner, authorization_id LIMIT 1`)
	d := e.mustRead(e.planCSV("plan.csv", planHeader, []string{"revoke-pat", tok[0], tok[1], "", "", "a@b.example", ""}))
	nt := &Live{ADO: e.dial("notokens")}
	if _, err := Build(e.ctx, e.st, d, nt, Options{Me: e.me()}); !errors.Is(err, collect.ErrForbidden) || !strings.Contains(err.Error(), "Token Administration (Read & manage)") {
		t.Fatalf("plan without the scope: %v", err)
	}
	p := e.mustBuild(d, Options{})
	if err := nt.CheckWriteAccess(e.ctx, p); !errors.Is(err, collect.ErrForbidden) || !strings.Contains(err.Error(), "Token Administration (Read & manage), vso.tokenadministration") {
		t.Fatalf("write check without the scope: %v", err)
	}
	if err := e.live().CheckWriteAccess(e.ctx, p); err != nil {
		t.Fatalf("write check with the scope: %v", err)
	}
}

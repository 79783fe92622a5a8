package provision

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ado-access/ado-access/internal/adosim"
	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// A plan file grants and revokes memberships of users and of nested
// groups: the dry run changes nothing, apply does exactly the plan and
// journals it, and applying the same plan again sends no request at all.
func TestPlanGrantsAndRevokesUsersAndNestedGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	um := e.userMemberships()
	revokeUser := um[0] // member, principal, group, group name
	// A user and a group it is not in.
	var grantUser []string
	readers := e.query(`SELECT descriptor, principal_name FROM groups WHERE display_name = 'Readers' AND ` + atRun + ` ORDER BY principal_name`)
	for _, m := range um[1:] {
		if m[2] != readers[0][0] && !e.isMember(m[0], readers[0][0]) {
			grantUser = []string{m[0], m[1], readers[0][0], readers[0][1]}
			break
		}
	}
	// A group in a group (nested), to revoke; and a group to nest.
	nested := e.query(`SELECT m.member, g.principal_name, m.container, c.principal_name FROM memberships m
		JOIN groups g ON g.descriptor = m.member AND ` + at("g") + ` AND g.subject_type = 'vssgp'
		JOIN groups c ON c.descriptor = m.container AND ` + at("c") + `
		WHERE ` + at("m") + ` AND c.display_name NOT IN ('Project Collection Administrators', 'Project Administrators') ORDER BY 1, 3`)[0]
	contributors := e.query(`SELECT descriptor, principal_name FROM groups WHERE display_name = 'Contributors' AND ` + atRun + ` ORDER BY principal_name`)
	grantGroup := []string{nested[0], nested[1], contributors[0][0], contributors[0][1]}
	if e.isMember(grantGroup[0], grantGroup[2]) {
		grantGroup[2], grantGroup[3] = contributors[1][0], contributors[1][1]
	}

	plan := e.planCSV("plan.csv", planHeader,
		[]string{"revoke", revokeUser[1], revokeUser[3], "", "left the team", "alice@fabrikam.example", "CHG-1"},
		[]string{"grant", grantUser[1], grantUser[3], "", "needs to read", "alice@fabrikam.example", "CHG-2"},
		[]string{"revoke", nested[0], nested[2], "", "flatten", "bob@fabrikam.example", "CHG-3"}, // by descriptor
		[]string{"grant", grantGroup[1], grantGroup[3], "", "", "bob@fabrikam.example", ""},
	)
	d := e.mustRead(plan)
	writes := func() int64 { return e.requests("graph.memberships.add") + e.requests("graph.memberships.remove") }
	before := writes()
	p := e.mustBuild(d, Options{})
	if got := states(p); got[StateApply] != 4 || len(p.Actions) != 4 || p.Refusal != "" {
		t.Fatalf("plan states %v, refusal %q: %+v", got, p.Refusal, p.Actions)
	}
	if writes() != before || !e.isMember(revokeUser[0], revokeUser[2]) || e.isMember(grantUser[0], grantUser[2]) {
		t.Fatal("building the plan (the dry run) changed the organization")
	}
	if err := e.live().CheckWriteAccess(e.ctx, p); err != nil {
		t.Fatalf("a read-write PAT: %v", err)
	}
	before = writes() // the check is a removal that cannot change anything

	res := e.apply(p)
	if res.Counts[snapshot.JournalDone] != 4 {
		t.Fatalf("outcomes %+v", res.Outcomes)
	}
	if writes()-before != 4 {
		t.Fatalf("%d writes for 4 actions", writes()-before)
	}
	for _, m := range [][]string{revokeUser, nested} {
		if e.isMember(m[0], m[2]) {
			t.Errorf("%s is still in %s", m[1], m[3])
		}
	}
	for _, m := range [][]string{grantUser, grantGroup} {
		if !e.isMember(m[0], m[2]) {
			t.Errorf("%s was not added to %s", m[1], m[3])
		}
	}
	checks, err := e.live().Verify(e.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		if !c.OK {
			t.Errorf("verification: %+v", c)
		}
	}
	j, _ := e.st.Journal(e.ctx, p.ID)
	if len(j) != 4 || j[0].Status != snapshot.JournalDone || j[0].HTTPStatus != 200 || j[0].Approver != "alice@fabrikam.example" ||
		j[0].Ticket != "CHG-1" || j[0].SourceRow != 2 || j[0].Subject != revokeUser[0] || j[0].Target != revokeUser[2] || j[1].HTTPStatus != 201 {
		t.Fatalf("journal %+v", j)
	}

	// The same plan again: everything is done, nothing is read or sent.
	total := e.sim.Stats().Requests["total"]
	again := e.mustBuild(d, Options{Me: collect.Identity{Descriptor: "aad.someone"}})
	if again.ID != p.ID || states(again)[StateDone] != 4 {
		t.Fatalf("the plan again: id %s (was %s), states %v", again.ID, p.ID, states(again))
	}
	if n := e.sim.Stats().Requests["total"] - total; n != 0 {
		t.Fatalf("planning a finished plan made %d requests", n)
	}
}

// An access request: an account added with a license and project groups
// in one request; then its license changed; then removed (allowed).
func TestAccountsAddChangeRemove(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	project := e.query(`SELECT name FROM projects WHERE ` + atRun + ` ORDER BY name`)[0][0]
	const upn = "new.hire@fabrikam.example"
	add := e.planCSV("add.csv", planHeader,
		[]string{"add-account", upn, "[" + project + `]\Contributors; [` + project + `]\Readers`, "Basic", "joins the team", "lead@fabrikam.example", "REQ-7"})
	p := e.mustBuild(e.mustRead(add), Options{})
	if len(p.Actions) != 1 || p.Actions[0].State != StateApply || len(p.Actions[0].Groups) != 2 {
		t.Fatalf("add plan %+v", p.Actions[0])
	}
	if res := e.apply(p); res.Counts[snapshot.JournalDone] != 1 {
		t.Fatalf("add: %+v", res.Outcomes)
	}
	acc, err := e.ado.FindAccount(e.ctx, upn)
	if err != nil || acc == nil || acc.AccessLevel.AccountLicenseType != "express" {
		t.Fatalf("the new account: %+v %v", acc, err)
	}
	for _, g := range []string{"Contributors", "Readers"} {
		if !e.isMember(acc.Descriptor, e.groupOf("["+project+`]\`+g)) {
			t.Errorf("the new account is not in %s", g)
		}
	}
	checks, _ := e.live().Verify(e.ctx, p)
	if len(checks) != 1 || !checks[0].OK {
		t.Fatalf("verify add: %+v", checks)
	}
	e.sync()

	change := e.planCSV("change.csv", planHeader, []string{"set-license", upn, "", "stakeholder", "", "lead@fabrikam.example", ""})
	p = e.mustBuild(e.mustRead(change), Options{})
	if p.Actions[0].State != StateApply || p.Actions[0].Note != "now Basic" {
		t.Fatalf("set-license plan %+v", p.Actions[0])
	}
	e.apply(p)
	if acc, _ := e.ado.FindAccount(e.ctx, upn); acc.AccessLevel.AccountLicenseType != "stakeholder" {
		t.Fatalf("license after set-license: %+v", acc.AccessLevel)
	}
	// The same plan again is done already, by its journal.
	same := e.planCSV("same.csv", planHeader, []string{"set-license", upn, "", "Stakeholder", "", "lead@fabrikam.example", "again"})
	if p := e.mustBuild(e.mustRead(same), Options{}); p.Actions[0].State != StateDone {
		t.Fatalf("the same change again: %+v", p.Actions[0])
	}
	// Another plan asking for what is already so skips it, read live.
	other := e.planCSV("other.csv", planHeader,
		[]string{"add-account", upn, "", "basic", "", "lead@fabrikam.example", ""},
		[]string{"set-license", e.userMemberships()[0][1], "", "Basic + Test Plans", "", "lead@fabrikam.example", ""})
	p = e.mustBuild(e.mustRead(other), Options{})
	if p.Actions[0].State != StateSkip || !strings.Contains(p.Actions[0].Note, "already in the organization (Stakeholder)") || p.Actions[1].State != StateApply {
		t.Fatalf("adding an account that is there: %+v", p.Actions[0])
	}

	remove := e.planCSV("remove.csv", planHeader, []string{"remove-account", upn, "", "", "left", "lead@fabrikam.example", ""})
	p = e.mustBuild(e.mustRead(remove), Options{})
	if p.Actions[0].State != StateRefused || !strings.Contains(p.Actions[0].Note, "--allow-account-removal") {
		t.Fatalf("remove-account without the flag: %+v", p.Actions[0])
	}
	res := e.apply(p)
	if res.Counts[snapshot.JournalRefused] != 1 {
		t.Fatalf("refused action outcome %+v", res.Outcomes)
	}
	if acc, _ := e.ado.FindAccount(e.ctx, upn); acc == nil {
		t.Fatal("a refused removal removed the account")
	}
	p = e.mustBuild(e.mustRead(remove), Options{AllowAccountRemoval: true})
	if res := e.apply(p); res.Counts[snapshot.JournalDone] != 1 {
		t.Fatalf("remove: %+v", res.Outcomes)
	}
	if acc, _ := e.ado.FindAccount(e.ctx, upn); acc != nil {
		t.Fatal("the account is still there")
	}
}

// The read-only PAT is refused before anything is attempted, with the
// scope it lacks named.
func TestReadOnlyCredentialIsRefusedFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	m := e.userMemberships()[0]
	plan := e.planCSV("plan.csv", planHeader,
		[]string{"revoke", m[1], m[3], "", "", "a@b.example", ""},
		[]string{"set-license", m[1], "", "stakeholder", "", "a@b.example", ""})
	ro := &Live{ADO: e.dial("readonly")}
	p, err := Build(e.ctx, e.st, e.mustRead(plan), ro, Options{Me: e.me()})
	if err != nil {
		t.Fatalf("a read-only credential can plan: %v", err)
	}
	err = ro.CheckWriteAccess(e.ctx, p)
	if !errors.Is(err, collect.ErrForbidden) || !strings.Contains(err.Error(), "Graph (Read & manage)") {
		t.Fatalf("graph write check: %v", err)
	}
	p.Actions[0].State = StateSkip // only the account action left
	err = ro.CheckWriteAccess(e.ctx, p)
	if !errors.Is(err, collect.ErrForbidden) || !strings.Contains(err.Error(), "Member Entitlement Management (Read & write)") {
		t.Fatalf("entitlement write check: %v", err)
	}
	if n := e.requests("graph.memberships.remove"); n != 0 {
		// The probe is a removal that cannot change anything, refused at the scope.
		if e.isMember(m[0], m[2]) == false {
			t.Fatal("the check changed a membership")
		}
	}
}

// Each safety rail stops what it guards, and the rest of the plan goes on.
func TestSafetyRails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	me := e.me()
	pca := e.groupOf("[fabrikam]\\Project Collection Administrators")
	members, err := e.ado.DirectMembers(e.ctx, pca)
	if err != nil || len(members) < 2 {
		t.Fatalf("PCA members %v %v", members, err)
	}
	var rows [][]string
	for _, m := range members {
		rows = append(rows, []string{"revoke", m, pca, "", "", "a@b.example", ""})
	}
	d := e.mustRead(e.planCSV("pca.csv", planHeader, rows...))

	t.Run("own administrative access", func(t *testing.T) {
		p := e.mustBuild(d, Options{Me: me})
		for _, a := range p.Actions {
			own := a.Subject.Descriptor == me.Descriptor
			if own && (a.State != StateRefused || !strings.Contains(a.Note, "own administrative access")) {
				t.Errorf("revoking the running identity from PCA: %s %s", a.State, a.Note)
			}
			if !own && a.State != StateApply {
				t.Errorf("revoking another member: %s %s", a.State, a.Note)
			}
		}
	})
	t.Run("last member of Project Collection Administrators", func(t *testing.T) {
		p := e.mustBuild(d, Options{Me: collect.Identity{Descriptor: "aad.not-an-admin"}})
		for _, a := range p.Actions {
			if a.State != StateRefused || !strings.Contains(a.Note, "without a member") {
				t.Errorf("revoking every PCA member: %s %s", a.State, a.Note)
			}
		}
	})
	t.Run("max changes", func(t *testing.T) {
		um := e.userMemberships()
		var many [][]string
		for _, m := range um[:6] {
			many = append(many, []string{"revoke", m[0], m[2], "", "", "a@b.example", ""})
		}
		p := e.mustBuild(e.mustRead(e.planCSV("many.csv", planHeader, many...)), Options{MaxChanges: 5})
		if !strings.Contains(p.Refusal, "more than --max-changes 5") {
			t.Fatalf("refusal %q", p.Refusal)
		}
		before := e.requests("graph.memberships.remove")
		_, err := (&Applier{Store: e.st, Live: e.live()}).Apply(e.ctx, p)
		if !errors.Is(err, ErrRefused) || e.requests("graph.memberships.remove") != before {
			t.Fatalf("applying a refused plan: %v", err)
		}
		if p := e.mustBuild(e.mustRead(e.planCSV("many.csv", planHeader, many...)), Options{MaxChanges: 6}); p.Refusal != "" {
			t.Fatalf("raised --max-changes: %q", p.Refusal)
		}
	})
	t.Run("unknown identity", func(t *testing.T) {
		p, err := Build(e.ctx, e.st, d, e.live(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range p.Actions {
			if a.State != StateRefused || !strings.Contains(a.Note, "cannot tell who the credential is") {
				t.Errorf("without knowing the identity: %s %s", a.State, a.Note)
			}
		}
	})
}

// A write whose answer is lost (the connection cut after the service made
// the change) is read again, not sent again: every action happens once.
func TestLostAnswersAreNotSentAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	um := e.userMemberships()
	var rows [][]string
	for _, m := range um[:8] {
		rows = append(rows, []string{"revoke", m[0], m[2], "", "", "a@b.example", ""})
	}
	p := e.mustBuild(e.mustRead(e.planCSV("plan.csv", planHeader, rows...)), Options{})
	e.sim.SetFaults(adosim.Faults{RateCutAfter: 0.5, Paths: []string{"graph/memberships"}})
	before := e.sim.Stats()
	res := e.apply(p)
	e.sim.SetFaults(adosim.Faults{})
	after := e.sim.Stats()
	if res.Counts[snapshot.JournalDone] != 8 {
		t.Fatalf("outcomes %+v", res.Outcomes)
	}
	lost := after.Faults["cut_after"] - before.Faults["cut_after"]
	if lost == 0 {
		t.Fatal("no answer was lost; raise the rate")
	}
	// One removal per action: a lost answer is followed by a read, which
	// finds the removal made, not by a second removal.
	if sent := after.Requests["graph.memberships.remove"] - before.Requests["graph.memberships.remove"]; sent != 8 {
		t.Fatalf("%d removals sent for 8 actions (%d answers lost)", sent, lost)
	}
	for _, m := range um[:8] {
		if e.isMember(m[0], m[2]) {
			t.Errorf("%s is still in %s", m[1], m[3])
		}
	}
}

// Throttled writes (429, which the transport does not retry for writes)
// are read again and sent again until they are done.
func TestThrottledWritesAreSentAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	um := e.userMemberships()
	var rows [][]string
	for _, m := range um[:6] {
		rows = append(rows, []string{"revoke", m[0], m[2], "", "", "a@b.example", ""})
	}
	p := e.mustBuild(e.mustRead(e.planCSV("plan.csv", planHeader, rows...)), Options{})
	// Every third request throttled (every other would keep a lone action's
	// sends in step with the throttling for ever: send, read, send).
	e.sim.SetFaults(adosim.Faults{Burst429Every: 3, Burst429Len: 1, RetryAfter: adosim.Duration(1), Paths: []string{"graph/memberships"}})
	before := e.sim.Stats()
	// One attempt: only a throttled answer may be sent again, since the
	// service refused it without acting on it.
	ap := &Applier{Store: e.st, Live: e.live(), Attempts: 1, Backoff: time.Millisecond}
	res, err := ap.Apply(e.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	e.sim.SetFaults(adosim.Faults{})
	after := e.sim.Stats()
	if res.Counts[snapshot.JournalDone] != 6 || after.Faults["429"] == before.Faults["429"] {
		t.Fatalf("outcomes %+v, 429s %d", res.Outcomes, after.Faults["429"]-before.Faults["429"])
	}
	if sent := after.Requests["graph.memberships.remove"] - before.Requests["graph.memberships.remove"]; sent <= 6 {
		t.Fatalf("%d removals sent for 6 actions: no write was throttled; raise the rate", sent)
	}
	for _, m := range um[:6] {
		if e.isMember(m[0], m[2]) {
			t.Errorf("%s is still in %s", m[1], m[3])
		}
	}
}

// A plan whose journal shows an action started but not done (the process
// died during the call) reads it live: done if it happened, sent if not.
func TestStartedActionsAreReadBeforeBeingSentAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	um := e.userMemberships()
	d := e.mustRead(e.planCSV("plan.csv", planHeader,
		[]string{"revoke", um[0][0], um[0][2], "", "", "a@b.example", ""},
		[]string{"revoke", um[1][0], um[1][2], "", "", "a@b.example", ""}))
	p := e.mustBuild(d, Options{})
	// The first call happened and the second did not, before a kill.
	if err := e.st.SavePlan(e.ctx, snapshot.PlanRecord{ID: p.ID, Org: p.Org, BaseRun: p.BaseRun, Source: p.Source, Actions: 2}); err != nil {
		t.Fatal(err)
	}
	for _, a := range p.Actions {
		if err := e.st.JournalStart(e.ctx, entry(p, a)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.ado.RemoveMember(e.ctx, um[0][0], um[0][2]); err != nil {
		t.Fatal(err)
	}
	startedAt, _ := e.st.Journal(e.ctx, p.ID)
	before := e.requests("graph.memberships.remove")
	again := e.mustBuild(d, Options{})
	// The first was carried out before the kill: done (confirmed live),
	// not skipped as if it had been so already.
	if again.ID != p.ID || again.Actions[0].State != StateDone || again.Actions[1].State != StateApply {
		t.Fatalf("resumed plan: %+v %+v", again.Actions[0], again.Actions[1])
	}
	res := e.apply(again)
	if n := e.requests("graph.memberships.remove") - before; n != 1 {
		t.Fatalf("%d removals sent on resume, want 1", n)
	}
	if res.Counts[snapshot.JournalDone] != 1 || res.Counts[snapshot.JournalSkipped] != 0 {
		t.Fatalf("this run's outcomes: %v (the confirmed one counts as done earlier)", res.Counts)
	}
	j, _ := e.st.Journal(e.ctx, p.ID)
	if j[0].Status != snapshot.JournalDone || !j[0].StartedAt.Equal(startedAt[0].StartedAt) || j[0].FinishedAt == nil ||
		!strings.Contains(j[0].Error, "confirmed") || j[1].Status != snapshot.JournalDone || j[1].Attempts != 2 {
		t.Fatalf("journal after resume: %+v", j)
	}
	// A third run finds both done earlier and sends nothing.
	third := e.mustBuild(d, Options{})
	if states(third)[StateDone] != 2 {
		t.Fatalf("third plan: %v", states(third))
	}
}

// The journal travels with the next packet: its applied_decisions table
// holds the actions applied since the baseline run, and a packet of a run
// before the apply holds none.
func TestAppliedDecisionsTravelWithTheNextPacket(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	first := e.run
	um := e.userMemberships()
	p := e.mustBuild(e.mustRead(e.planCSV("plan.csv", planHeader,
		[]string{"revoke", um[0][1], um[0][3], "", "left", "alice@fabrikam.example", "CHG-9"},
		[]string{"revoke", um[1][1], um[1][3], "", "", "alice@fabrikam.example", "CHG-9"},
		[]string{"remove-account", um[2][1], "", "", "", "alice@fabrikam.example", "CHG-9"})), Options{})
	e.apply(p)
	e.sync()
	rows := func(run int64) [][]string {
		dir := filepath.Join(e.dir, fmt.Sprintf("packet-%d", run))
		if _, err := export.ExportPacket(e.ctx, e.st, export.NewLocalSink(dir), export.PacketOptions{Options: export.Options{Run: run}, Formats: []string{"csv"}}); err != nil {
			t.Fatal(err)
		}
		return readCSV(t, filepath.Join(dir, "applied_decisions.csv"))
	}
	got := rows(e.run.ID)
	if len(got) != 4 {
		t.Fatalf("applied_decisions of the run after the apply: %v", got)
	}
	col := map[string]int{}
	for i, h := range got[0] {
		col[h] = i
	}
	statuses := []string{got[1][col["status"]], got[2][col["status"]], got[3][col["status"]]}
	sort.Strings(statuses)
	if strings.Join(statuses, ",") != "done,done,refused" || got[1][col["approver"]] != "alice@fabrikam.example" ||
		got[1][col["ticket"]] != "CHG-9" || got[1][col["plan_id"]] != p.ID || got[1][col["source_file"]] == "" {
		t.Fatalf("applied_decisions rows: %v", got)
	}
	if before := rows(first.ID); len(before) != 1 {
		t.Fatalf("a packet of the run before the apply has applied decisions: %v", before)
	}
}

// Adding an account is a POST: after a lost answer it is found by reading,
// not added a second time.
func TestLostAnswerOfAnAddIsReadNotResent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, adosim.Options{})
	p := e.mustBuild(e.mustRead(e.planCSV("add.csv", planHeader,
		[]string{"add-account", "late.joiner@fabrikam.example", "", "stakeholder", "", "lead@fabrikam.example", ""})), Options{})
	e.sim.SetFaults(adosim.Faults{RateCutAfter: 1, Paths: []string{"_apis/userentitlements"}})
	before := e.sim.Stats()
	done := make(chan *Result)
	go func() { done <- e.apply(p) }()
	// The read after the lost answer is cut too until the faults stop.
	time.Sleep(50 * time.Millisecond)
	e.sim.SetFaults(adosim.Faults{})
	res := <-done
	after := e.sim.Stats()
	if res.Counts[snapshot.JournalDone] != 1 || after.Faults["cut_after"] == before.Faults["cut_after"] {
		t.Fatalf("outcome %+v, lost answers %d", res.Outcomes, after.Faults["cut_after"]-before.Faults["cut_after"])
	}
	if n := after.Requests["entitlements.users.add"] - before.Requests["entitlements.users.add"]; n != 1 {
		t.Fatalf("the account was sent %d times", n)
	}
	if acc, _ := e.ado.FindAccount(e.ctx, "late.joiner@fabrikam.example"); acc == nil || acc.AccessLevel.AccountLicenseType != "stakeholder" {
		t.Fatalf("the account: %+v", acc)
	}
}

package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ado-access/ado-access/internal/collect"
	"github.com/ado-access/ado-access/internal/export"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// What the plan will do with an action.
const (
	StateApply   = "apply"   // carry it out
	StateSkip    = "skip"    // already as wanted, read live
	StateNoop    = "noop"    // nothing to call: membership managed in Entra ID
	StateRefused = "refused" // a safety rail or a stale item stops it
	StateDone    = "done"    // finished by an earlier apply of this plan (the journal says so)
)

// Subject is the account (or, in a grant or revoke, the group) an action is about.
type Subject struct {
	Descriptor string `json:"descriptor,omitempty"` // empty for an account not yet added
	Name       string `json:"name"`
	Principal  string `json:"principal_name,omitempty"`
	OriginID   string `json:"origin_id,omitempty"` // Entra object id
	Origin     string `json:"origin,omitempty"`
	Kind       string `json:"kind,omitempty"` // user, service_account, service_principal, group
}

// Group is the group of a grant or revoke, or a project group of add-account.
type Group struct {
	Descriptor string `json:"descriptor"`
	Name       string `json:"name"`
	OriginID   string `json:"origin_id,omitempty"`
	ProjectID  string `json:"project_id,omitempty"`
	GroupType  string `json:"group_type,omitempty"` // add-account: projectContributor, …
	Entra      bool   `json:"entra,omitempty"`      // membership managed in Entra ID (aadgp.)
}

// Action is one change a plan makes.
type Action struct {
	Seq      int       `json:"seq"`
	Kind     string    `json:"action"`
	Subject  Subject   `json:"subject"`
	Group    *Group    `json:"group,omitempty"`    // grant, revoke
	Groups   []Group   `json:"groups,omitempty"`   // add-account's project groups
	License  string    `json:"license,omitempty"`  // add-account, set-license: express, stakeholder, advanced
	Res      *Resource `json:"resource,omitempty"` // revoke-pat, remove-role, close-pipelines
	Sources  []Source  `json:"sources"`
	Approver string    `json:"approver,omitempty"`
	Ticket   string    `json:"ticket,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	State    string    `json:"state"`
	Note     string    `json:"note,omitempty"`

	entitlementID string // the account's storage key, read live
	packetRun     int64  // the run the decision was made on (0: a plan file)
	packetRow     string // pipeline actions: what the packet's row said of the item (pipeAttrs)
	// confirmed: journaled started by an earlier apply that stopped
	// before journaling the outcome, and read live as carried out. Apply
	// journals it done, keeping when it started.
	confirmed bool
}

// key identifies what an action changes: two rows asking for the same
// thing are one action.
func (a *Action) key() string {
	k := a.Kind + "\x1f" + a.Subject.Descriptor
	if a.Subject.Descriptor == "" {
		k += strings.ToLower(a.Subject.Principal)
	}
	if a.Group != nil {
		k += "\x1f" + a.Group.Descriptor
	}
	if a.Res != nil {
		k += "\x1f" + strings.Join(a.Res.key(a.Kind), "\x1f")
	}
	return k
}

// Target names what an action changes the subject's access to.
func (a *Action) Target() (descriptor, name string) {
	switch {
	case a.Res != nil:
		return a.Res.target(a.Kind)
	case a.Group != nil:
		return a.Group.Descriptor, a.Group.Name
	case a.Kind == ActAddAccount:
		var names []string
		for _, g := range a.Groups {
			names = append(names, g.Name)
		}
		lic := licenseLabel(a.License)
		if len(names) > 0 {
			lic += " + " + strings.Join(names, ", ")
		}
		return a.License, lic
	case a.License != "":
		return a.License, licenseLabel(a.License)
	}
	return "", ""
}

// Changes reports whether the action changes something in Azure DevOps
// (it is carried out), as opposed to being skipped, refused or done.
func (a *Action) Changes() bool { return a.State == StateApply }

// Note is a decision that is not an action: a Change, or inherited access
// whose direct membership was not asked for (Open: it needs a decision).
type Note struct {
	Source  Source `json:"source"`
	Subject string `json:"subject"`
	Group   string `json:"group,omitempty"`
	Msg     string `json:"note"`
	Open    bool   `json:"open"`

	direct [2]string // inherited access: the member and its direct group
}

// Plan is what apply will do, built against the newest snapshot and
// checked live.
type Plan struct {
	ID        string    `json:"id"`
	Org       string    `json:"org"`
	BaseRun   int64     `json:"base_run"`
	PacketRun int64     `json:"packet_run,omitempty"`
	PacketID  string    `json:"packet_id,omitempty"`
	Source    string    `json:"source"`
	Actions   []*Action `json:"actions"`
	Notes     []Note    `json:"notes,omitempty"`
	Keep      int       `json:"keep"`  // rows decided Keep
	Blank     int       `json:"blank"` // rows with no decision
	// Refusal, when set, is why the whole plan may not be applied (more
	// changes than allowed, a credential that cannot write).
	Refusal string `json:"refusal,omitempty"`
	// Unchecked are packet tables whose rows were bound to the packet by
	// its id and row counts only (a workbook-only packet).
	Unchecked []string `json:"unchecked,omitempty"`
	Actor     string   `json:"actor,omitempty"` // descriptor of the running identity
}

// Count counts the actions in a state.
func (p *Plan) Count(state string) int {
	n := 0
	for _, a := range p.Actions {
		if a.State == state {
			n++
		}
	}
	return n
}

// OpenNotes counts the notes that need a decision.
func (p *Plan) OpenNotes() int {
	n := 0
	for _, note := range p.Notes {
		if note.Open {
			n++
		}
	}
	return n
}

// Options shape a plan.
type Options struct {
	// Org is the organization asked for (URL or name; empty: the
	// store's). It must be the store's, the packet's and the credential's.
	Org string
	// AllowStale lets items whose state changed since the packet's run
	// be applied anyway.
	AllowStale bool
	// AllowAccountRemoval lets remove-account (and Revoke on an account
	// row) go ahead.
	AllowAccountRemoval bool
	// MaxChanges is the most actions one apply carries out (default 50).
	MaxChanges int
	// Me is who the credential is; its own administrative access is never
	// removed.
	Me collect.Identity
}

// ErrNoSnapshot is a store without a complete run of the organization.
var ErrNoSnapshot = errors.New("no snapshot to plan against")

// Build makes the plan: decisions resolved against the store, actions an
// earlier apply of the same plan finished taken from the journal, every
// other action read live (already as wanted: skipped; changed since the
// packet: refused unless allowed), then the safety rails. It changes
// nothing. Bad decisions are an *InputError.
func Build(ctx context.Context, st *snapshot.Store, d *Decisions, live *Live, opts Options) (*Plan, error) {
	if opts.MaxChanges <= 0 {
		opts.MaxChanges = 50
	}
	org := opts.Org
	if d.Packet != nil {
		if org != "" && snapshot.OrgName(org) != snapshot.OrgName(d.Packet.Manifest.Org) {
			return nil, &InputError{Problems: []Problem{{Source: Source{File: d.File}, Msg: fmt.Sprintf("the packet is of %s, not %s", d.Packet.Manifest.Org, org)}}}
		}
		org = d.Packet.Manifest.Org
	}
	org, err := storeOrg(ctx, st, org, live)
	if err != nil {
		return nil, err
	}
	newest, err := st.LatestRun(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoSnapshot, err)
	}
	p := &Plan{Org: org, BaseRun: newest.ID, Source: d.File, Keep: d.Keep, Blank: d.Blank, Actor: opts.Me.Descriptor}
	nv, err := loadView(ctx, st, newest.ID)
	if err != nil {
		return nil, err
	}
	r := newResolver(ctx, nil, nv, org)
	if d.Packet != nil {
		m := d.Packet.Manifest
		p.PacketRun, p.PacketID, p.Unchecked = m.Run, m.PacketID, d.Packet.Unchecked
		if err := bindPacket(ctx, st, d.Packet, d.File); err != nil {
			return nil, err
		}
		r.packet = nv
		if m.Run != newest.ID {
			if r.packet, err = loadView(ctx, st, m.Run); err != nil {
				return nil, err
			}
		}
	}
	for _, dec := range d.Rows {
		if d.Packet != nil {
			if err := r.packetDecision(dec); err != nil {
				return nil, err
			}
		} else {
			r.planDecision(dec)
		}
	}
	if err := r.ps.err(); err != nil {
		return nil, err
	}
	r.resolveNotes()
	p.Actions, p.Notes = r.actions, r.notes
	for _, a := range p.Actions {
		a.packetRun = p.PacketRun
	}
	p.ID = planID(org, p.Actions)

	// What an earlier apply of this plan finished is not read again.
	journal, err := st.Journal(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	finished := map[int]snapshot.JournalEntry{}
	started := map[int]bool{}
	for _, e := range journal {
		if snapshot.JournalFinal(e.Status) {
			finished[e.Seq] = e
		} else if e.Status == snapshot.JournalStarted {
			started[e.Seq] = true
		}
	}
	var check []*Action
	for _, a := range p.Actions {
		if e, ok := finished[a.Seq]; ok {
			a.State, a.Note = StateDone, "finished earlier ("+e.Status+")"
			if e.Error != "" {
				a.Note += ": " + e.Error
			}
			continue
		}
		check = append(check, a)
	}
	if err := live.check(ctx, check, opts, nv); err != nil {
		return nil, err
	}
	// An action an earlier apply started (the call may have been sent)
	// and that is now as wanted was carried out by that apply: it is
	// done, not skipped, though the process stopped before saying so.
	for _, a := range check {
		if started[a.Seq] && a.State == StateSkip {
			a.State, a.Note, a.confirmed = StateDone, "carried out by an earlier apply that stopped before journaling it (confirmed live)", true
		}
	}
	if err := checkRails(ctx, p, live, nv, opts); err != nil {
		return nil, err
	}
	if n := p.Count(StateApply); n > opts.MaxChanges {
		p.Refusal = fmt.Sprintf("the plan makes %d changes, more than --max-changes %d allows: check it, then raise --max-changes to go on", n, opts.MaxChanges)
	}
	return p, nil
}

// bindPacket checks every field of a packet's manifest that the store can
// confirm: the run is a complete run of the store, of the organization the
// manifest names by id, URL and name, started at the service time the
// manifest says. The manifest holds the hashes of the packet's files but
// none of its own, so an edited field is caught here or not at all (the
// row counts n are checked against the files, by export.Verify).
func bindPacket(ctx context.Context, st *snapshot.Store, pk *Packet, file string) error {
	m := pk.Manifest
	src := Source{File: filepath.Join(pk.Dir, export.ManifestName)}
	run, err := st.CompleteRun(ctx, m.Run)
	if err != nil {
		return &InputError{Problems: []Problem{{Source: Source{File: file},
			Msg: fmt.Sprintf("the packet is of run %d of %s, which this store does not hold: apply with the store the packet was exported from", m.Run, clip(m.Org))}}}
	}
	orgID := run.OrgID
	if orgID == "" { // a run from before stores recorded it: the store's
		o, _, err := st.Organization(ctx)
		if err != nil {
			return err
		}
		orgID = o.ID
	}
	var ps problems
	mismatch := func(field, says, store string) {
		ps.add(src, "the manifest says %s %s, but run %d of this store has %s: the manifest was edited, or the packet is not of this store",
			field, clip(says), m.Run, clip(store))
	}
	if !strings.EqualFold(m.OrgID, orgID) && (m.OrgID != "" || run.OrgID != "") {
		mismatch("org_id", m.OrgID, orgID)
	}
	if snapshot.NormalizeOrg(m.Org) != snapshot.NormalizeOrg(run.Org) {
		mismatch("org", m.Org, run.Org)
	}
	if m.OrgName != export.OrgName(run.Org) {
		mismatch("org_name", m.OrgName, export.OrgName(run.Org))
	}
	if !sameTime(m.SnapshotTime, run.SnapshotTime) {
		mismatch("snapshot_time", timeText(m.SnapshotTime), timeText(run.SnapshotTime))
	}
	return ps.err()
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func timeText(t *time.Time) string {
	if t == nil {
		return "none"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// storeOrg is the organization of the store (a store holds one), checked
// against the one asked for and the one the credential reaches: decisions
// about one organization are never applied to another.
func storeOrg(ctx context.Context, st *snapshot.Store, asked string, live *Live) (string, error) {
	o, ok, err := st.Organization(ctx)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%w: the store holds no organization yet (run 'exporter sync' first)", ErrNoSnapshot)
	}
	if err := st.CheckOrg(ctx, asked); err != nil {
		return "", err
	}
	if live != nil && live.ADO != nil && live.ADO.OrgID != "" && !strings.EqualFold(live.ADO.OrgID, o.ID) {
		return "", fmt.Errorf("%w: the store holds %s (id %s), but %s is organization id %s: apply decisions with the store of the organization they are about",
			snapshot.ErrOtherOrg, o.URL, o.ID, live.ADO.Org, live.ADO.OrgID)
	}
	return o.URL, nil
}

// planID is a hash of what the plan does, so the same decisions give the
// same plan (and a resumed apply finds its journal).
func planID(org string, actions []*Action) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", snapshot.NormalizeOrg(org))
	for _, a := range actions {
		fmt.Fprintf(h, "%d\x1f%s\x1f%s\x1f%s", a.Seq, a.key(), strings.ToLower(a.Subject.Principal), a.License)
		for _, g := range a.Groups {
			fmt.Fprintf(h, "\x1f%s", g.Descriptor)
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// planJSONAction is one action as --plan-out writes it: the plan file
// columns (so the file can be applied as it is) and what the plan found.
type planJSONAction struct {
	Action      string   `json:"action"`
	Subject     string   `json:"subject"`
	Target      string   `json:"target,omitempty"`
	License     string   `json:"license,omitempty"`
	Reason      string   `json:"reason,omitempty"`
	Approver    string   `json:"approver,omitempty"`
	Ticket      string   `json:"ticket,omitempty"`
	Seq         int      `json:"seq"`
	SubjectName string   `json:"subject_name"`
	TargetName  string   `json:"target_name,omitempty"`
	State       string   `json:"state"`
	Note        string   `json:"note,omitempty"`
	Sources     []string `json:"sources"`
}

// WritePlanJSON writes a plan to a file: its facts, its actions in the
// plan file's form (so the file can be given to apply as it is) with their
// states, and its notes.
func WritePlanJSON(path string, p *Plan) error {
	doc := struct {
		ID        string           `json:"id"`
		Org       string           `json:"org"`
		BaseRun   int64            `json:"base_run"`
		PacketRun int64            `json:"packet_run,omitempty"`
		PacketID  string           `json:"packet_id,omitempty"`
		Source    string           `json:"source"`
		Refusal   string           `json:"refusal,omitempty"`
		Keep      int              `json:"keep"`
		Blank     int              `json:"blank"`
		Actions   []planJSONAction `json:"actions"`
		Notes     []Note           `json:"notes,omitempty"`
	}{ID: p.ID, Org: p.Org, BaseRun: p.BaseRun, PacketRun: p.PacketRun, PacketID: p.PacketID, Source: p.Source, Refusal: p.Refusal,
		Keep: p.Keep, Blank: p.Blank, Actions: []planJSONAction{}, Notes: p.Notes}
	for _, a := range p.Actions {
		subject := a.Subject.Descriptor
		if a.Kind == ActAddAccount {
			subject = a.Subject.Principal
		}
		target, targetName := a.Target()
		license := ""
		switch a.Kind {
		case ActAddAccount:
			var gs []string
			for _, g := range a.Groups {
				gs = append(gs, g.Descriptor)
			}
			target, license = strings.Join(gs, "; "), a.License
		case ActSetLicense:
			target, license = "", a.License
		case ActRevokePAT, ActRemoveRole, ActClosePipelines:
			subject, target = a.Res.planSubject(a), a.Res.planTarget(a.Kind)
		}
		var srcs []string
		for _, s := range a.Sources {
			srcs = append(srcs, s.String())
		}
		doc.Actions = append(doc.Actions, planJSONAction{Action: a.Kind, Subject: subject, Target: target, License: license,
			Reason: a.Reason, Approver: a.Approver, Ticket: a.Ticket, Seq: a.Seq, SubjectName: a.Subject.Name, TargetName: targetName,
			State: a.State, Note: a.Note, Sources: srcs})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

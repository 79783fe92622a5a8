package export

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ado-access/ado-access/internal/diff"
	"github.com/ado-access/ado-access/internal/snapshot"
)

// job produces the rows of every table of one run. Tables are produced in
// PacketTables order, and later tables use what earlier ones found: the
// accounts' names and dormancy, the groups' names and privilege, the
// privileged access found while effective access streams past.
type job struct {
	st   *snapshot.Store
	run  snapshot.Run
	opts Options
	// warehouse: the job feeds a warehouse export, which has every
	// effective permission (a packet, the privileged ones by default).
	warehouse bool
	snap      time.Time // what dormancy is measured from
	priv      privileged

	accounts map[string]*account  // by descriptor
	groups   map[string]*group    // by descriptor
	teams    map[string][2]string // team id → name, project; dropped after team_members

	privSpool    *spool
	changeSpool  *spool
	privMembers  map[string]int64 // privileged group → accounts with access
	privAccounts map[string]bool  // accounts with privileged access
	findings     []Row
	dormant      int64
	directGroups map[string]int64 // account → groups it is a direct member of; dropped after accounts
	changes      changeSource
	changeKinds  map[string]int64
	perms        *diff.PermissionSnapshot // loaded for permissions, used by effective_permissions
	pipes        *pipeState               // names and Azure connections, for resource_roles (pipelines.go)
	rows         map[string]int64         // rows per table
}

// account is what later tables need to know of an account.
type account struct {
	name, principal, kind, metaType, license, status string
	last                                             any // time.Time or nil
	dormant                                          bool
}

// group is what later tables need to know of a group.
type group struct {
	name       string // principal name, else display name
	display    string
	project    string
	privileged bool
}

// newJob resolves the run to export.
func newJob(ctx context.Context, st *snapshot.Store, opts Options) (*job, error) {
	opts = opts.withDefaults()
	if err := st.CheckOrg(ctx, opts.Org); err != nil {
		return nil, err
	}
	var run snapshot.Run
	var err error
	if opts.Run != 0 {
		run, err = st.CompleteRun(ctx, opts.Run)
	} else {
		run, err = st.LatestRun(ctx)
	}
	if err != nil {
		return nil, err
	}
	snap := run.StartedAt
	if run.SnapshotTime != nil {
		snap = *run.SnapshotTime
	}
	return &job{
		st: st, run: run, opts: opts, snap: snap.UTC(), priv: newPrivileged(opts.PrivilegedGroups),
		accounts: map[string]*account{}, groups: map[string]*group{}, teams: map[string][2]string{},
		privMembers: map[string]int64{}, privAccounts: map[string]bool{},
		changeKinds: map[string]int64{}, rows: map[string]int64{},
	}, nil
}

// close drops what the job holds on disk.
func (j *job) close() {
	j.perms = nil
	for _, sp := range []*spool{j.privSpool, j.changeSpool} {
		if sp != nil {
			sp.Close()
		}
	}
	j.changes.close()
}

// produce streams the rows of table t.
func (j *job) produce(ctx context.Context, t *Table, emit func(Row) error) error {
	count := func(r Row) error {
		j.rows[t.Name]++
		return emit(r)
	}
	id := j.run.ID
	switch t {
	case Accounts:
		if err := j.countDirectGroups(ctx); err != nil {
			return err
		}
		defer func() { j.directGroups = nil }()
		return queryRows(ctx, j.st, id, t, "export_accounts", j.account, count)
	case Groups:
		return queryRows(ctx, j.st, id, t, "export_groups", j.group, count)
	case GroupRules:
		return queryRows(ctx, j.st, id, t, "export_group_rules", nil, count)
	case Memberships:
		return queryRows(ctx, j.st, id, t, "export_memberships", j.membership, count)
	case Projects:
		return queryRows(ctx, j.st, id, t, "export_projects", nil, count)
	case Teams:
		return queryRows(ctx, j.st, id, t, "export_teams", j.team, count)
	case TeamMembers:
		defer func() { j.teams = nil }()
		return queryRows(ctx, j.st, id, t, "export_team_members", j.teamMember, count)
	case Repositories:
		return queryRows(ctx, j.st, id, t, "export_repositories", nil, count)
	case EffectiveAccess:
		return j.effective(ctx, count)
	case PrivilegedAccess:
		return j.privileged(count)
	case Permissions:
		return j.permissionRows(ctx, count)
	case EffectivePermissions:
		return j.effectivePermissionRows(ctx, j.opts.AllPermissions || j.warehouse, count)
	case Findings:
		return j.findingRows(count)
	case Changes:
		return j.changeRows(ctx, count)
	case AppliedDecisions:
		return j.appliedRows(ctx, count)
	}
	if fn := j.pipelineProducer(t); fn != nil {
		return fn(ctx, count)
	}
	return fmt.Errorf("export: no rows for table %s", t.Name)
}

// Column positions the job fills or reads.
var (
	accDescriptor = col(Accounts, "descriptor")
	accKind       = col(Accounts, "kind")
	accDisplay    = col(Accounts, "display_name")
	accPrincipal  = col(Accounts, "principal_name")
	accMetaType   = col(Accounts, "meta_type")
	accDeleted    = col(Accounts, "deleted_in_origin")
	accLicense    = col(Accounts, "license_display_name")
	accLicType    = col(Accounts, "account_license_type")
	accLicSource  = col(Accounts, "licensing_source")
	accStatus     = col(Accounts, "status")
	accCreated    = col(Accounts, "date_created")
	accLast       = col(Accounts, "last_accessed")
	accDormant    = col(Accounts, "dormant")
	accGroups     = col(Accounts, "direct_groups")

	grpDescriptor = col(Groups, "descriptor")
	grpDisplay    = col(Groups, "display_name")
	grpPrincipal  = col(Groups, "principal_name")
	grpProject    = col(Groups, "project")
	grpPrivileged = col(Groups, "privileged")
)

func col(t *Table, name string) int {
	i := t.Index(name)
	if i < 0 {
		panic("export: table " + t.Name + " has no column " + name)
	}
	return i
}

// account completes an accounts row (dormant) and remembers the account.
func (j *job) account(r Row, extra map[string]any) error {
	entitled, _ := extra["entitled"].(int64)
	last, _ := r[accLast].(time.Time)
	created, _ := r[accCreated].(time.Time)
	dormant := diff.IsDormant(entitled != 0, last, created, j.snap, j.opts.DormantDays)
	r[accDormant] = dormant
	r[accGroups] = j.directGroups[r[accDescriptor].(string)]
	if dormant {
		j.dormant++
	}
	d := r[accDescriptor].(string)
	a := &account{
		name: diff.AccountName(r[accDisplay].(string), r[accPrincipal].(string), d), principal: r[accPrincipal].(string),
		kind: r[accKind].(string), metaType: r[accMetaType].(string), license: r[accLicense].(string),
		status: r[accStatus].(string), last: r[accLast], dormant: dormant,
	}
	j.accounts[d] = a
	j.accountFindings(d, a, r)
	return nil
}

// countDirectGroups counts every member's direct groups.
func (j *job) countDirectGroups(ctx context.Context) error {
	j.directGroups = map[string]int64{}
	return j.st.Rows(ctx, "export_members", []any{sql.Named("run", j.run.ID)}, nil, func(v []any) error {
		if m, ok := v[0].(string); ok {
			j.directGroups[m]++
		}
		return nil
	})
}

// group completes a groups row (privileged) and remembers the group.
func (j *job) group(r Row, _ map[string]any) error {
	d, display, principal := r[grpDescriptor].(string), r[grpDisplay].(string), r[grpPrincipal].(string)
	p := j.priv.match(d, display, principal)
	r[grpPrivileged] = p
	j.groups[d] = &group{name: diff.GroupName(display, principal, d), display: display, project: r[grpProject].(string), privileged: p}
	return nil
}

// membership names a membership's group and member.
func (j *job) membership(r Row, _ map[string]any) error {
	r[1] = j.groupLabel(r[0].(string))
	r[3], r[4] = j.memberLabel(r[2].(string))
	return nil
}

// team remembers a team's name and project for its members.
func (j *job) team(r Row, _ map[string]any) error {
	j.teams[r[0].(string)] = [2]string{r[1].(string), r[3].(string)}
	return nil
}

// teamMember names a team member's team, project and member.
func (j *job) teamMember(r Row, _ map[string]any) error {
	tm := j.teams[r[0].(string)]
	r[1], r[2] = tm[0], tm[1]
	r[4], r[5] = j.memberLabel(r[3].(string))
	return nil
}

// groupLabel names a group by descriptor (the descriptor itself if the
// run has no such group).
func (j *job) groupLabel(d string) string {
	if g := j.groups[d]; g != nil {
		return g.name
	}
	return d
}

// memberLabel names a member, account or group, and says which kind it is.
func (j *job) memberLabel(d string) (name, kind string) {
	if a := j.accounts[d]; a != nil {
		return a.name, a.kind
	}
	if g := j.groups[d]; g != nil {
		return g.name, "group"
	}
	return d, ""
}

// appliedRows streams the apply journal's actions finished after the
// baseline run started and before this run did (all before it, without a
// baseline run).
func (j *job) appliedRows(ctx context.Context, emit func(Row) error) error {
	if !j.st.HasJournal(ctx) {
		return nil // a store from before the journal, read without migrating
	}
	var since int64
	switch j.changes.kind {
	case "run":
		since = j.changes.run
	case "packet":
		since = j.changes.info.Run
	}
	args := []any{sql.Named("run", j.run.ID), sql.Named("since", since)}
	return queryRowsWith(ctx, j.st, args, AppliedDecisions, "export_applied_decisions", nil, emit)
}

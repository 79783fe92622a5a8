package provision

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/ado-access/ado-access/internal/collect"
)

// Pipeline resources and personal access tokens: three actions, decided
// on the packet's personal_access_tokens, resource_roles and
// pipeline_permissions sheets (Revoke) or written in a plan file, and
// carried out through the same plan, live reads, rails, journal and
// verification as memberships:
//
//   - revoke-pat: revoke a user's personal access token or SSH key (Token
//     Admin revocations, Token Administration scope; an SSH key with
//     isPublic=true, which the 7.1 spec documents for SSH keys);
//   - remove-role: remove an identity's role assignment on a service
//     connection, variable group, environment, agent queue or pool
//     (securityroles, Security (Manage));
//   - close-pipelines: take a resource's authorization for all pipelines
//     away (pipeline permissions, allPipelines.authorized false; Pipeline
//     Resources (Use and manage)). Pipelines authorized one by one keep it.

// The actions.
const (
	ActRevokePAT      = "revoke-pat"
	ActRemoveRole     = "remove-role"
	ActClosePipelines = "close-pipelines"
)

// The packet tables whose Revoke they carry out.
const (
	TableTokens        = "personal_access_tokens"
	TableRoles         = "resource_roles"
	TablePipelinePerms = "pipeline_permissions"
)

func init() { Actions = append(Actions, ActRevokePAT, ActRemoveRole, ActClosePipelines) }

func isPipelineTable(name string) bool {
	return name == TableTokens || name == TableRoles || name == TablePipelinePerms
}

func isPipelineAction(kind string) bool {
	return kind == ActRevokePAT || kind == ActRemoveRole || kind == ActClosePipelines
}

// pipeTableOf is the packet table an action's item is a row of.
var pipeTableOf = map[string]string{ActRevokePAT: TableTokens, ActRemoveRole: TableRoles, ActClosePipelines: TablePipelinePerms}

// Resource is the item of a pipeline action.
type Resource struct {
	Project  string `json:"project_id,omitempty"`    // remove-role, close-pipelines
	Scope    string `json:"scope,omitempty"`         // remove-role: the securityroles scope
	Type     string `json:"resource_type,omitempty"` // close-pipelines: endpoint, variablegroup, environment, queue
	ID       string `json:"id"`                      // the token's authorization id, or the resource's id
	Identity string `json:"identity,omitempty"`      // remove-role: the identity id holding the role
	Owner    string `json:"owner,omitempty"`         // revoke-pat: the token's owner (descriptor)
	Kind     string `json:"kind,omitempty"`          // revoke-pat: "ssh" for an SSH key, else a token
	Name     string `json:"name,omitempty"`          // the token's or the resource's name
}

// key is the item's key in its packet table, column by column.
func (r *Resource) key(kind string) []string {
	switch kind {
	case ActRevokePAT:
		return []string{r.Owner, r.ID}
	case ActRemoveRole:
		return []string{r.Project, r.Scope, r.ID, r.Identity}
	}
	return []string{r.Project, r.Type, r.ID}
}

func (r *Resource) target(kind string) (string, string) {
	switch kind {
	case ActRevokePAT:
		if r.ssh() {
			return r.ID, "SSH key " + orID(r.Name, r.ID)
		}
		return r.ID, "personal access token " + orID(r.Name, r.ID)
	case ActRemoveRole:
		return r.Scope + "/" + r.ID, orID(r.Name, r.ID) // "Administrator on prod-azure"
	}
	return r.Project + "/" + r.Type + "/" + r.ID, "all pipelines"
}

// ssh tells a revoke-pat of an SSH key (revoked with isPublic=true).
func (r *Resource) ssh() bool { return r.Kind == "ssh" }

func orID(name, id string) string {
	if name == "" {
		return id
	}
	return name
}

// planSubject and planTarget are the action as a plan file writes it.
func (r *Resource) planSubject(a *Action) string {
	switch a.Kind {
	case ActRevokePAT:
		return r.Owner
	case ActRemoveRole:
		return r.Identity
	}
	return r.Type + "/" + r.ID
}

func (r *Resource) planTarget(kind string) string {
	switch kind {
	case ActRevokePAT:
		return r.ID
	case ActRemoveRole:
		return r.Scope + "/" + r.ID
	}
	return r.Project
}

// pipeQueries read a pipeline table at a run, as the packet shows it.
var pipeQueries = map[string]string{TableTokens: "export_personal_access_tokens", TableRoles: "export_resource_roles", TablePipelinePerms: "export_pipeline_permissions"}

// pipeKey is a query row's key, as the packet table's key columns join
// (export_resource_roles has the project's name after project_id).
func pipeKey(table string, r []any) string {
	var parts []string
	switch table {
	case TableTokens:
		parts = []string{text(r[0]), text(r[3])}
	case TableRoles:
		parts = []string{text(r[0]), text(r[2]), text(r[3]), text(r[4])}
	default:
		parts = []string{text(r[0]), text(r[1]), text(r[2])}
	}
	return strings.Join(parts, "\x1f")
}

// pipeRows is a pipeline table at the view's run, by key, read once.
func (v *view) pipeRows(ctx context.Context, table string) (map[string][]any, error) {
	v.pipeMu.Lock()
	defer v.pipeMu.Unlock()
	if rows, ok := v.pipe[table]; ok {
		return rows, nil
	}
	rows := map[string][]any{}
	err := v.st.Rows(ctx, pipeQueries[table], []any{sql.Named("run", v.run)}, nil, func(r []any) error {
		rows[pipeKey(table, r)] = append([]any(nil), r...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if v.pipe == nil {
		v.pipe = map[string]map[string][]any{}
	}
	v.pipe[table] = rows
	return rows, nil
}

// resourceNames are the names of the view's pipeline resources, by
// type/project/id (as pipeline permissions name them) and by the id the
// securityroles API uses ({project}_{id}, {project}${id} for variable
// groups, a pool's id).
func (v *view) resourceNames(ctx context.Context) (map[string]string, error) {
	v.pipeMu.Lock()
	defer v.pipeMu.Unlock()
	if v.names != nil {
		return v.names, nil
	}
	names := map[string]string{}
	for _, q := range []struct{ query, typ, sep string }{
		{"export_service_connections", "endpoint", "_"}, {"export_variable_groups", "variablegroup", "$"},
		{"export_environments", "environment", "_"}, {"export_agent_queues", "queue", "_"},
	} {
		err := v.st.Rows(ctx, q.query, []any{sql.Named("run", v.run)}, nil, func(r []any) error {
			project, id, name := text(r[0]), fmt.Sprint(r[2]), text(r[3])
			names[q.typ+"/"+project+"/"+id] = name
			names[project+q.sep+id] = name
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err := v.st.Rows(ctx, "export_agent_pools", []any{sql.Named("run", v.run)}, nil, func(r []any) error {
		names[fmt.Sprint(r[0])] = text(r[1])
		return nil
	})
	if err != nil {
		return nil, err
	}
	v.names = names
	return names, nil
}

// pipeAction makes the action on one row of a pipeline table (as the
// view's run holds it). It says why not when the row asks for nothing.
func pipeAction(v *view, names map[string]string, table string, row []any) (*Action, string) {
	switch table {
	case TableTokens:
		owner := text(row[0])
		s := Subject{Descriptor: owner, Name: orID(text(row[1]), owner), Principal: text(row[2]), Kind: "user"}
		if acc := v.accounts[owner]; acc != nil {
			s = subjectOf(acc)
		}
		// kind is the query's last column (export_personal_access_tokens).
		return &Action{Kind: ActRevokePAT, Subject: s, Res: &Resource{Owner: owner, ID: text(row[3]), Name: text(row[4]), Kind: text(row[len(row)-1])}}, ""
	case TableRoles:
		if integer(row[7]) != 0 {
			return nil, "the role is inherited from the project or organization level: it cannot be removed on the resource; remove it where it is set"
		}
		identity, d := text(row[4]), text(row[5])
		s := Subject{Descriptor: d, Name: identity}
		if acc := v.accounts[d]; acc != nil {
			s = subjectOf(acc)
		} else if g := v.groups[d]; g != nil {
			s = Subject{Descriptor: g.descriptor, Name: g.name(), Principal: g.principal, OriginID: g.originID, Kind: "group"}
		}
		res := text(row[3])
		return &Action{Kind: ActRemoveRole, Subject: s, Res: &Resource{Project: text(row[0]), Scope: text(row[2]), ID: res, Identity: identity,
			Name: text(row[6]) + " on " + orID(names[res], res)}}, ""
	}
	if integer(row[3]) == 0 {
		return nil, "the resource is not open to all pipelines: there is nothing to close (pipelines authorized one by one are changed in Azure DevOps)"
	}
	typ, id := text(row[1]), text(row[2])
	name := orID(names[typ+"/"+text(row[0])+"/"+id], id)
	return &Action{Kind: ActClosePipelines, Subject: Subject{Name: typ + " " + name}, Res: &Resource{Project: text(row[0]), Type: typ, ID: id, Name: name}}, ""
}

// pipeDecision turns a Revoke on a pipeline table's row into an action.
func (r *resolver) pipeDecision(d Decision) error {
	v := r.packet
	rows, err := v.pipeRows(r.ctx, d.Table)
	if err != nil {
		return err
	}
	row := rows[strings.Join(d.Key, "\x1f")]
	if row == nil {
		r.ps.add(d.Source, "%s row %s is not in the packet's run %d of the store", d.Table, clip(strings.Join(d.Key, ", ")), v.run)
		return nil
	}
	names, err := v.resourceNames(r.ctx)
	if err != nil {
		return err
	}
	a, why := pipeAction(v, names, d.Table, row)
	if d.Value == Change {
		why = "Change is not carried out from a packet: write the change in a plan file"
	}
	if a == nil || d.Value == Change {
		r.notes = append(r.notes, Note{Source: d.Source, Subject: strings.Join(d.Key, ", "), Msg: why})
		return nil
	}
	a.Sources, a.Approver, a.Reason, a.packetRow = []Source{d.Source}, d.Reviewer, d.Comment, pipeAttrs(d.Table, row)
	r.add(a)
	return nil
}

// pipePlanDecision finds a plan file's pipeline action in the newest run:
//
//	revoke-pat       subject: the owner (descriptor, principal name or mail)   target: the authorization id
//	remove-role      subject: the identity id holding the role                 target: scope/resource_id
//	close-pipelines  subject: resource_type/resource_id                        target: the project id
func (r *resolver) pipePlanDecision(d Decision, a *Action) bool {
	v := r.newest
	table := pipeTableOf[d.Action]
	rows, err := v.pipeRows(r.ctx, table)
	if err != nil {
		r.ps.add(d.Source, "read %s: %v", table, err)
		return false
	}
	var row []any
	switch d.Action {
	case ActRevokePAT:
		acc := r.account(d.Source, d.Subject)
		if acc == nil {
			return false
		}
		row = rows[acc.descriptor+"\x1f"+strings.ToLower(d.Target)]
	case ActRemoveRole:
		scope, res, ok := strings.Cut(d.Target, "/")
		if !ok {
			r.ps.add(d.Source, "remove-role's target is scope/resource_id (distributedtask.serviceendpointrole/{project}_{id}, …), got %s", clip(d.Target))
			return false
		}
		for _, rr := range rows {
			if text(rr[2]) == scope && strings.EqualFold(text(rr[3]), res) && strings.EqualFold(text(rr[4]), d.Subject) {
				row = rr
				break
			}
		}
	case ActClosePipelines:
		typ, id, ok := strings.Cut(d.Subject, "/")
		if !ok {
			r.ps.add(d.Source, "close-pipelines' subject is resource_type/resource_id (endpoint/{id}, variablegroup/{id}, environment/{id}, queue/{id}), got %s", clip(d.Subject))
			return false
		}
		row = rows[strings.ToLower(d.Target)+"\x1f"+typ+"\x1f"+strings.ToLower(id)]
	}
	if row == nil {
		r.ps.add(d.Source, "%s %s %s: no such row in %s of the newest snapshot (run %d)", d.Action, clip(d.Subject), clip(d.Target), table, v.run)
		return false
	}
	names, err := v.resourceNames(r.ctx)
	if err != nil {
		r.ps.add(d.Source, "read the resources' names: %v", err)
		return false
	}
	b, why := pipeAction(v, names, table, row)
	if b == nil {
		r.ps.add(d.Source, "%s", why)
		return false
	}
	a.Subject, a.Res = b.Subject, b.Res
	return true
}

// pipePlanTargets say what a plan file's target is for each action.
var pipePlanTargets = map[string]string{
	ActRevokePAT:      "the token's authorization id; the subject is its owner",
	ActRemoveRole:     "scope/resource_id as resource_roles shows them; the subject is the identity id",
	ActClosePipelines: "the project id; the subject is resource_type/resource_id",
}

// pipeWanted reads live whether a pipeline action's item is as wanted.
func (l *Live) pipeWanted(ctx context.Context, a *Action) (bool, error) {
	res := a.Res
	switch a.Kind {
	case ActRevokePAT:
		has, err := l.ADO.HasPAT(ctx, res.Owner, res.ID, res.ssh())
		if err != nil {
			return false, err
		}
		if !has {
			a.Note = "no such token (already revoked, or expired and gone)"
			if res.ssh() {
				a.Note = "no such SSH key (already revoked, or expired and gone)"
			}
		}
		return !has, nil
	case ActRemoveRole:
		role, inherited, err := l.ADO.RoleOf(ctx, res.Scope, res.ID, res.Identity)
		if err != nil {
			return false, err
		}
		switch {
		case inherited:
			a.Note = "holds only an inherited role there (already removed on the resource)"
		case role == "":
			a.Note = "holds no role there (already removed)"
		default:
			a.Note = "holds " + role
		}
		return role == "", nil
	}
	open, err := l.ADO.OpenToAllPipelines(ctx, res.Project, res.Type, res.ID)
	if errors.Is(err, collect.ErrNotFound) {
		a.Note = "the resource is gone"
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if !open {
		a.Note = "already closed to all pipelines"
	}
	return !open, nil
}

// pipeStaleness says why a pipeline action's row changed since the
// packet's run: gone from the newest snapshot (yet there live), or
// different there.
func pipeStaleness(ctx context.Context, a *Action, nv *view) (string, error) {
	table := pipeTableOf[a.Kind]
	rows, err := nv.pipeRows(ctx, table)
	if err != nil {
		return "", err
	}
	row := rows[strings.Join(a.Res.key(a.Kind), "\x1f")]
	if row == nil {
		return fmt.Sprintf("changed since the packet's run %d: gone at run %d, back now", a.packetRun, nv.run), nil
	}
	if a.packetRow != "" && a.packetRow != pipeAttrs(table, row) {
		return fmt.Sprintf("changed since the packet's run %d: the %s row differs at run %d", a.packetRun, table, nv.run), nil
	}
	return "", nil
}

// pipeAttrs are what a row says of its item (not the names joined to it).
func pipeAttrs(table string, row []any) string {
	switch table {
	case TableTokens:
		return fmt.Sprint(row[4:9]...)
	case TableRoles:
		return fmt.Sprint(row[5:8]...)
	}
	return fmt.Sprint(row[3:5]...)
}

// railPipelines refuses to revoke the running identity's own tokens (the
// credential may be one of them) or remove a role it holds, itself or
// through a group it is in.
func railPipelines(ctx context.Context, p *Plan, nv *view, opts Options, refuse func(*Action, string)) error {
	risky := guarded(p, opts, refuse, "its own token and access", ActRevokePAT, ActRemoveRole)
	if len(risky) == 0 {
		return nil
	}
	me := opts.Me.Descriptor
	mine, err := nv.reach(ctx, me, nil)
	if err != nil {
		return err
	}
	for _, a := range risky {
		switch {
		case a.Kind == ActRevokePAT && a.Res.Owner == me:
			refuse(a, "a token of the running identity (the credential may be this token)")
		case a.Kind == ActRemoveRole && (a.Subject.Descriptor == me || (opts.Me.ID != "" && strings.EqualFold(a.Res.Identity, opts.Me.ID))):
			refuse(a, "the running identity's own role")
		case a.Kind == ActRemoveRole && a.Subject.Descriptor != "" && mine[a.Subject.Descriptor]:
			refuse(a, "the running identity holds this role through "+a.Subject.Name)
		}
	}
	return nil
}

// pipeSend makes a pipeline action's one write.
func (l *Live) pipeSend(ctx context.Context, a *Action) (int, error) {
	res := a.Res
	switch a.Kind {
	case ActRevokePAT:
		return l.ADO.RevokePAT(ctx, res.ID, res.ssh())
	case ActRemoveRole:
		return l.ADO.RemoveRole(ctx, res.Scope, res.ID, res.Identity)
	}
	return l.ADO.ClosePipelines(ctx, res.Project, res.Type, res.ID)
}

// pipeVerify reads a pipeline action's item after the apply.
func (l *Live) pipeVerify(ctx context.Context, a *Action, c Check) (Check, error) {
	probe := *a
	wanted, err := l.pipeWanted(ctx, &probe)
	if err != nil {
		return c, err
	}
	c.OK = wanted
	switch a.Kind {
	case ActRevokePAT:
		c.Wanted, c.Now = "revoked", "valid"
	case ActRemoveRole:
		c.Wanted, c.Now = "no role", probe.Note
	default:
		c.Wanted, c.Now = "closed to all pipelines", "open to all pipelines"
	}
	if wanted {
		c.Now = c.Wanted
	}
	return c, nil
}

// pipeWriteAreas are the write scopes a plan's pipeline actions need.
var pipeWriteAreas = map[string]string{ActRevokePAT: "tokenadmin", ActRemoveRole: "security", ActClosePipelines: "pipelineresources"}

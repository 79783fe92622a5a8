package export

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Pipeline resources and personal access tokens in packets and the
// warehouse (store tables of sql/migrations/0010_pipelines.sql, and resource_checks of
// 0011_resource_checks.sql: pipelines_checks.go), and the
// findings about them. Never a secret: the store holds none.

func projectCols() []Column {
	return []Column{wide(str("project_id", "the project's id"), 38), wide(opt("project", "the project's name"), 20)}
}

func pipelineCols() []Column {
	return []Column{
		flag("all_pipelines", "true: open to all pipelines of the project"),
		wide(opt("pipelines", "the pipelines (definition ids) authorized, comma-separated"), 20),
	}
}

var (
	ServiceConnections = &Table{
		Name: "service_connections",
		Doc:  "One row per service connection and project that sees it (its own, and those it is shared with): type, authorization scheme, the Azure subscription it reaches, and which pipelines may use it. Never a credential.",
		Key:  []string{"project_id", "id"},
		Columns: append(append(projectCols(),
			wide(str("id", "the connection's id; with project_id the key"), 38),
			wide(str("name", "name"), 28),
			str("type", "azurerm, github, dockerregistry, kubernetes, generic, …"),
			str("auth_scheme", "ServicePrincipal, WorkloadIdentityFederation, UsernamePassword, …"),
			wide(opt("url", "the endpoint's URL"), 30),
			opt("subscription_id", "Azure connections: the subscription they reach"),
			opt("subscription_name", "its name"),
			opt("tenant_id", "the Entra tenant"),
			flag("is_shared", "true: shared across projects"),
			opt("created_by", "the creator's identity id"),
			wide(opt("created_by_name", "the creator's name"), 24),
			flag("is_ready", "true: ready to use")), pipelineCols()...),
	}
	VariableGroupsT = &Table{
		Name: "variable_groups",
		Doc:  "One row per variable group: whether it holds secrets (how many) or is linked to a Key Vault, and which pipelines may use it. Never a value.",
		Key:  []string{"project_id", "id"},
		Columns: append(append(projectCols(),
			num("id", "the group's id; with project_id the key"),
			wide(str("name", "name"), 28),
			str("type", "Vsts, or AzureKeyVault"),
			opt("key_vault", "the linked Key Vault's name"),
			num("variables", "variables it holds"),
			num("secrets", "of which secret"),
			opt("created_by", "the creator's identity id")), pipelineCols()...),
	}
	EnvironmentsT = &Table{
		Name: "environments",
		Doc:  "One row per deployment environment, and which pipelines may use it.",
		Key:  []string{"project_id", "id"},
		Columns: append(append(projectCols(),
			num("id", "the environment's id; with project_id the key"),
			wide(str("name", "name"), 24),
			opt("created_by", "the creator's identity id")), pipelineCols()...),
	}
	AgentPoolsT = &Table{
		Name: "agent_pools",
		Doc:  "One row per agent pool of the organization.",
		Key:  []string{"id"},
		Columns: []Column{
			num("id", "the pool's id; the key"),
			wide(str("name", "name"), 24),
			flag("is_hosted", "true: Microsoft-hosted"),
			opt("owner", "the owner's identity id"),
		},
	}
	AgentQueuesT = &Table{
		Name: "agent_queues",
		Doc:  "One row per agent queue: a pool brought to a project, and which pipelines may use it.",
		Key:  []string{"project_id", "id"},
		Columns: append(append(projectCols(),
			num("id", "the queue's id; with project_id the key"),
			wide(str("name", "name"), 24),
			num("pool_id", "the pool it uses")), pipelineCols()...),
	}
	PipelinePermissionsT = &Table{
		Name: "pipeline_permissions",
		Doc:  "One row per protected resource: open to all pipelines, or the pipelines authorized.",
		Key:  []string{"project_id", "resource_type", "resource_id"},
		Columns: []Column{
			wide(str("project_id", "the project's id"), 38),
			str("resource_type", "endpoint, variablegroup, environment or queue"),
			wide(str("resource_id", "the resource's id"), 38),
			flag("all_pipelines", "true: open to all pipelines"),
			wide(opt("pipelines", "pipelines authorized, comma-separated"), 20),
		},
		Review: true, // Revoke on a row open to all pipelines closes it ('exporter apply': close-pipelines)
	}
	ResourceRolesT = &Table{
		Name: "resource_roles",
		Doc:  "One row per security role held on a service connection, variable group, environment, agent queue or pool: who may use (User), create (Creator) or administer (Administrator) it, directly or inherited from the project.",
		Key:  []string{"project_id", "scope", "resource_id", "identity"},
		Columns: []Column{
			wide(str("project_id", "the project's id; empty for agent pools"), 38),
			wide(opt("project", "the project's name"), 20),
			str("scope", "distributedtask.serviceendpointrole, .variablegroup, .environmentreferencerole, .agentqueuerole, .agentpoolrole"),
			wide(str("resource_id", "the resource as the securityroles API names it: {project}_{id}, {project}${id}, or a pool's id"), 40),
			wide(opt("resource_name", "the resource's name, when the store knows it"), 28),
			wide(str("identity", "the identity id holding the role"), 38),
			wide(opt("subject_descriptor", "the subject it resolves to; empty when unresolved"), 30),
			wide(opt("subject_name", "its name"), 28),
			opt("subject_kind", "user, service_account, service_principal, group, or empty when unknown"),
			str("role", "Reader, User, Creator, Administrator, …"),
			flag("inherited", "true: inherited from the project (or organization) level"),
		},
		Review: true, // Revoke removes the role assignment ('exporter apply': remove-role)
	}
	PersonalAccessTokensT = &Table{
		Name: "personal_access_tokens",
		Doc:  "One row per personal access token or SSH key of a user (Token Admin): kind, name, scopes, validity, whether it is global. Never the token, nor the SSH key.",
		Key:  []string{"owner", "authorization_id"},
		Columns: []Column{
			wide(str("owner", "the user's descriptor; with authorization_id the key"), 30),
			wide(opt("owner_name", "the user's name"), 24),
			wide(opt("owner_principal", "the user's principal name"), 28),
			wide(str("authorization_id", "the token's authorization id (what Token Admin revokes)"), 38),
			str("kind", "pat: a personal access token; ssh: an SSH public key"),
			wide(opt("display_name", "the token's name"), 20),
			wide(opt("scope", "scopes, space-separated; app_token is full access"), 30),
			stamp("token_valid_from", "valid from"),
			stamp("token_valid_to", "valid to"),
			flag("is_global", "true: valid in every organization the user can reach"),
			flag("full_access", "true: full access (app_token)"),
			num("valid_days", "days between valid from and valid to"),
			flag("expired", "true: expired at the run's snapshot time"),
		},
		Review: true, // Revoke revokes the token or SSH key ('exporter apply': revoke-pat)
	}
)

// pipelineTables are the tables above in the order they are written:
// resource tables first, then roles (which name them), then tokens.
var pipelineTables = []*Table{ServiceConnections, VariableGroupsT, EnvironmentsT, AgentPoolsT, AgentQueuesT, PipelinePermissionsT, ResourceChecksT,
	ResourceRolesT, PersonalAccessTokensT}

// Findings about pipeline resources and tokens.
const (
	FindOpenToAllPipelines     = "resource_open_to_all_pipelines"
	FindAzureAdminOutside      = "azure_connection_admin_outside_privileged"
	FindPATFullAccess          = "pat_full_access"
	FindPATTooLong             = "pat_valid_too_long"
	FindPATGlobal              = "pat_global"
	FindPATInactiveOwner       = "pat_of_inactive_account"
	FindSSHInactiveOwner       = "ssh_key_of_inactive_account"
	FindRoleToIndividual       = "resource_role_assigned_to_individual"
	defaultMaxPATDays      int = 90
)

func init() {
	i := slices.Index(PacketTables, Findings)
	PacketTables = slices.Insert(PacketTables, i, pipelineTables...)
	WarehouseTables = PacketTables // set from PacketTables before this init ran
	sheetOrder = append(sheetOrder, pipelineTables...)
	FindingKinds = append(FindingKinds, FindOpenToAllPipelines, FindAzureAdminOutside, FindPATFullAccess, FindPATInactiveOwner,
		FindPATTooLong, FindPATGlobal, FindRoleToIndividual, FindSSHInactiveOwner)
	FindingSeverity[FindOpenToAllPipelines] = severityHigh
	FindingSeverity[FindAzureAdminOutside] = severityHigh
	FindingSeverity[FindPATFullAccess] = severityHigh
	FindingSeverity[FindPATInactiveOwner] = severityHigh
	FindingSeverity[FindSSHInactiveOwner] = severityHigh
	FindingSeverity[FindPATTooLong] = severityMd
	FindingSeverity[FindPATGlobal] = severityMd
	FindingSeverity[FindRoleToIndividual] = severityLow
	Findings.Columns[0].Doc += ", " + strings.Join(FindingKinds[len(FindingKinds)-8:], ", ")
}

// pipeState is what the pipeline tables pass on to later ones.
type pipeState struct {
	names      map[string]string // securityroles resource id → resource name
	azure      map[string]bool   // resource ids of Azure connections
	approved   map[string]bool   // "project|type|id" of resources an enabled Approval guards (pipelines_checks.go)
	checksRead bool              // the run's store holds what needs Build (Read), checks among it
}

// pipelineProducer returns the producer of a pipeline table, or nil.
func (j *job) pipelineProducer(t *Table) func(context.Context, func(Row) error) error {
	if !slices.Contains(pipelineTables, t) {
		return nil
	}
	if j.pipes == nil {
		j.pipes = &pipeState{names: map[string]string{}, azure: map[string]bool{}}
	}
	id := j.run.ID
	return func(ctx context.Context, emit func(Row) error) error {
		switch t {
		case ServiceConnections:
			// Loaded before the table's query, not inside it: the store's
			// reads may share one connection.
			if _, _, err := j.approvals(ctx); err != nil {
				return err
			}
			return queryRows(ctx, j.st, id, t, "export_service_connections", func(r Row, extra map[string]any) error {
				if err := j.connection(r, extra); err != nil {
					return err
				}
				return j.azureApproval(ctx, r)
			}, emit)
		case VariableGroupsT:
			return queryRows(ctx, j.st, id, t, "export_variable_groups", j.varGroup, emit)
		case EnvironmentsT:
			if _, _, err := j.approvals(ctx); err != nil {
				return err
			}
			return queryRows(ctx, j.st, id, t, "export_environments", j.environment(ctx), emit)
		case AgentPoolsT:
			return queryRows(ctx, j.st, id, t, "export_agent_pools", nil, emit)
		case AgentQueuesT:
			return queryRows(ctx, j.st, id, t, "export_agent_queues", j.namedResource(t), emit)
		case PipelinePermissionsT:
			return queryRows(ctx, j.st, id, t, "export_pipeline_permissions", nil, emit)
		case ResourceChecksT:
			return queryRows(ctx, j.st, id, t, "export_resource_checks", nil, emit)
		case ResourceRolesT:
			return queryRows(ctx, j.st, id, t, "export_resource_roles", j.resourceRole, emit)
		default: // PersonalAccessTokensT
			return queryRows(ctx, j.st, id, t, "export_personal_access_tokens", j.token, emit)
		}
	}
}

// namedResource remembers the names of environments and queues, which the
// securityroles API names {project}_{id}.
func (j *job) namedResource(t *Table) func(Row, map[string]any) error {
	return func(r Row, _ map[string]any) error {
		j.pipes.names[fmt.Sprintf("%v_%v", r[t.Index("project_id")], r[t.Index("id")])] = r[t.Index("name")].(string)
		return nil
	}
}

func (j *job) connection(r Row, _ map[string]any) error {
	t := ServiceConnections
	project, id, name := r[t.Index("project_id")].(string), r[t.Index("id")].(string), r[t.Index("name")].(string)
	res := project + "_" + id
	j.pipes.names[res] = name
	if r[t.Index("type")] == "azurerm" {
		j.pipes.azure[res] = true
	}
	if r[t.Index("all_pipelines")].(bool) {
		j.find(FindOpenToAllPipelines, "", "", "", "", fmt.Sprintf("service connection %q (%s) in project %s is open to all pipelines",
			name, r[t.Index("type")], orNone(r[t.Index("project")].(string))))
	}
	return nil
}

func (j *job) varGroup(r Row, _ map[string]any) error {
	t := VariableGroupsT
	name := r[t.Index("name")].(string)
	j.pipes.names[fmt.Sprintf("%v$%v", r[t.Index("project_id")], r[t.Index("id")])] = name
	if r[t.Index("all_pipelines")].(bool) && (r[t.Index("secrets")].(int64) > 0 || r[t.Index("key_vault")] != "") {
		j.find(FindOpenToAllPipelines, "", "", "", "", fmt.Sprintf("variable group %q with secrets in project %s is open to all pipelines",
			name, orNone(r[t.Index("project")].(string))))
	}
	return nil
}

// resourceRole names a role row's subject and resource, and finds
// Administrators of Azure connections outside the privileged groups and
// roles given to individuals.
func (j *job) resourceRole(r Row, _ map[string]any) error {
	t := ResourceRolesT
	res, d := r[t.Index("resource_id")].(string), r[t.Index("subject_descriptor")].(string)
	r[t.Index("resource_name")] = j.pipes.names[res]
	kind, name := "", ""
	if a := j.accounts[d]; a != nil {
		kind, name = a.kind, a.name
	} else if g := j.groups[d]; g != nil {
		kind, name = "group", g.name
	}
	r[t.Index("subject_kind")], r[t.Index("subject_name")] = kind, name
	role, inherited := r[t.Index("role")].(string), r[t.Index("inherited")].(bool)
	what := fmt.Sprintf("%s on %s", role, orNone(j.pipes.names[res]))
	if j.pipes.azure[res] && role == "Administrator" && (kind != "group" || !j.groups[d].privileged) {
		j.find(FindAzureAdminOutside, subjectIf(kind != "group", d), subjectIf(kind != "group", name), subjectIf(kind == "group", d), subjectIf(kind == "group", name),
			"administers the Azure service connection "+orNone(j.pipes.names[res])+" outside the privileged groups")
	}
	if !inherited && kind == "user" {
		j.find(FindRoleToIndividual, d, name, "", "", "holds the role "+what+" in person rather than through a group")
	}
	return nil
}

func subjectIf(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}

// token completes a token row and finds full access, long lives, global
// tokens and tokens of accounts that are disabled, gone from Entra ID or
// dormant. Expired tokens are listed but found nothing. An SSH key (kind
// ssh) is found only for its account (ssh_key_of_inactive_account): it
// reaches Git alone, in this organization, so scope, globality and the
// token lifetime policy do not apply to it.
func (j *job) token(r Row, extra map[string]any) error {
	t := PersonalAccessTokensT
	ssh := r[t.Index("kind")] == "ssh"
	scope := r[t.Index("scope")].(string)
	full := slices.Contains(strings.Fields(scope), "app_token")
	r[t.Index("full_access")] = full
	from, _ := r[t.Index("token_valid_from")].(time.Time)
	to, _ := r[t.Index("token_valid_to")].(time.Time)
	days := int64(0)
	if !from.IsZero() && !to.IsZero() {
		days = int64(to.Sub(from).Hours() / 24)
	}
	r[t.Index("valid_days")] = days
	expired := !to.IsZero() && !to.After(j.snap)
	r[t.Index("expired")] = expired
	if expired {
		return nil
	}
	owner, name := r[t.Index("owner")].(string), r[t.Index("owner_name")].(string)
	what := fmt.Sprintf("token %q (valid to %s)", r[t.Index("display_name")], to.Format("2006-01-02"))
	if ssh {
		what = fmt.Sprintf("SSH key %q (valid to %s)", r[t.Index("display_name")], to.Format("2006-01-02"))
		if to.Year() >= 9999 {
			what = fmt.Sprintf("SSH key %q (no expiry)", r[t.Index("display_name")])
		}
	}
	if full && !ssh {
		j.find(FindPATFullAccess, owner, name, "", "", what+" has full access")
	}
	if max := j.opts.MaxPATDays; days > int64(max) && !ssh {
		j.find(FindPATTooLong, owner, name, "", "", fmt.Sprintf("%s is valid for %d days, more than %d", what, days, max))
	}
	if r[t.Index("is_global")].(bool) && !ssh {
		j.find(FindPATGlobal, owner, name, "", "", what+" is valid in every organization the user can reach")
	}
	deleted, _ := extra["owner_deleted_in_origin"].(int64)
	var why []string
	if deleted != 0 {
		why = append(why, "gone from Entra ID")
	}
	if a := j.accounts[owner]; a != nil {
		if a.status == "disabled" {
			why = append(why, "disabled")
		}
		if a.dormant {
			why = append(why, "dormant")
		}
	}
	if len(why) > 0 {
		kind := FindPATInactiveOwner
		if ssh {
			kind = FindSSHInactiveOwner
		}
		j.find(kind, owner, name, "", "", what+" belongs to an account that is "+strings.Join(why, ", "))
	}
	return nil
}

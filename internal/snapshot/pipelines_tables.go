package snapshot

// Pipeline resources and personal access tokens
// (sql/migrations/0010_pipelines.sql). Project-scoped tables are replaced a
// project at a time; role assignments and pipeline permissions a project
// and a kind of resource at a time (a kind the credential may not read is
// left as it was); tokens an owner at a time.
var (
	ServiceConnections = &Table{Name: "service_connections", Key: []string{"project_id", "id"}, Scope: 1, Attrs: []string{
		"name", "type", "auth_scheme", "url", "subscription_id", "subscription_name", "tenant_id", "is_shared", "created_by", "is_ready"}}
	VariableGroups = &Table{Name: "variable_groups", Key: []string{"project_id", "id"}, Scope: 1, Attrs: []string{
		"name", "type", "key_vault", "variables", "secrets", "created_by"}}
	Environments  = &Table{Name: "environments", Key: []string{"project_id", "id"}, Scope: 1, Attrs: []string{"name", "created_by"}}
	AgentPools    = &Table{Name: "agent_pools", Key: []string{"id"}, Attrs: []string{"name", "is_hosted", "owner"}}
	AgentQueues   = &Table{Name: "agent_queues", Key: []string{"project_id", "id"}, Scope: 1, Attrs: []string{"name", "pool_id"}}
	ResourceRoles = &Table{Name: "resource_roles", Key: []string{"project_id", "scope", "resource_id", "identity"}, Scope: 2, Attrs: []string{
		"role", "inherited"}}
	PipelinePermissions = &Table{Name: "pipeline_permissions", Key: []string{"project_id", "resource_type", "resource_id"}, Scope: 2, Attrs: []string{
		"all_pipelines", "pipelines"}}
	// ResourceChecks are the checks and approvals on those resources
	// (sql/migrations/0011_resource_checks.sql), replaced a project and a
	// kind of resource at a time, as pipeline permissions.
	ResourceChecks = &Table{Name: "resource_checks", Key: []string{"project_id", "resource_type", "resource_id", "check_id"}, Scope: 2, Attrs: []string{
		"type", "display_name", "is_disabled", "timeout", "approvers", "min_required_approvers", "created_by"}}
	// kind ('pat' or 'ssh') is in the key, not the attributes: it never
	// changes for an authorization id, and the rows written before it
	// existed keep their content hash (sql/migrations/0012_token_kind.sql).
	PersonalAccessTokens = &Table{Name: "personal_access_tokens", Key: []string{"owner", "authorization_id", "kind"}, Scope: 1, Attrs: []string{
		"display_name", "scope", "token_valid_from", "token_valid_to", "is_global"}}
)

// PipelineTables are the tables of pipeline resources and tokens.
var PipelineTables = []*Table{ServiceConnections, VariableGroups, Environments, AgentPools, AgentQueues, ResourceRoles, PipelinePermissions, ResourceChecks, PersonalAccessTokens}

func init() { Tables = append(Tables, PipelineTables...) }

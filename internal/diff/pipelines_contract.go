package diff

// Pipeline resources and personal access tokens in the contract
// (sql/migrations/0010_pipelines.sql). They are Optional: a packet written
// before they existed lacks them, and a diff against it skips them.
const (
	EntServiceConnections   = "service_connections"
	EntVariableGroups       = "variable_groups"
	EntEnvironments         = "environments"
	EntAgentPools           = "agent_pools"
	EntAgentQueues          = "agent_queues"
	EntPipelinePermissions  = "pipeline_permissions"
	EntResourceRoles        = "resource_roles"
	EntPersonalAccessTokens = "personal_access_tokens"
)

func init() {
	PacketTables = append(PacketTables,
		&PacketTable{Name: EntServiceConnections, Optional: true, Key: cols("service_connections", Text, "project_id", "id"),
			Compare: join(cols("service_connections", Text, "name", "type", "auth_scheme", "url", "subscription_id", "subscription_name", "tenant_id", "created_by"),
				cols("service_connections", Flag, "is_shared", "is_ready"))},
		&PacketTable{Name: EntVariableGroups, Optional: true, Key: cols("variable_groups", Text, "project_id", "id"),
			Compare: cols("variable_groups", Text, "name", "type", "key_vault", "variables", "secrets", "created_by")},
		&PacketTable{Name: EntEnvironments, Optional: true, Key: cols("environments", Text, "project_id", "id"),
			Compare: cols("environments", Text, "name", "created_by")},
		&PacketTable{Name: EntAgentPools, Optional: true, Key: cols("agent_pools", Text, "id"),
			Compare: join(cols("agent_pools", Text, "name", "owner"), cols("agent_pools", Flag, "is_hosted"))},
		&PacketTable{Name: EntAgentQueues, Optional: true, Key: cols("agent_queues", Text, "project_id", "id"),
			Compare: cols("agent_queues", Text, "name", "pool_id")},
		&PacketTable{Name: EntPipelinePermissions, Optional: true, Key: cols("pipeline_permissions", Text, "project_id", "resource_type", "resource_id"),
			Compare: join(cols("pipeline_permissions", Flag, "all_pipelines"), cols("pipeline_permissions", Text, "pipelines"))},
		&PacketTable{Name: EntResourceRoles, Optional: true, Key: cols("resource_roles", Text, "project_id", "scope", "resource_id", "identity"),
			Compare: join(cols("resource_roles", Text, "role"), cols("resource_roles", Flag, "inherited"))},
		&PacketTable{Name: EntPersonalAccessTokens, Optional: true, Key: cols("personal_access_tokens", Text, "owner", "authorization_id"),
			Compare: join(cols("personal_access_tokens", Text, "display_name", "scope"), cols("personal_access_tokens", Time, "token_valid_from", "token_valid_to"),
				cols("personal_access_tokens", Flag, "is_global"))},
	)
}

-- Read queries of pipeline resources and personal access tokens
-- (internal/export/pipelines.go, cmd/exporter show). :run is a complete run.
-- Identities are named by storage key; identity_keys maps them to
-- descriptors, accounts and groups to names.

-- name: export_service_connections
SELECT c.project_id, coalesce(p.name, '') AS project, c.id, c.name, c.type, c.auth_scheme, c.url,
       c.subscription_id, c.subscription_name, c.tenant_id, c.is_shared, c.created_by,
       coalesce(a.display_name, '') AS created_by_name, c.is_ready,
       coalesce(pp.all_pipelines, 0) AS all_pipelines, coalesce(pp.pipelines, '') AS pipelines
FROM service_connections c
LEFT JOIN projects p ON p.id = c.project_id AND p.valid_from <= :run AND (p.valid_to IS NULL OR p.valid_to > :run)
LEFT JOIN pipeline_permissions pp ON pp.project_id = c.project_id AND pp.resource_type = 'endpoint' AND pp.resource_id = c.id
     AND pp.valid_from <= :run AND (pp.valid_to IS NULL OR pp.valid_to > :run)
LEFT JOIN identity_keys k ON k.storage_key = c.created_by AND c.created_by != ''
LEFT JOIN accounts a ON a.descriptor = k.descriptor AND a.valid_from <= :run AND (a.valid_to IS NULL OR a.valid_to > :run)
WHERE c.valid_from <= :run AND (c.valid_to IS NULL OR c.valid_to > :run)
ORDER BY c.project_id, c.id;

-- name: export_variable_groups
SELECT v.project_id, coalesce(p.name, '') AS project, v.id, v.name, v.type, v.key_vault, v.variables, v.secrets, v.created_by,
       coalesce(pp.all_pipelines, 0) AS all_pipelines, coalesce(pp.pipelines, '') AS pipelines
FROM variable_groups v
LEFT JOIN projects p ON p.id = v.project_id AND p.valid_from <= :run AND (p.valid_to IS NULL OR p.valid_to > :run)
LEFT JOIN pipeline_permissions pp ON pp.project_id = v.project_id AND pp.resource_type = 'variablegroup' AND pp.resource_id = CAST(v.id AS TEXT)
     AND pp.valid_from <= :run AND (pp.valid_to IS NULL OR pp.valid_to > :run)
WHERE v.valid_from <= :run AND (v.valid_to IS NULL OR v.valid_to > :run)
ORDER BY v.project_id, v.id;

-- name: export_environments
SELECT e.project_id, coalesce(p.name, '') AS project, e.id, e.name, e.created_by,
       coalesce(pp.all_pipelines, 0) AS all_pipelines, coalesce(pp.pipelines, '') AS pipelines
FROM environments e
LEFT JOIN projects p ON p.id = e.project_id AND p.valid_from <= :run AND (p.valid_to IS NULL OR p.valid_to > :run)
LEFT JOIN pipeline_permissions pp ON pp.project_id = e.project_id AND pp.resource_type = 'environment' AND pp.resource_id = CAST(e.id AS TEXT)
     AND pp.valid_from <= :run AND (pp.valid_to IS NULL OR pp.valid_to > :run)
WHERE e.valid_from <= :run AND (e.valid_to IS NULL OR e.valid_to > :run)
ORDER BY e.project_id, e.id;

-- name: export_agent_pools
SELECT id, name, is_hosted, owner FROM agent_pools
WHERE valid_from <= :run AND (valid_to IS NULL OR valid_to > :run)
ORDER BY id;

-- name: export_agent_queues
SELECT q.project_id, coalesce(p.name, '') AS project, q.id, q.name, q.pool_id,
       coalesce(pp.all_pipelines, 0) AS all_pipelines, coalesce(pp.pipelines, '') AS pipelines
FROM agent_queues q
LEFT JOIN projects p ON p.id = q.project_id AND p.valid_from <= :run AND (p.valid_to IS NULL OR p.valid_to > :run)
LEFT JOIN pipeline_permissions pp ON pp.project_id = q.project_id AND pp.resource_type = 'queue' AND pp.resource_id = CAST(q.id AS TEXT)
     AND pp.valid_from <= :run AND (pp.valid_to IS NULL OR pp.valid_to > :run)
WHERE q.valid_from <= :run AND (q.valid_to IS NULL OR q.valid_to > :run)
ORDER BY q.project_id, q.id;

-- name: export_pipeline_permissions
SELECT project_id, resource_type, resource_id, all_pipelines, pipelines FROM pipeline_permissions
WHERE valid_from <= :run AND (valid_to IS NULL OR valid_to > :run)
ORDER BY project_id, resource_type, resource_id;

-- name: export_resource_roles
-- One row per role held on a resource; subject_descriptor is empty for an
-- identity the store cannot resolve.
SELECT r.project_id, coalesce(p.name, '') AS project, r.scope, r.resource_id, r.identity,
       coalesce(k.descriptor, '') AS subject_descriptor, r.role, r.inherited
FROM resource_roles r
LEFT JOIN projects p ON p.id = r.project_id AND p.valid_from <= :run AND (p.valid_to IS NULL OR p.valid_to > :run)
LEFT JOIN identity_keys k ON k.storage_key = r.identity
WHERE r.valid_from <= :run AND (r.valid_to IS NULL OR r.valid_to > :run)
ORDER BY r.project_id, r.scope, r.resource_id, r.identity;

-- name: export_personal_access_tokens
-- Tokens and SSH keys (kind); kind comes last so the columns before it
-- keep their places for apply.
SELECT t.owner, coalesce(a.display_name, '') AS owner_name, coalesce(a.principal_name, '') AS owner_principal,
       t.authorization_id, t.display_name, t.scope, nullif(t.token_valid_from, '') AS token_valid_from,
       nullif(t.token_valid_to, '') AS token_valid_to, t.is_global,
       coalesce(a.deleted_in_origin, 0) AS owner_deleted_in_origin, t.kind
FROM personal_access_tokens t
LEFT JOIN accounts a ON a.descriptor = t.owner AND a.valid_from <= :run AND (a.valid_to IS NULL OR a.valid_to > :run)
WHERE t.valid_from <= :run AND (t.valid_to IS NULL OR t.valid_to > :run)
ORDER BY t.owner, t.authorization_id;

-- name: show_subject_names
-- Every account's and group's name at :run, for 'show who-can use'.
SELECT descriptor, display_name AS name, kind FROM accounts
WHERE valid_from <= :run AND (valid_to IS NULL OR valid_to > :run)
UNION ALL
SELECT descriptor, coalesce(nullif(principal_name, ''), display_name) AS name, 'group' AS kind FROM groups
WHERE valid_from <= :run AND (valid_to IS NULL OR valid_to > :run);

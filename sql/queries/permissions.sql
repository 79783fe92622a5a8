-- Named queries of permissions (see internal/snapshot and internal/diff).

-- name: acl_tokens_under
-- The tokens of the current ACLs of a namespace at a token and below it
-- (:token '' = all), compared without case as the service compares tokens.
SELECT token FROM acls
WHERE namespace_id = :ns AND valid_to IS NULL
  AND (:token = '' OR lower(token) = lower(:token)
       OR substr(lower(token), 1, length(:token) + length(:sep)) = lower(:token) || lower(:sep))
ORDER BY token;

-- The reads behind internal/diff's permissions: one run's snapshot.

-- name: perm_namespaces_at
-- The namespaces whose ACLs run :run read.
SELECT namespace_id, name, separator FROM security_namespaces
WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run) AND synced = 1
ORDER BY name, namespace_id;

-- name: perm_actions_at
SELECT namespace_id, bit, name, display_name FROM namespace_actions
WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run)
ORDER BY namespace_id, bit;

-- name: perm_acls_at
SELECT namespace_id, token, inherit FROM acls
WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run);

-- name: perm_aces_at
SELECT namespace_id, token, identity, allow, deny FROM aces
WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run)
ORDER BY namespace_id, token, identity;

-- name: perm_identity_keys
-- Legacy descriptors (as ACLs name identities) and the subjects they are.
SELECT legacy, descriptor FROM identity_keys WHERE legacy != '';

-- name: perm_subjects_at
-- Every account and group of run :run, with a name for people.
SELECT descriptor, kind, display_name, principal_name FROM accounts
WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run)
UNION ALL
SELECT descriptor, 'group', display_name, principal_name FROM groups
WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run);

-- name: perm_collection_admins_at
-- The organization's Project Collection Administrators at run :run: the
-- Azure DevOps group of that name at organization level (an Entra group or
-- a project group that borrows the name is not it).
SELECT descriptor FROM groups
WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run)
  AND subject_type = 'vssgp' AND scope_id = '' AND display_name = 'Project Collection Administrators';

-- name: perm_projects_at
SELECT id, name FROM projects
WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run);

-- name: perm_repositories_at
SELECT id, project_id, name FROM repositories
WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run);

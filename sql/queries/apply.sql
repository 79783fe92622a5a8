-- Read queries behind 'exporter apply': the snapshot a plan is built
-- against (:run), looked up by the descriptors and names decisions use.

-- name: apply_accounts
-- Accounts at a run with their access level; entitlement_from is the run
-- that wrote the current version of the access level (0: none).
SELECT a.descriptor, a.kind, a.display_name, a.principal_name, a.mail, a.origin, a.origin_id,
       coalesce(e.account_license_type, '') AS account_license_type,
       coalesce(e.licensing_source, '') AS licensing_source,
       coalesce(e.valid_from, 0) AS entitlement_from
FROM accounts a
LEFT JOIN entitlements e ON e.descriptor = a.descriptor AND e.valid_from <= :run AND (e.valid_to IS NULL OR e.valid_to > :run)
WHERE +a.valid_from <= :run AND (a.valid_to IS NULL OR a.valid_to > :run);

-- name: apply_groups
SELECT g.descriptor, g.display_name, g.principal_name, g.subject_type, g.scope_id, g.origin_id, g.entra_managed,
       coalesce(p.name, '') AS project
FROM groups g
LEFT JOIN projects p ON p.id = g.scope_id AND p.valid_from <= :run AND (p.valid_to IS NULL OR p.valid_to > :run)
WHERE +g.valid_from <= :run AND (g.valid_to IS NULL OR g.valid_to > :run);

-- name: apply_membership
-- One direct membership at a run, with the run its version began.
SELECT valid_from FROM memberships
WHERE container = :container AND member = :member AND valid_from <= :run AND (valid_to IS NULL OR valid_to > :run);

-- name: apply_containers
-- The groups a subject is a direct member of at a run.
SELECT container FROM memberships
WHERE member = :member AND valid_from <= :run AND (valid_to IS NULL OR valid_to > :run);

-- name: apply_pipeline_item
-- Whether what a done revoke-pat, remove-role or close-pipelines took away
-- is still there at a run (a row: not yet seen gone). :member is the
-- journal's subject, :container its target.
SELECT 1 FROM personal_access_tokens
WHERE :action = 'revoke-pat' AND owner = :member AND authorization_id = :container
  AND valid_from <= :run AND (valid_to IS NULL OR valid_to > :run)
UNION ALL
SELECT 1 FROM resource_roles r LEFT JOIN identity_keys k ON k.storage_key = r.identity
WHERE :action = 'remove-role' AND r.scope || '/' || r.resource_id = :container AND (r.identity = :member OR k.descriptor = :member)
  AND r.inherited = 0 AND r.valid_from <= :run AND (r.valid_to IS NULL OR r.valid_to > :run)
UNION ALL
SELECT 1 FROM pipeline_permissions
WHERE :action = 'close-pipelines' AND project_id || '/' || resource_type || '/' || resource_id = :container AND all_pipelines = 1
  AND valid_from <= :run AND (valid_to IS NULL OR valid_to > :run);

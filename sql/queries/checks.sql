-- Read queries of checks and approvals on pipeline resources
-- (internal/export/pipelines_checks.go, cmd/exporter show checks). :run is
-- a complete run.

-- name: export_resource_checks
-- One row per check; resource_name from the resource's own table;
-- approver_names names each approver (its identity id when the store
-- cannot resolve it), '; '-separated.
SELECT c.project_id, coalesce(p.name, '') AS project, c.resource_type, c.resource_id,
       coalesce(CASE c.resource_type
         WHEN 'endpoint' THEN (SELECT s.name FROM service_connections s WHERE s.project_id = c.project_id AND s.id = c.resource_id
                               AND s.valid_from <= :run AND (s.valid_to IS NULL OR s.valid_to > :run))
         WHEN 'environment' THEN (SELECT e.name FROM environments e WHERE e.project_id = c.project_id AND CAST(e.id AS TEXT) = c.resource_id
                               AND e.valid_from <= :run AND (e.valid_to IS NULL OR e.valid_to > :run))
         WHEN 'variablegroup' THEN (SELECT v.name FROM variable_groups v WHERE v.project_id = c.project_id AND CAST(v.id AS TEXT) = c.resource_id
                               AND v.valid_from <= :run AND (v.valid_to IS NULL OR v.valid_to > :run))
         WHEN 'queue' THEN (SELECT q.name FROM agent_queues q WHERE q.project_id = c.project_id AND CAST(q.id AS TEXT) = c.resource_id
                               AND q.valid_from <= :run AND (q.valid_to IS NULL OR q.valid_to > :run))
       END, '') AS resource_name,
       c.check_id, c.type, c.display_name, c.is_disabled, c.timeout, c.approvers,
       (SELECT group_concat(coalesce(a.display_name, nullif(g.principal_name, ''), g.display_name, j.value), '; ')
          FROM json_each(c.approvers) j
          LEFT JOIN identity_keys k ON k.storage_key = j.value
          LEFT JOIN accounts a ON a.descriptor = k.descriptor AND a.valid_from <= :run AND (a.valid_to IS NULL OR a.valid_to > :run)
          LEFT JOIN groups g ON g.descriptor = k.descriptor AND g.valid_from <= :run AND (g.valid_to IS NULL OR g.valid_to > :run)) AS approver_names,
       c.min_required_approvers, c.created_by
FROM resource_checks c
LEFT JOIN projects p ON p.id = c.project_id AND p.valid_from <= :run AND (p.valid_to IS NULL OR p.valid_to > :run)
WHERE c.valid_from <= :run AND (c.valid_to IS NULL OR c.valid_to > :run)
ORDER BY c.project_id, c.resource_type, c.resource_id, c.check_id;

-- name: export_approved_resources
-- The resources with an enabled Approval check at :run; and a row
-- ('', 'read', '') when the run's store holds pipeline permissions, which
-- need the same scope as checks (Build (Read)): without it the checks were
-- not read and no resource may be said to lack an approval.
SELECT project_id, resource_type, resource_id FROM resource_checks
WHERE type = 'Approval' AND is_disabled = 0 AND valid_from <= :run AND (valid_to IS NULL OR valid_to > :run)
UNION ALL
SELECT '', 'read', '' WHERE EXISTS (SELECT 1 FROM pipeline_permissions WHERE valid_from <= :run AND (valid_to IS NULL OR valid_to > :run));

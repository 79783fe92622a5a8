-- Read queries behind internal/export: one per exported table that comes
-- straight from the store. :run is a complete run; a row belongs to its
-- snapshot when valid_from <= :run AND (valid_to IS NULL OR valid_to > :run).
-- Result columns carry the names of the export table's columns (the Go side
-- matches them by name); a column the table lacks is a helper for Go.
-- Rows come in key order, so the same run always gives the same files.

-- name: export_accounts
-- Accounts with their entitlement (empty when none) and last access (NULL:
-- never). entitled tells an account without an entitlement from one with
-- empty values. direct_groups is counted in Go from export_members, which
-- streams where a GROUP BY here would sort 600k memberships in memory.
SELECT a.descriptor, a.kind, a.display_name, a.principal_name, a.mail, a.subject_type, a.meta_type,
       a.origin, a.origin_id, a.domain, a.directory_alias, a.application_id, a.deleted_in_origin,
       coalesce(e.license_display_name, '') AS license_display_name,
       coalesce(e.account_license_type, '') AS account_license_type,
       coalesce(e.licensing_source, '') AS licensing_source,
       coalesce(e.msdn_license_type, '') AS msdn_license_type,
       coalesce(e.assignment_source, '') AS assignment_source,
       coalesce(e.group_rule, '') AS group_rule,
       coalesce(e.status, '') AS status,
       nullif(e.date_created, '') AS date_created,
       d.last_accessed,
       e.descriptor IS NOT NULL AS entitled
FROM accounts a
LEFT JOIN entitlements e ON e.descriptor = a.descriptor AND e.valid_from <= :run AND (e.valid_to IS NULL OR e.valid_to > :run)
LEFT JOIN access_dates d ON d.descriptor = a.descriptor
WHERE a.valid_from <= :run AND (a.valid_to IS NULL OR a.valid_to > :run)
ORDER BY a.descriptor;

-- name: export_members
-- The member of every direct membership, for counting direct groups.
SELECT member FROM memberships
WHERE valid_from <= :run AND (valid_to IS NULL OR valid_to > :run);

-- name: export_groups
SELECT g.descriptor, g.display_name, g.principal_name, g.subject_type, g.scope_id,
       coalesce(p.name, '') AS project, g.origin, g.origin_id, g.domain, g.mail, g.description, g.entra_managed,
       (SELECT count(*) FROM memberships m WHERE m.container = g.descriptor
          AND m.valid_from <= :run AND (m.valid_to IS NULL OR m.valid_to > :run)) AS direct_members
FROM groups g
LEFT JOIN projects p ON p.id = g.scope_id AND p.valid_from <= :run AND (p.valid_to IS NULL OR p.valid_to > :run)
WHERE g.valid_from <= :run AND (g.valid_to IS NULL OR g.valid_to > :run)
ORDER BY g.descriptor;

-- name: export_group_rules
SELECT r.group_descriptor, coalesce(g.principal_name, '') AS group_name,
       r.account_license_type, r.licensing_source, r.msdn_license_type, r.license_display_name, r.status
FROM group_rules r
LEFT JOIN groups g ON g.descriptor = r.group_descriptor AND g.valid_from <= :run AND (g.valid_to IS NULL OR g.valid_to > :run)
WHERE r.valid_from <= :run AND (r.valid_to IS NULL OR r.valid_to > :run)
ORDER BY r.group_descriptor;

-- name: export_memberships
-- Names and kinds come from the accounts and groups already read.
SELECT m.container AS group_descriptor, m.member AS member_descriptor
FROM memberships m
WHERE m.valid_from <= :run AND (m.valid_to IS NULL OR m.valid_to > :run)
ORDER BY m.container, m.member;

-- name: export_projects
-- Repositories and teams are counted by grouping (no index leads from a
-- project to them).
SELECT p.id, p.name, p.description, p.state, p.visibility,
       coalesce(r.n, 0) AS repositories, coalesce(t.n, 0) AS teams
FROM projects p
LEFT JOIN (SELECT project_id, count(*) AS n FROM repositories
           WHERE valid_from <= :run AND (valid_to IS NULL OR valid_to > :run) GROUP BY project_id) r ON r.project_id = p.id
LEFT JOIN (SELECT project_id, count(*) AS n FROM teams
           WHERE valid_from <= :run AND (valid_to IS NULL OR valid_to > :run) GROUP BY project_id) t ON t.project_id = p.id
WHERE p.valid_from <= :run AND (p.valid_to IS NULL OR p.valid_to > :run)
ORDER BY p.id;

-- name: export_teams
SELECT t.id, t.name, t.project_id, coalesce(p.name, '') AS project, t.description,
       (SELECT count(*) FROM team_members tm WHERE tm.team_id = t.id
          AND tm.valid_from <= :run AND (tm.valid_to IS NULL OR tm.valid_to > :run)) AS members,
       (SELECT count(*) FROM team_members tm WHERE tm.team_id = t.id AND tm.is_admin = 1
          AND tm.valid_from <= :run AND (tm.valid_to IS NULL OR tm.valid_to > :run)) AS admins
FROM teams t
LEFT JOIN projects p ON p.id = t.project_id AND p.valid_from <= :run AND (p.valid_to IS NULL OR p.valid_to > :run)
WHERE t.valid_from <= :run AND (t.valid_to IS NULL OR t.valid_to > :run)
ORDER BY t.id;

-- name: export_team_members
-- Team, project and member names come from the tables already read.
SELECT tm.team_id, tm.member, tm.is_admin
FROM team_members tm
WHERE tm.valid_from <= :run AND (tm.valid_to IS NULL OR tm.valid_to > :run)
ORDER BY tm.team_id, tm.member;

-- name: export_repositories
SELECT r.id, r.name, r.project_id, coalesce(p.name, '') AS project, r.default_branch, r.is_disabled
FROM repositories r
LEFT JOIN projects p ON p.id = r.project_id AND p.valid_from <= :run AND (p.valid_to IS NULL OR p.valid_to > :run)
WHERE r.valid_from <= :run AND (r.valid_to IS NULL OR r.valid_to > :run)
ORDER BY r.id;

-- name: export_previous_run
-- The newest complete run of the same organization before :run (none: no
-- row).
SELECT id FROM runs
WHERE status = 'complete' AND id < :run AND org = (SELECT org FROM runs WHERE id = :run)
ORDER BY id DESC LIMIT 1;

-- name: export_applied_decisions
-- The actions 'exporter apply' journaled for the organization of :run that
-- finished (or, interrupted, started) after the run :since started (0: from
-- the beginning) and before :run started. Instants compare as times.
SELECT j.plan_id, j.seq, j.action, j.subject, j.subject_name, j.target, j.target_name, j.status,
       j.http_status, j.error, j.approver, j.ticket, j.reason, j.source_file, j.source_sheet, j.source_row,
       p.packet_id, coalesce(p.packet_run, 0) AS packet_run, j.started_at, j.finished_at
FROM apply_journal j
JOIN apply_plans p ON p.id = j.plan_id
WHERE p.org = (SELECT org FROM runs WHERE id = :run)
  AND julianday(coalesce(j.finished_at, j.started_at)) <= julianday((SELECT started_at FROM runs WHERE id = :run))
  AND julianday(coalesce(j.finished_at, j.started_at)) > coalesce(julianday((SELECT started_at FROM runs WHERE id = :since)), 0)
ORDER BY julianday(coalesce(j.finished_at, j.started_at)), j.plan_id, j.seq;

-- Read queries behind 'exporter show'. :run is a complete run; a row belongs
-- to its snapshot when valid_from <= :run AND (valid_to IS NULL OR valid_to > :run).
-- Whole-table reads write +valid_from so SQLite scans instead of walking the
-- valid_from index; counts come from one grouped pass, not a subquery per row.

-- name: accounts
-- Accounts of one kind (:kind = user, service_account or service_principal)
-- with their access level and last access.
SELECT a.descriptor, a.display_name, a.principal_name, a.mail, a.subject_type, a.origin, a.origin_id,
       a.meta_type, a.domain, a.application_id, a.deleted_in_origin,
       coalesce(e.license_display_name, '') AS license, coalesce(e.account_license_type, '') AS account_license_type,
       coalesce(e.licensing_source, '') AS licensing_source, coalesce(e.msdn_license_type, '') AS msdn_license_type,
       coalesce(e.status, '') AS status, coalesce(e.assignment_source, '') AS assignment_source,
       coalesce(e.group_rule, '') AS group_rule, coalesce(e.date_created, '') AS date_created,
       coalesce(d.last_accessed, 'never') AS last_accessed,
       coalesce(mc.n, 0) AS direct_groups
FROM accounts a
LEFT JOIN entitlements e ON e.descriptor = a.descriptor AND e.valid_from <= :run AND (e.valid_to IS NULL OR e.valid_to > :run)
LEFT JOIN access_dates d ON d.descriptor = a.descriptor
LEFT JOIN (SELECT member, count(*) AS n FROM memberships
           WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run) GROUP BY member) mc ON mc.member = a.descriptor
WHERE a.kind = :kind AND +a.valid_from <= :run AND (a.valid_to IS NULL OR a.valid_to > :run)
ORDER BY a.display_name, a.descriptor;

-- name: groups
SELECT g.descriptor, g.display_name, g.principal_name, g.subject_type, g.scope_id,
       coalesce(p.name, '') AS project, g.origin, g.origin_id, g.entra_managed, g.description,
       coalesce(mc.n, 0) AS direct_members
FROM groups g
LEFT JOIN projects p ON p.id = g.scope_id AND p.valid_from <= :run AND (p.valid_to IS NULL OR p.valid_to > :run)
LEFT JOIN (SELECT container, count(*) AS n FROM memberships
           WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run) GROUP BY container) mc ON mc.container = g.descriptor
WHERE +g.valid_from <= :run AND (g.valid_to IS NULL OR g.valid_to > :run)
ORDER BY g.principal_name, g.descriptor;

-- name: memberships
SELECT m.container AS group_descriptor, coalesce(g.principal_name, '') AS group_name,
       m.member AS member_descriptor,
       coalesce(a.display_name, mg.principal_name, '') AS member_name,
       coalesce(a.kind, CASE WHEN mg.descriptor IS NOT NULL THEN 'group' END, '') AS member_kind
FROM memberships m
LEFT JOIN groups g   ON g.descriptor = m.container  AND g.valid_from <= :run AND (g.valid_to IS NULL OR g.valid_to > :run)
LEFT JOIN accounts a ON a.descriptor = m.member     AND a.valid_from <= :run AND (a.valid_to IS NULL OR a.valid_to > :run)
LEFT JOIN groups mg  ON mg.descriptor = m.member    AND mg.valid_from <= :run AND (mg.valid_to IS NULL OR mg.valid_to > :run)
WHERE +m.valid_from <= :run AND (m.valid_to IS NULL OR m.valid_to > :run)
ORDER BY group_name, m.container, member_name, m.member;

-- name: members
-- Direct members of one group (:group is its descriptor).
SELECT m.member AS descriptor,
       coalesce(a.display_name, mg.display_name, '') AS display_name,
       coalesce(a.principal_name, mg.principal_name, '') AS principal_name,
       coalesce(a.kind, CASE WHEN mg.descriptor IS NOT NULL THEN 'group' END, '') AS kind
FROM memberships m
LEFT JOIN accounts a ON a.descriptor = m.member  AND a.valid_from <= :run AND (a.valid_to IS NULL OR a.valid_to > :run)
LEFT JOIN groups mg  ON mg.descriptor = m.member AND mg.valid_from <= :run AND (mg.valid_to IS NULL OR mg.valid_to > :run)
WHERE m.container = :group AND m.valid_from <= :run AND (m.valid_to IS NULL OR m.valid_to > :run)
ORDER BY kind, display_name, m.member;

-- name: access
-- Every group one subject (:subject) belongs to, directly or through nested
-- groups, with the shortest path, named as internal/diff names it
-- ("direct", or "via [P]\A → [P]\B", ending at the group; groups by
-- principal name, else display name, else descriptor). Cycles end because
-- a group already on the path is not entered again.
WITH RECURSIVE up(grp, depth, path, names) AS (
    SELECT m.container, 1, m.container,
           coalesce(nullif(g.principal_name, ''), nullif(g.display_name, ''), m.container)
    FROM memberships m
    LEFT JOIN groups g ON g.descriptor = m.container AND g.valid_from <= :run AND (g.valid_to IS NULL OR g.valid_to > :run)
    WHERE m.member = :subject AND m.valid_from <= :run AND (m.valid_to IS NULL OR m.valid_to > :run)
  UNION
    SELECT m.container, up.depth + 1, up.path || char(31) || m.container,
           up.names || char(31) || coalesce(nullif(g.principal_name, ''), nullif(g.display_name, ''), m.container)
    FROM up JOIN memberships m ON m.member = up.grp
    LEFT JOIN groups g ON g.descriptor = m.container AND g.valid_from <= :run AND (g.valid_to IS NULL OR g.valid_to > :run)
    WHERE m.valid_from <= :run AND (m.valid_to IS NULL OR m.valid_to > :run)
      AND up.depth < 64 AND instr(char(31) || up.path || char(31), char(31) || m.container || char(31)) = 0
),
best AS (SELECT grp, min(depth) AS depth FROM up GROUP BY grp),
chosen AS (
    SELECT b.grp, b.depth,
           (SELECT path FROM up WHERE up.grp = b.grp AND up.depth = b.depth ORDER BY path LIMIT 1) AS path
    FROM best b
)
SELECT c.grp AS group_descriptor, coalesce(g.principal_name, '') AS group_name,
       CASE c.depth WHEN 1 THEN 'direct' ELSE 'nested' END AS via,
       CASE c.depth WHEN 1 THEN 'direct'
            ELSE 'via ' || replace((SELECT names FROM up WHERE up.grp = c.grp AND up.path = c.path), char(31), ' → ') END AS path,
       replace(c.path, char(31), ' > ') AS path_descriptors
FROM chosen c
LEFT JOIN groups g ON g.descriptor = c.grp AND g.valid_from <= :run AND (g.valid_to IS NULL OR g.valid_to > :run)
ORDER BY c.depth, group_name;

-- name: find_subject
-- Candidates for a subject named on the command line: by descriptor,
-- principal name, mail or display name.
SELECT descriptor, display_name, principal_name FROM accounts
WHERE valid_from <= :run AND (valid_to IS NULL OR valid_to > :run)
  AND (descriptor = :name OR lower(principal_name) = lower(:name) OR lower(mail) = lower(:name) OR display_name = :name)
UNION ALL
SELECT descriptor, display_name, principal_name FROM groups
WHERE valid_from <= :run AND (valid_to IS NULL OR valid_to > :run)
  AND (descriptor = :name OR lower(principal_name) = lower(:name) OR display_name = :name);

-- name: projects
SELECT p.id, p.name, p.description, p.state, p.visibility,
       coalesce(rc.n, 0) AS repositories, coalesce(tc.n, 0) AS teams
FROM projects p
LEFT JOIN (SELECT project_id, count(*) AS n FROM repositories
           WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run) GROUP BY project_id) rc ON rc.project_id = p.id
LEFT JOIN (SELECT project_id, count(*) AS n FROM teams
           WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run) GROUP BY project_id) tc ON tc.project_id = p.id
WHERE +p.valid_from <= :run AND (p.valid_to IS NULL OR p.valid_to > :run)
ORDER BY p.name;

-- name: teams
SELECT t.id, t.name, t.project_id, coalesce(p.name, '') AS project, t.description,
       coalesce(mc.n, 0) AS members, coalesce(mc.admins, 0) AS admins
FROM teams t
LEFT JOIN projects p ON p.id = t.project_id AND p.valid_from <= :run AND (p.valid_to IS NULL OR p.valid_to > :run)
LEFT JOIN (SELECT team_id, count(*) AS n, sum(is_admin) AS admins FROM team_members
           WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run) GROUP BY team_id) mc ON mc.team_id = t.id
WHERE +t.valid_from <= :run AND (t.valid_to IS NULL OR t.valid_to > :run)
ORDER BY project, t.name;

-- name: repos
SELECT r.id, r.name, r.project_id, coalesce(p.name, '') AS project, r.default_branch, r.is_disabled
FROM repositories r
LEFT JOIN projects p ON p.id = r.project_id AND p.valid_from <= :run AND (p.valid_to IS NULL OR p.valid_to > :run)
WHERE +r.valid_from <= :run AND (r.valid_to IS NULL OR r.valid_to > :run)
ORDER BY project, r.name;

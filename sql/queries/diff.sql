-- Read queries behind internal/diff. :from and :to are complete runs, :from
-- older; a row belongs to the snapshot of run R when
-- valid_from <= R AND (valid_to IS NULL OR valid_to > R).
--
-- The per-table version reads (rows whose valid_from or valid_to lies in
-- (:from, :to]) are built in Go from snapshot.Tables, column names only,
-- so a new attribute needs no second edit; the queries here are the
-- others.

-- name: diff_labels
-- Names of the accounts in :accounts, the groups in :groups and the teams
-- in :teams (JSON arrays of descriptors and ids) at run :from or :to;
-- at_to says which.
SELECT descriptor AS id, kind, display_name, principal_name,
       valid_from <= :to AND (valid_to IS NULL OR valid_to > :to) AS at_to
FROM accounts
WHERE descriptor IN (SELECT value FROM json_each(:accounts))
  AND ((valid_from <= :from AND (valid_to IS NULL OR valid_to > :from))
    OR (valid_from <= :to AND (valid_to IS NULL OR valid_to > :to)))
UNION ALL
SELECT descriptor, 'group', display_name, principal_name,
       valid_from <= :to AND (valid_to IS NULL OR valid_to > :to)
FROM groups
WHERE descriptor IN (SELECT value FROM json_each(:groups))
  AND ((valid_from <= :from AND (valid_to IS NULL OR valid_to > :from))
    OR (valid_from <= :to AND (valid_to IS NULL OR valid_to > :to)))
UNION ALL
SELECT id, 'team', name, '',
       valid_from <= :to AND (valid_to IS NULL OR valid_to > :to)
FROM teams
WHERE id IN (SELECT value FROM json_each(:teams))
  AND ((valid_from <= :from AND (valid_to IS NULL OR valid_to > :from))
    OR (valid_from <= :to AND (valid_to IS NULL OR valid_to > :to)));

-- name: diff_labels_all
-- The names of every account, group and team at run :from or :to, for a
-- diff that names so many that one pass beats looking each one up.
SELECT descriptor AS id, kind, display_name, principal_name,
       valid_from <= :to AND (valid_to IS NULL OR valid_to > :to) AS at_to
FROM accounts
WHERE (+valid_from <= :from AND (valid_to IS NULL OR valid_to > :from))
   OR (+valid_from <= :to AND (valid_to IS NULL OR valid_to > :to))
UNION ALL
SELECT descriptor, 'group', display_name, principal_name,
       valid_from <= :to AND (valid_to IS NULL OR valid_to > :to)
FROM groups
WHERE (+valid_from <= :from AND (valid_to IS NULL OR valid_to > :from))
   OR (+valid_from <= :to AND (valid_to IS NULL OR valid_to > :to))
UNION ALL
SELECT id, 'team', name, '',
       valid_from <= :to AND (valid_to IS NULL OR valid_to > :to)
FROM teams
WHERE (+valid_from <= :from AND (valid_to IS NULL OR valid_to > :from))
   OR (+valid_from <= :to AND (valid_to IS NULL OR valid_to > :to));

-- name: diff_dormant
-- Accounts that may have become dormant between :from and :to, with what
-- dormancy is judged on at each run; Go decides. last_accessed is the
-- latest known value (access_dates is not versioned; sync writes a row,
-- NULL for never, for every entitlement it reads). Candidates: a last
-- access between the two cutoffs (compared to the second, a superset), no
-- access ever (judged on the entitlement's creation), or an entitlement
-- new or changed between the runs. Cost: one pass over access_dates, no
-- join for the accounts that are not candidates.
WITH candidates(descriptor) AS (
    SELECT descriptor FROM access_dates
    WHERE last_accessed IS NULL OR substr(last_accessed, 1, 19) BETWEEN :cutoff_from AND :cutoff_to
  UNION
    SELECT descriptor FROM entitlements WHERE valid_from > :from AND valid_from <= :to
)
SELECT e.descriptor, coalesce(d.last_accessed, '') AS last_accessed, e.date_created,
       ea.descriptor IS NOT NULL AS had_entitlement, coalesce(ea.date_created, '') AS date_created_before
FROM candidates c
JOIN entitlements e ON e.descriptor = c.descriptor
      AND e.valid_from <= :to AND (e.valid_to IS NULL OR e.valid_to > :to)
LEFT JOIN access_dates d ON d.descriptor = e.descriptor
LEFT JOIN entitlements ea ON ea.descriptor = e.descriptor
      AND ea.valid_from <= :from AND (ea.valid_to IS NULL OR ea.valid_to > :from);

-- The queries below read a whole snapshot. The unary + on valid_from
-- keeps SQLite from walking the valid_from index (which covers nearly
-- every row of a recent run) and looking each row up again: a plain scan
-- of the table is 3 to 4 times faster.

-- name: diff_memberships_at
-- Every direct membership of run :run, for the effective-access closure.
SELECT container, member FROM memberships
WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run);

-- name: diff_memberships_across
-- Every direct membership of run :from or run :to, saying which.
SELECT container, member,
       valid_from <= :from AND (valid_to IS NULL OR valid_to > :from) AS at_from,
       valid_from <= :to AND (valid_to IS NULL OR valid_to > :to) AS at_to
FROM memberships
WHERE +valid_from <= :to AND (valid_to IS NULL OR valid_to > :from);

-- name: diff_groups_at
-- Groups of run :run with their names, for grant paths.
SELECT descriptor, display_name, principal_name FROM groups
WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run);

-- name: diff_account_kinds_at
-- The kind of every account of run :run.
SELECT descriptor, kind FROM accounts
WHERE +valid_from <= :run AND (valid_to IS NULL OR valid_to > :run);

-- Read queries behind a packet's report.html (internal/export).

-- name: report_versions
-- Row versions of accounts, access levels and direct memberships opened
-- (opened = 1) and closed (opened = 0) at each run: the trend over the
-- store's runs is summed from them in Go, two scans of each table instead
-- of one count per run.
SELECT 'accounts' AS tbl, valid_from AS run, 1 AS opened, count(*) AS n FROM accounts GROUP BY valid_from
UNION ALL
SELECT 'accounts', valid_to, 0, count(*) FROM accounts WHERE valid_to IS NOT NULL GROUP BY valid_to
UNION ALL
SELECT 'entitlements', valid_from, 1, count(*) FROM entitlements GROUP BY valid_from
UNION ALL
SELECT 'entitlements', valid_to, 0, count(*) FROM entitlements WHERE valid_to IS NOT NULL GROUP BY valid_to
UNION ALL
SELECT 'memberships', valid_from, 1, count(*) FROM memberships GROUP BY valid_from
UNION ALL
SELECT 'memberships', valid_to, 0, count(*) FROM memberships WHERE valid_to IS NOT NULL GROUP BY valid_to;

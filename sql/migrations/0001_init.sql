-- Runs: one sync of one organization. A run is visible once committed as
-- 'complete'; a run left 'running' by a crash is marked 'failed' by the next
-- sync.
CREATE TABLE runs (
    id                INTEGER PRIMARY KEY,
    org               TEXT    NOT NULL,
    kind              TEXT    NOT NULL CHECK (kind IN ('full', 'incremental')),
    status            TEXT    NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
    started_at        TEXT    NOT NULL,            -- RFC 3339, UTC, this machine's clock
    finished_at       TEXT,
    snapshot_time     TEXT,                        -- the service's clock when the run started
    audit_cursor_time TEXT,                        -- newest Audit Log entry covered by this run
    audit_cursor_id   TEXT,
    api_requests      INTEGER NOT NULL DEFAULT 0,
    requests_by_area  TEXT    NOT NULL DEFAULT '{}', -- JSON object: area -> requests
    retries           INTEGER NOT NULL DEFAULT 0,
    rows_seen         INTEGER NOT NULL DEFAULT 0,
    versions_added    INTEGER NOT NULL DEFAULT 0,
    versions_closed   INTEGER NOT NULL DEFAULT 0,
    note              TEXT    NOT NULL DEFAULT '', -- why this kind of run, fallbacks, warnings
    error             TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX runs_org ON runs (org, id);

-- Human accounts, service accounts and service principals (kind tells them apart).
CREATE TABLE accounts (
    descriptor        TEXT    NOT NULL,
    valid_from        INTEGER NOT NULL,
    valid_to          INTEGER,
    hash              INTEGER NOT NULL,
    kind              TEXT    NOT NULL,  -- user, service_account, service_principal
    subject_type      TEXT    NOT NULL,  -- descriptor prefix: aad, msa, svc, aadsp, …
    origin            TEXT    NOT NULL,
    origin_id         TEXT    NOT NULL,
    principal_name    TEXT    NOT NULL,
    mail              TEXT    NOT NULL,
    display_name      TEXT    NOT NULL,
    domain            TEXT    NOT NULL,
    meta_type         TEXT    NOT NULL,  -- member, guest, application, managedIdentity
    directory_alias   TEXT    NOT NULL,
    application_id    TEXT    NOT NULL,
    deleted_in_origin INTEGER NOT NULL,  -- 1: gone from Entra ID but still in the organization
    PRIMARY KEY (descriptor, valid_from)
) WITHOUT ROWID;

-- Access levels (licenses) of accounts.
CREATE TABLE entitlements (
    descriptor           TEXT    NOT NULL,
    valid_from           INTEGER NOT NULL,
    valid_to             INTEGER,
    hash                 INTEGER NOT NULL,
    account_license_type TEXT    NOT NULL,  -- express (Basic), stakeholder, advanced, …
    licensing_source     TEXT    NOT NULL,  -- account, msdn, …
    msdn_license_type    TEXT    NOT NULL,
    license_display_name TEXT    NOT NULL,
    status               TEXT    NOT NULL,  -- active, disabled, pending, …
    assignment_source    TEXT    NOT NULL,  -- unknown (direct) or groupRule
    group_rule           TEXT    NOT NULL,  -- descriptor of the rule's group when assigned by a rule
    date_created         TEXT    NOT NULL,
    PRIMARY KEY (descriptor, valid_from)
) WITHOUT ROWID;

-- Azure DevOps groups (vssgp) and Entra groups (aadgp), organization or project level.
CREATE TABLE groups (
    descriptor     TEXT    NOT NULL,
    valid_from     INTEGER NOT NULL,
    valid_to       INTEGER,
    hash           INTEGER NOT NULL,
    subject_type   TEXT    NOT NULL,  -- vssgp or aadgp
    scope_id       TEXT    NOT NULL,  -- project id, '' at organization level
    origin         TEXT    NOT NULL,
    origin_id      TEXT    NOT NULL,
    display_name   TEXT    NOT NULL,
    principal_name TEXT    NOT NULL,
    description    TEXT    NOT NULL,
    domain         TEXT    NOT NULL,
    mail           TEXT    NOT NULL,
    entra_managed  INTEGER NOT NULL,  -- 1: membership is managed in Entra ID
    PRIMARY KEY (descriptor, valid_from)
) WITHOUT ROWID;

-- Group rules: groups whose members get an access level.
CREATE TABLE group_rules (
    group_descriptor     TEXT    NOT NULL,
    valid_from           INTEGER NOT NULL,
    valid_to             INTEGER,
    hash                 INTEGER NOT NULL,
    account_license_type TEXT    NOT NULL,
    licensing_source     TEXT    NOT NULL,
    msdn_license_type    TEXT    NOT NULL,
    license_display_name TEXT    NOT NULL,
    status               TEXT    NOT NULL,
    PRIMARY KEY (group_descriptor, valid_from)
) WITHOUT ROWID;

-- Direct memberships: member (account or group) in container (group).
CREATE TABLE memberships (
    container  TEXT    NOT NULL,
    member     TEXT    NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_to   INTEGER,
    hash       INTEGER NOT NULL,
    PRIMARY KEY (container, member, valid_from)
) WITHOUT ROWID;

CREATE TABLE projects (
    id          TEXT    NOT NULL,
    valid_from  INTEGER NOT NULL,
    valid_to    INTEGER,
    hash        INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    visibility  TEXT    NOT NULL,
    PRIMARY KEY (id, valid_from)
) WITHOUT ROWID;

CREATE TABLE teams (
    id          TEXT    NOT NULL,
    valid_from  INTEGER NOT NULL,
    valid_to    INTEGER,
    hash        INTEGER NOT NULL,
    project_id  TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    PRIMARY KEY (id, valid_from)
) WITHOUT ROWID;

CREATE TABLE team_members (
    team_id    TEXT    NOT NULL,
    member     TEXT    NOT NULL,  -- descriptor
    valid_from INTEGER NOT NULL,
    valid_to   INTEGER,
    hash       INTEGER NOT NULL,
    is_admin   INTEGER NOT NULL,
    PRIMARY KEY (team_id, member, valid_from)
) WITHOUT ROWID;

CREATE TABLE repositories (
    id             TEXT    NOT NULL,
    valid_from     INTEGER NOT NULL,
    valid_to       INTEGER,
    hash           INTEGER NOT NULL,
    project_id     TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    default_branch TEXT    NOT NULL,
    is_disabled    INTEGER NOT NULL,
    PRIMARY KEY (id, valid_from)
) WITHOUT ROWID;

-- Current rows are found through the primary key (key columns, then
-- valid_from: a key has few versions); diffs by the run that opened or
-- closed a version; access queries walk memberships upwards by member, at
-- any run (so the index is not limited to current rows).
CREATE INDEX memberships_member ON memberships (member, container);

CREATE INDEX accounts_from     ON accounts     (valid_from);
CREATE INDEX accounts_to       ON accounts     (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX entitlements_from ON entitlements (valid_from);
CREATE INDEX entitlements_to   ON entitlements (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX groups_from       ON groups       (valid_from);
CREATE INDEX groups_to         ON groups       (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX group_rules_from  ON group_rules  (valid_from);
CREATE INDEX group_rules_to    ON group_rules  (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX memberships_from  ON memberships  (valid_from);
CREATE INDEX memberships_to    ON memberships  (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX projects_from     ON projects     (valid_from);
CREATE INDEX projects_to       ON projects     (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX teams_from        ON teams        (valid_from);
CREATE INDEX teams_to          ON teams        (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX team_members_from ON team_members (valid_from);
CREATE INDEX team_members_to   ON team_members (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX repositories_from ON repositories (valid_from);
CREATE INDEX repositories_to   ON repositories (valid_to) WHERE valid_to IS NOT NULL;

-- Volatile facts, not versioned: the last access of an account is updated in
-- place so that a daily sync does not write a new version of every user.
CREATE TABLE access_dates (
    descriptor    TEXT PRIMARY KEY,
    last_accessed TEXT,              -- NULL: never (the service's 0001-01-01)
    run           INTEGER NOT NULL   -- run that last changed it
) WITHOUT ROWID;

-- Identity keys: how one subject is named across the APIs. Stable facts,
-- kept across runs so they are not resolved again.
CREATE TABLE identity_keys (
    descriptor  TEXT PRIMARY KEY,    -- subject descriptor (Graph)
    storage_key TEXT NOT NULL DEFAULT '',  -- identity id / storage key (audit entries, entitlements)
    legacy      TEXT NOT NULL DEFAULT ''   -- legacy identity descriptor (Identities API, ACLs)
) WITHOUT ROWID;
CREATE INDEX identity_keys_storage ON identity_keys (storage_key);
CREATE INDEX identity_keys_legacy  ON identity_keys (legacy);

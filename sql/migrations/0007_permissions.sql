-- Permissions: the security namespaces of the organization, and the access
-- control lists of the namespaces a sync reads (Project, Git Repositories,
-- Build, ReleaseManagement and Identity by default). Temporal like every
-- entity table: a row changes version only when its content changes.

-- The namespaces the service lists; synced = 1 for those whose ACLs the
-- run read.
CREATE TABLE security_namespaces (
    namespace_id TEXT    NOT NULL,
    valid_from   INTEGER NOT NULL,
    valid_to     INTEGER,
    hash         INTEGER NOT NULL,
    name         TEXT    NOT NULL,  -- Git Repositories, Project, …
    separator    TEXT    NOT NULL,  -- token separator: '/', ':', '\', or '' for flat namespaces
    synced       INTEGER NOT NULL,
    PRIMARY KEY (namespace_id, valid_from)
) WITHOUT ROWID;

-- The permission bits of each namespace, named as the namespace names them.
CREATE TABLE namespace_actions (
    namespace_id TEXT    NOT NULL,
    bit          INTEGER NOT NULL,
    valid_from   INTEGER NOT NULL,
    valid_to     INTEGER,
    hash         INTEGER NOT NULL,
    name         TEXT    NOT NULL,  -- GenericContribute, ForcePush, PolicyExempt, …
    display_name TEXT    NOT NULL,  -- Contribute, Force push (…), Bypass policies when pushing, …
    PRIMARY KEY (namespace_id, bit, valid_from)
) WITHOUT ROWID;

-- Access control lists: a token with entries of its own, or with
-- inheritance turned off.
CREATE TABLE acls (
    namespace_id TEXT    NOT NULL,
    token        TEXT    NOT NULL,  -- as the service answers it: repoV2/{project}/{repo}, …
    valid_from   INTEGER NOT NULL,
    valid_to     INTEGER,
    hash         INTEGER NOT NULL,
    inherit      INTEGER NOT NULL,  -- inheritPermissions: 0 stops inheritance from the parent token
    PRIMARY KEY (namespace_id, token, valid_from)
) WITHOUT ROWID;

-- Access control entries. identity is the legacy identity descriptor the
-- service names it by; the subject it resolves to is in identity_keys
-- (legacy → descriptor), a stable fact kept outside the runs, so an entry
-- for an identity nobody can resolve (removed from the organization, or
-- from another directory) is kept as it is, and flagged when read.
-- effective_* and inherited_* are the service's extended information for
-- this identity alone (its own entries up the token hierarchy).
CREATE TABLE aces (
    namespace_id    TEXT    NOT NULL,
    token           TEXT    NOT NULL,
    identity        TEXT    NOT NULL,
    valid_from      INTEGER NOT NULL,
    valid_to        INTEGER,
    hash            INTEGER NOT NULL,
    allow           INTEGER NOT NULL,  -- bit masks of the namespace's actions
    deny            INTEGER NOT NULL,
    effective_allow INTEGER NOT NULL,
    effective_deny  INTEGER NOT NULL,
    inherited_allow INTEGER NOT NULL,
    inherited_deny  INTEGER NOT NULL,
    PRIMARY KEY (namespace_id, token, identity, valid_from)
) WITHOUT ROWID;

CREATE INDEX security_namespaces_from ON security_namespaces (valid_from);
CREATE INDEX security_namespaces_to   ON security_namespaces (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX namespace_actions_from   ON namespace_actions   (valid_from);
CREATE INDEX namespace_actions_to     ON namespace_actions   (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX acls_from                ON acls                (valid_from);
CREATE INDEX acls_to                  ON acls                (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX aces_from                ON aces                (valid_from);
CREATE INDEX aces_to                  ON aces                (valid_to) WHERE valid_to IS NOT NULL;
-- Who has entries where: the permissions of one subject.
CREATE INDEX aces_identity            ON aces                (identity) WHERE valid_to IS NULL;

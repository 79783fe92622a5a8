-- Pipeline resources and personal access tokens: service connections,
-- variable groups, environments, agent pools and queues, the security roles
-- assigned on them, their pipeline permissions, and the tokens of every
-- user (Token Admin). Temporal like every entity table. Never a secret: no
-- connection credential, variable value or token value is stored.
-- Project-scoped tables lead with project_id and are read and replaced a
-- project at a time; tokens an owner at a time.

-- Service connections, one row per project that sees the connection (its
-- own project and those it is shared with).
CREATE TABLE service_connections (
    project_id        TEXT    NOT NULL,
    id                TEXT    NOT NULL,
    valid_from        INTEGER NOT NULL,
    valid_to          INTEGER,
    hash              INTEGER NOT NULL,
    name              TEXT    NOT NULL,
    type              TEXT    NOT NULL,  -- azurerm, github, dockerregistry, kubernetes, generic, …
    auth_scheme       TEXT    NOT NULL,  -- ServicePrincipal, WorkloadIdentityFederation, UsernamePassword, …
    url               TEXT    NOT NULL,
    subscription_id   TEXT    NOT NULL,  -- Azure connections: the subscription they reach
    subscription_name TEXT    NOT NULL,
    tenant_id         TEXT    NOT NULL,
    is_shared         INTEGER NOT NULL,  -- shared with other projects
    created_by        TEXT    NOT NULL,  -- identity id (storage key) of the creator
    is_ready          INTEGER NOT NULL,
    PRIMARY KEY (project_id, id, valid_from)
) WITHOUT ROWID;

-- Variable groups: whether they hold secrets and whether a Key Vault backs
-- them; never a value.
CREATE TABLE variable_groups (
    project_id     TEXT    NOT NULL,
    id             INTEGER NOT NULL,
    valid_from     INTEGER NOT NULL,
    valid_to       INTEGER,
    hash           INTEGER NOT NULL,
    name           TEXT    NOT NULL,
    type           TEXT    NOT NULL,  -- Vsts, or AzureKeyVault
    key_vault      TEXT    NOT NULL,  -- the linked vault's name, or ''
    variables      INTEGER NOT NULL,  -- how many variables
    secrets        INTEGER NOT NULL,  -- how many of them are secret
    created_by     TEXT    NOT NULL,
    PRIMARY KEY (project_id, id, valid_from)
) WITHOUT ROWID;

CREATE TABLE environments (
    project_id     TEXT    NOT NULL,
    id             INTEGER NOT NULL,
    valid_from     INTEGER NOT NULL,
    valid_to       INTEGER,
    hash           INTEGER NOT NULL,
    name           TEXT    NOT NULL,
    created_by     TEXT    NOT NULL,
    PRIMARY KEY (project_id, id, valid_from)
) WITHOUT ROWID;

-- Agent pools (organization) and the queues that bring them to projects.
CREATE TABLE agent_pools (
    id             INTEGER NOT NULL,
    valid_from     INTEGER NOT NULL,
    valid_to       INTEGER,
    hash           INTEGER NOT NULL,
    name           TEXT    NOT NULL,
    is_hosted      INTEGER NOT NULL,
    owner          TEXT    NOT NULL,
    PRIMARY KEY (id, valid_from)
) WITHOUT ROWID;

CREATE TABLE agent_queues (
    project_id     TEXT    NOT NULL,
    id             INTEGER NOT NULL,
    valid_from     INTEGER NOT NULL,
    valid_to       INTEGER,
    hash           INTEGER NOT NULL,
    name           TEXT    NOT NULL,
    pool_id        INTEGER NOT NULL,
    PRIMARY KEY (project_id, id, valid_from)
) WITHOUT ROWID;

-- Security roles on those resources (securityroles API). resource_id is
-- the API's: {project}_{connection}, {project}${group}, {project}_{env},
-- {project}_{queue}, or a pool's id (project_id ''). identity is the
-- identity id (storage key); identity_keys maps it to a descriptor.
CREATE TABLE resource_roles (
    project_id     TEXT    NOT NULL,
    scope          TEXT    NOT NULL,  -- distributedtask.serviceendpointrole, …
    resource_id    TEXT    NOT NULL,
    identity       TEXT    NOT NULL,
    valid_from     INTEGER NOT NULL,
    valid_to       INTEGER,
    hash           INTEGER NOT NULL,
    role           TEXT    NOT NULL,  -- Reader, User, Creator, Administrator, …
    inherited      INTEGER NOT NULL,  -- 1: from the project (or organization) level
    PRIMARY KEY (project_id, scope, resource_id, identity, valid_from)
) WITHOUT ROWID;

-- Pipeline permissions: whether any pipeline may use the resource, and
-- which pipelines (definition ids, comma-separated, ascending) may.
CREATE TABLE pipeline_permissions (
    project_id     TEXT    NOT NULL,
    resource_type  TEXT    NOT NULL,  -- endpoint, variablegroup, environment, queue
    resource_id    TEXT    NOT NULL,
    valid_from     INTEGER NOT NULL,
    valid_to       INTEGER,
    hash           INTEGER NOT NULL,
    all_pipelines  INTEGER NOT NULL,
    pipelines      TEXT    NOT NULL,
    PRIMARY KEY (project_id, resource_type, resource_id, valid_from)
) WITHOUT ROWID;

-- Personal access tokens of each user (Token Admin); never the token.
CREATE TABLE personal_access_tokens (
    owner            TEXT    NOT NULL,  -- the user's descriptor
    authorization_id TEXT    NOT NULL,
    valid_from       INTEGER NOT NULL,
    valid_to         INTEGER,
    hash             INTEGER NOT NULL,
    display_name     TEXT    NOT NULL,
    scope            TEXT    NOT NULL,  -- space-separated; app_token is full access
    token_valid_from TEXT    NOT NULL,  -- RFC 3339
    token_valid_to   TEXT    NOT NULL,
    is_global        INTEGER NOT NULL,  -- valid in every organization (no target accounts)
    PRIMARY KEY (owner, authorization_id, valid_from)
) WITHOUT ROWID;

CREATE INDEX service_connections_from    ON service_connections    (valid_from);
CREATE INDEX service_connections_to      ON service_connections    (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX variable_groups_from        ON variable_groups        (valid_from);
CREATE INDEX variable_groups_to          ON variable_groups        (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX environments_from           ON environments           (valid_from);
CREATE INDEX environments_to             ON environments           (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX agent_pools_from            ON agent_pools            (valid_from);
CREATE INDEX agent_pools_to              ON agent_pools            (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX agent_queues_from           ON agent_queues           (valid_from);
CREATE INDEX agent_queues_to             ON agent_queues           (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX resource_roles_from         ON resource_roles         (valid_from);
CREATE INDEX resource_roles_to           ON resource_roles         (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX pipeline_permissions_from   ON pipeline_permissions   (valid_from);
CREATE INDEX pipeline_permissions_to     ON pipeline_permissions   (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX personal_access_tokens_from ON personal_access_tokens (valid_from);
CREATE INDEX personal_access_tokens_to   ON personal_access_tokens (valid_to) WHERE valid_to IS NOT NULL;

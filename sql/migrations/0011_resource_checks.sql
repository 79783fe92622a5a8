-- Checks and approvals on pipeline resources (Check Configurations -
-- Query): one row per check configuration on a service connection
-- (endpoint), environment, agent queue or variable group. Temporal like
-- every entity table; read and replaced a project and a kind of resource
-- at a time, as pipeline_permissions. Never a secret: a check's settings
-- hold approvers and task inputs, and only the approvers are kept.
CREATE TABLE resource_checks (
    project_id             TEXT    NOT NULL,
    resource_type          TEXT    NOT NULL,  -- endpoint, environment, queue, variablegroup
    resource_id            TEXT    NOT NULL,  -- as pipeline_permissions names it
    check_id               INTEGER NOT NULL,
    valid_from             INTEGER NOT NULL,
    valid_to               INTEGER,
    hash                   INTEGER NOT NULL,
    type                   TEXT    NOT NULL,  -- Approval, Task Check, ExclusiveLock, …
    display_name           TEXT    NOT NULL,  -- a task check's name (Business Hours, Branch control, …); '' for an Approval
    is_disabled            INTEGER NOT NULL,
    timeout                INTEGER NOT NULL,  -- minutes
    approvers              TEXT    NOT NULL,  -- JSON array of identity ids (storage keys), sorted; '[]' for other types
    min_required_approvers INTEGER NOT NULL,  -- 0: all of them
    created_by             TEXT    NOT NULL,  -- identity id of who configured it
    PRIMARY KEY (project_id, resource_type, resource_id, check_id, valid_from)
) WITHOUT ROWID;

CREATE INDEX resource_checks_from ON resource_checks (valid_from);
CREATE INDEX resource_checks_to   ON resource_checks (valid_to) WHERE valid_to IS NOT NULL;

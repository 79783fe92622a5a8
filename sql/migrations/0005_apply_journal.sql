-- Apply: the plans built from reviewers' decisions (a filled-in review
-- packet or a plan file), and the journal of every action carried out
-- against Azure DevOps. An action's row is written before the call and
-- again after it, so a crash or kill never repeats a finished action: the
-- next apply of the same plan skips what is done and re-reads live what
-- was started but not recorded as done.
CREATE TABLE apply_plans (
    id         TEXT    PRIMARY KEY,         -- hash of the plan's actions: the same decisions make the same plan
    org        TEXT    NOT NULL,
    base_run   INTEGER NOT NULL,            -- newest complete run when the plan was built
    packet_run INTEGER,                     -- run of the review packet the decisions came from; NULL for a plan file
    packet_id  TEXT    NOT NULL DEFAULT '',
    source     TEXT    NOT NULL,            -- the decisions file
    actions    INTEGER NOT NULL,            -- actions in the plan
    actor      TEXT    NOT NULL DEFAULT '', -- descriptor of the identity that applied it
    created_at TEXT    NOT NULL,
    applied_at TEXT                         -- the last time it was applied (started)
) WITHOUT ROWID;
CREATE INDEX apply_plans_org ON apply_plans (org, created_at);

CREATE TABLE apply_journal (
    plan_id      TEXT    NOT NULL,
    seq          INTEGER NOT NULL,          -- the action's number in the plan
    source_file  TEXT    NOT NULL,          -- where the decision came from
    source_sheet TEXT    NOT NULL,          -- sheet or table ('' for a plan file)
    source_row   INTEGER NOT NULL,          -- row number as a spreadsheet shows it (header = 1)
    action       TEXT    NOT NULL,          -- grant, revoke, add-account, set-license, remove-account
    subject      TEXT    NOT NULL,          -- descriptor (principal name for an account being added)
    subject_name TEXT    NOT NULL,
    target       TEXT    NOT NULL,          -- group descriptor, license, or ''
    target_name  TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('started', 'done', 'skipped', 'noop', 'refused', 'failed')),
    http_status  INTEGER NOT NULL DEFAULT 0, -- of the last call, 0 when none was made
    error        TEXT    NOT NULL DEFAULT '', -- why it failed, was refused, skipped or a no-op
    approver     TEXT    NOT NULL DEFAULT '',
    ticket       TEXT    NOT NULL DEFAULT '',
    reason       TEXT    NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0, -- how many times it was started
    started_at   TEXT    NOT NULL,
    finished_at  TEXT,                       -- NULL while started
    PRIMARY KEY (plan_id, seq)
) WITHOUT ROWID;
CREATE INDEX apply_journal_finished ON apply_journal (finished_at);

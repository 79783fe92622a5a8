-- Audit Log entries a run has already handled near its cursor. The next
-- incremental run reads a little before the cursor (late entries arrive
-- out of order) and skips the entries listed here.
CREATE TABLE audit_seen (
    run      INTEGER NOT NULL,
    entry_id TEXT    NOT NULL,
    PRIMARY KEY (run, entry_id)
) WITHOUT ROWID;

-- An incremental run closes every membership of a subject that left the
-- organization; team members are found by member like memberships are.
CREATE INDEX team_members_member ON team_members (member, team_id);

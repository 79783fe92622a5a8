-- Sweeps of what changes in Microsoft Entra ID without an Azure DevOps
-- Audit Log entry (Entra group members, accounts deleted in Entra): one row
-- per run that swept, written in the run's transaction, so a failed run
-- leaves none. An incremental run that skips the sweep (--entra-sweep)
-- says in its note when the last one was.
CREATE TABLE entra_sweeps (
    run        INTEGER PRIMARY KEY,
    swept_at   TEXT    NOT NULL,            -- the service's clock when the sweep read
    method     TEXT    NOT NULL,            -- full sync, or how an incremental run swept
    delta_link TEXT    NOT NULL DEFAULT ''  -- Microsoft Graph deltaLink to resume from, if any
);

-- A store belongs to one organization, known by its id from the service
-- (the instance id of _apis/connectionData), not by the text of its URL:
-- the same organization reached by another URL is still the same one, and
-- another organization under a reused URL is caught. One row at most.
CREATE TABLE organization (
    only_one INTEGER PRIMARY KEY CHECK (only_one = 1),
    id       TEXT NOT NULL,  -- the service's instance id
    name     TEXT NOT NULL,  -- for people: the last segment of the URL
    url      TEXT NOT NULL,  -- the URL of the latest sync (never with credentials)
    bound_at TEXT NOT NULL
);

-- The organization id each run read (empty for runs from before stores
-- were bound to one organization).
ALTER TABLE runs ADD COLUMN org_id TEXT NOT NULL DEFAULT '';

-- Who holds the writer lock (an advisory lock on the database file itself),
-- so that a second writer can say who it waits for. Informational only: the
-- lock is the kernel's, and a holder that died leaves a stale row here.
CREATE TABLE writer (
    only_one INTEGER PRIMARY KEY CHECK (only_one = 1),
    holder   TEXT NOT NULL
);

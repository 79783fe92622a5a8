-- Whether the store passed SQLite's quick_check (every page read) before
-- the run committed. The check runs on every full sync and once a day
-- (CheckEvery), not on every commit; see Store.Check.
ALTER TABLE runs ADD COLUMN integrity_checked INTEGER NOT NULL DEFAULT 0;

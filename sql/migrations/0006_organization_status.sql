-- An organization the credential no longer sees (deleted, or its access
-- lost) is recorded as gone, never dropped: its history stays, and a later
-- sync that finds it again clears the mark.
ALTER TABLE organization ADD COLUMN gone_at TEXT;
ALTER TABLE organization ADD COLUMN gone_reason TEXT NOT NULL DEFAULT '';

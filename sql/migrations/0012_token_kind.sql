-- SSH keys beside personal access tokens, and the cadence of token sweeps.
--
-- Token Admin lists a user's SSH public keys through the same request as
-- their personal access tokens, with isPublic=true ("Set to false for PAT
-- tokens and true for SSH tokens", tokenAdmin 7.1). They are kept in the
-- same table, told apart by kind; rows written before this migration are
-- tokens. kind is part of the table's key in the code (never changes for an
-- authorization id), so existing rows keep their content hash and no row
-- gets a new version from this migration. Never the key itself: the
-- service's publicData (the public key) is not stored.
ALTER TABLE personal_access_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'pat'; -- pat, or ssh

-- Sweeps of every user's tokens and SSH keys (one Token Admin listing of
-- each kind per user): one row per run that swept, written in the run's
-- transaction, so a failed run leaves none. A full sync within the cadence
-- (--token-sweep) carries the rows forward unchanged and says in its note
-- when the last sweep was; between sweeps the Audit Log's Token entries
-- keep the table.
CREATE TABLE token_sweeps (
    run      INTEGER PRIMARY KEY,
    swept_at TEXT    NOT NULL,  -- the service's clock when the sweep began
    owners   INTEGER NOT NULL,  -- users whose tokens were listed
    requests INTEGER NOT NULL   -- Token Admin requests the sweep made
);

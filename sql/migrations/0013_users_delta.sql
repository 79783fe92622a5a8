-- The Microsoft Graph users deltaLink(s) an Entra sweep resumes from, next
-- to the groups one (delta_link): with it, an incremental run re-reads by
-- subject lookup only the Entra-backed accounts the users delta names
-- (deleted, disabled or renamed in Entra ID) instead of every one. Same
-- format as delta_link: up to two links, one a line, each with the time it
-- was issued. '' for sweeps without Microsoft Graph (or User.Read.All).
ALTER TABLE entra_sweeps ADD COLUMN users_delta_link TEXT NOT NULL DEFAULT '';

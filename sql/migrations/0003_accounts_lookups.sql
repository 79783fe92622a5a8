-- An incremental run looks accounts up by principal name (the Audit Log
-- names users so) and lists the service accounts to find those gone;
-- only current rows are looked up.
CREATE INDEX accounts_principal    ON accounts (principal_name) WHERE valid_to IS NULL;
CREATE INDEX accounts_subject_type ON accounts (subject_type)   WHERE valid_to IS NULL;

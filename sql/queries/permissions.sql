-- Named queries of permissions (see internal/snapshot and internal/diff).

-- name: acl_tokens_under
-- The tokens of the current ACLs of a namespace at a token and below it
-- (:token '' = all), compared without case as the service compares tokens.
SELECT token FROM acls
WHERE namespace_id = :ns AND valid_to IS NULL
  AND (:token = '' OR lower(token) = lower(:token)
       OR substr(lower(token), 1, length(:token) + length(:sep)) = lower(:token) || lower(:sep))
ORDER BY token;

-- Token names are unique among active tokens, so `lnurld token revoke NAME`
-- means one token. Earlier duplicates keep working under a name that shows
-- their id.
UPDATE api_tokens SET name = name || ' (' || id || ')'
WHERE revoked_at IS NULL
  AND id NOT IN (
    SELECT MIN(id) FROM api_tokens WHERE revoked_at IS NULL GROUP BY name
  );
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;

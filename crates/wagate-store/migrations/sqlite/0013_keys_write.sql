-- `keys:write` (§20) lets a key manage its account's keys. New accounts give it to their first
-- key; accounts made before it existed get it on their first key too, when that key still
-- holds every other scope (as a first key is made), so their dashboard can manage keys.
UPDATE api_keys SET scopes = scopes || ',keys:write'
WHERE scopes = 'instances:read,instances:write,messages:read,messages:write,contacts:read,webhooks:read,webhooks:write'
  AND created_at = (SELECT MIN(k.created_at) FROM api_keys k WHERE k.account_id = api_keys.account_id);

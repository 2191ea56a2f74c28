-- API keys with a lifecycle (issue 21): who owns a key and who made it, when it expires, when it
-- was last used (written at most once a minute per key and API instance, not per request), and
-- which key made each redemption (only that key or an admin key may cancel it).
alter table api_keys
  add column owner text,
  add column created_by text,
  add column expires_at timestamptz,
  add column last_used_at timestamptz;
update api_keys set owner = name where owner is null;
alter table api_keys alter column owner set not null;

-- The key that made the redemption: a plain id (also in the ledger entry's detail, from which the
-- rows written before this migration take it), so it can travel in a ledger command.
alter table api_redemptions add column key_id text;
update api_redemptions r
   set key_id = e.detail ->> 'keyId'
  from ledger_entries e
 where e.entry_id = r.entry_id and r.key_id is null;

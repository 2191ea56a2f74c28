-- The marketers' console (docs/adr/0018-marketers-console.md, issue 23).

-- A `marketer` scope beside read/redeem/admin: it reads what `read` reads and may submit rule-set
-- drafts from the console. The old check was created inline, so it has the default name.
alter table api_keys drop constraint api_keys_scopes_check;
alter table api_keys add constraint api_keys_scopes_check
  check (scopes <@ array['read', 'redeem', 'admin', 'marketer']::text[] and cardinality(scopes) > 0);

-- The API's read model of loyalty.rules.v1: every publication it has read, one row per
-- (rule set, version). The topic is compacted (it keeps at least the latest version per rule
-- set); this table keeps every version the API ever saw. Written only by the API's rules
-- consumer (src/rules-read-model.ts); the rules engine's rule_sets table is never read.
create table api_rule_sets (
  rule_set_id text not null,
  version int not null,
  published_at timestamptz not null,
  publisher text,
  key_id text,
  signed boolean not null,
  checksum text not null,
  rule_set jsonb not null,
  topic_partition int not null,
  topic_offset bigint not null,
  read_at timestamptz not null default now(),
  primary key (rule_set_id, version)
);

-- Drafts submitted from the console by a marketer key, for a publisher to sign and publish
-- (`loyalty rules publish`): the console does not sign or publish (ADR 18, "not yet").
create table api_rule_drafts (
  draft_id text primary key,
  rule_set_id text not null,
  version int not null,
  rule_set jsonb not null,
  submitted_by text not null,
  submitted_at timestamptz not null default now()
);
create index api_rule_drafts_set on api_rule_drafts (rule_set_id, submitted_at desc);

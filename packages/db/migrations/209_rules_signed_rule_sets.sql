-- Signed rule-set publications (issue 21; services/rules-engine/src/rulesets/feed.ts).
-- rule_sets is the engine's store of accepted versions. A version now prices from effective_at:
-- the engine's own stream time when it first accepted the publication, stored here so a
-- restart or another instance uses the same time (the first instance to store it decides).
-- published_at keeps the publisher's claimed time, for the audit trail only.
alter table rule_sets add column effective_at timestamptz;
update rule_sets set effective_at = published_at;
alter table rule_sets alter column effective_at set not null;
alter table rule_sets
  add column publisher text,
  add column key_id text,
  add column digest text,
  add column signature bytea,
  add column source_partition int,
  add column source_offset bigint,
  add column accepted_at timestamptz;

-- Publications the engine refused (dead-lettered once, whichever instance read them first; a
-- restart re-reads the topic and must not dead-letter them again).
create table rule_set_rejections (
  source_topic text not null,
  source_partition int not null,
  source_offset bigint not null,
  rule_set_id text,
  version int,
  reason_code text not null,
  reason text not null,
  publisher text,
  key_id text,
  rejected_at timestamptz not null default now(),
  primary key (source_topic, source_partition, source_offset)
);

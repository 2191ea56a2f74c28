-- Tier evaluator (services/tier-evaluator, docs/adr/0007-tier-evaluator-event-time.md).

-- One row per member: the policy's TierState plus the orders still inside the window.
-- due_at (nextDueAt of the state) is the durable due-time index; Redis holds a hot copy.
create table tier_members (
  member_id text primary key,
  -- Partition of the input topic the member's events arrive on: its clock and due index.
  partition int not null,
  -- Optimistic concurrency: every write names the version it replaces.
  version bigint not null,
  tier text not null,
  due_at bigint,
  record jsonb not null,
  updated_at timestamptz not null default now()
);
create index tier_members_due on tier_members (partition, due_at) where due_at is not null;

-- Event-time mode: each input partition's clock (highest event time applied), stored in the
-- same transaction as the states it produced, so a restart resumes exactly where it stopped.
create table tier_partitions (
  topic text not null,
  partition int not null,
  clock bigint,
  primary key (topic, partition)
);

-- Every tier change, written with the state change that caused it; relayed to
-- loyalty.tiers.v1 in seq order (see the ADR: the relay's position is committed to Kafka in the
-- same transaction as the records). Writers serialise on an advisory lock so seq has no gaps
-- at commit time.
create sequence tier_outbox_seq;
create table tier_outbox (
  seq bigint primary key,
  event_id text not null unique,
  member_id text not null,
  effective_at bigint not null,
  payload jsonb not null,
  created_at timestamptz not null default now()
);

-- The programme the evaluator runs (for the CLI) and how its clock works.
create table tier_settings (
  key text primary key,
  value jsonb not null,
  updated_at timestamptz not null default now()
);

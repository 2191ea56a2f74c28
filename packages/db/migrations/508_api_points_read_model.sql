-- The member API's read model of loyalty.points.v1 (ADR 16 step 3): balances, lots with their
-- expiry and the history, from the rules engine's records, never from its ledger tables
-- (ledger_*). Written only by the API's points consumer (src/points-read-model.ts, group
-- <SERVICE_NAME>.points, from the beginning), one transaction per batch with one set-based
-- statement per table; offsets are committed after it, so a record read again after a crash is
-- ignored by its event id (= the ledger entry id): only entries inserted now move lots and balances.

-- Every entry, in the order the API read it (seq: a member's records are in one partition, in
-- ledger order, so seq orders a member's history as the ledger does; the history's cursor).
create table api_points_entries (
  seq bigint generated always as identity,
  entry_id text primary key,
  member_id text not null,
  kind text not null,
  points bigint not null,
  balance_after bigint not null,
  rule_id text,
  rule_version int,
  rule_set_id text,
  rule_set_version int,
  reason text,
  source_event_id text not null,
  order_id text,
  event_time timestamptz not null,
  recorded_at timestamptz not null default now(),
  topic_partition int not null,
  topic_offset bigint not null
);
create index api_points_entries_member on api_points_entries (member_id, seq);
create index api_points_entries_time on api_points_entries (event_time);

-- Every lot an entry opened; remaining = its points plus what later entries took or put back.
-- expires_at is null only for a lot whose opening record predates the lots field.
create table api_points_lots (
  lot_id text primary key,
  member_id text not null,
  points bigint not null,
  remaining bigint not null,
  earned_at timestamptz,
  expires_at timestamptz
);
create index api_points_lots_open on api_points_lots (member_id, expires_at) where remaining > 0;

-- One row per member: the balance after its latest entry read; debt = the sum over its entries of
-- (lots moved - points), what a clawback took beyond the lots and a positive adjustment paid off.
create table api_points_balances (
  member_id text primary key,
  balance bigint not null,
  debt bigint not null default 0,
  last_entry_id text not null,
  event_time timestamptz not null,
  topic_partition int not null,
  topic_offset bigint not null
) with (fillfactor = 80);

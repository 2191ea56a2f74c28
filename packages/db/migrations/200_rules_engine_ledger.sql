-- Rules engine (services/rules-engine): member facts, rule-set history, points ledger.
-- Owned by the rules engine; the member API (services/api) reads and extends the ledger
-- tables under the invariants documented in services/rules-engine/README.md.

-- Every published rule-set version ever seen. loyalty.rules.v1 is compacted (only the latest
-- version per id survives), so this is the durable history that replays price with.
create table rule_sets (
  rule_set_id text not null,
  version int not null,
  published_at timestamptz not null,
  checksum text not null,
  rule_set_json jsonb not null,
  primary key (rule_set_id, version)
);

-- One row per input event the engine applied (purchases, member events, churn alerts): the
-- idempotency key, and which rule-set version priced it.
create table rules_priced_events (
  event_id text primary key,
  member_id text not null,
  event_kind text not null,
  rule_set_id text not null,
  rule_set_version int not null,
  event_time timestamptz not null
);

-- Per-member facts, maintained from the member's own ordered streams.
create table rules_members (
  member_id text primary key,
  enrolled_at timestamptz,
  enrolment_event_id text,
  birthday text,
  referrer_member_id text,
  segment text,
  at_risk boolean not null default false,
  order_count int not null default 0,
  lifetime_spend_minor bigint not null default 0,
  last_purchase_at timestamptz,
  -- @loyalty/tiers TierState (schemaVersion 1), the same policy the tier evaluator runs.
  tier_state jsonb,
  -- { campaignId: { memberCount, memberPoints } }
  counters jsonb not null default '{}'::jsonb
);

-- Orders that earned, with what each award paid and how much was clawed back since.
create table rules_orders (
  order_key text primary key,            -- source || '/' || order id
  member_id text not null,
  purchase_event_id text not null,
  event_time timestamptz not null,
  amount_minor bigint not null,
  base_amount_minor bigint not null,
  rule_set_id text not null,
  rule_set_version int not null,
  refunded_base_minor bigint not null default 0,
  -- RecordedAward[] (+ entryId, lotId): rule id/version, points, pricing, reversedPoints.
  awards jsonb not null
);

-- Budget counters, one row per rule id (all versions share it). Locked (FOR UPDATE) by a batch
-- that awards or is denied by a budgeted rule, so concurrent instances never overspend.
create table rules_budgets (
  rule_id text primary key,
  used bigint not null default 0 check (used >= 0)
);

-- Per-member cap counters: scope 'day' (day = programme-local YYYY-MM-DD) or 'campaign' (day = '').
create table rules_usage (
  member_id text not null,
  rule_id text not null,
  scope text not null check (scope in ('day', 'campaign')),
  day text not null,
  points bigint not null check (points >= 0),
  primary key (member_id, rule_id, scope, day)
);

create table rules_campaign_triggers (
  event_id text primary key,             -- CampaignTriggered.eventId
  member_id text not null,
  campaign_id text not null,
  rule_id text not null,
  rule_version int not null,
  rule_set_version int not null,
  source_event_id text not null,
  event_time timestamptz not null,
  reward_json text not null,
  seq bigserial not null,
  unique (source_event_id, rule_id)
);

-- The ledger. Append-only: rows are never updated or deleted.
create table ledger_entries (
  entry_id text primary key,             -- = PointsMovement.eventId, derived from the natural key
  seq bigserial not null unique,         -- commit order
  member_id text not null,
  kind text not null check (kind in ('earn', 'reverse', 'redeem', 'expire', 'adjust')),
  points bigint not null,                -- signed change of the balance
  balance_after bigint not null,
  rule_id text,
  rule_version int,
  rule_set_id text,
  rule_set_version int,
  source_event_id text not null,
  order_id text,
  reason text,
  event_time timestamptz not null,
  -- earn: {awardKind, recipient, requestedPoints, trimmedBy, pricing};
  -- reverse: {awardEntryId, claimed, shortfall}
  detail jsonb,
  recorded_at timestamptz not null default now(),
  constraint ledger_entries_sign check (
    (kind = 'earn' and points > 0) or (kind in ('reverse', 'redeem', 'expire') and points <= 0) or kind = 'adjust'
  ),
  -- Idempotency: one entry per (source event, rule, kind, member); a replay never pays twice.
  constraint ledger_entries_natural_key unique nulls not distinct (source_event_id, rule_id, kind, member_id)
);
create index ledger_entries_member on ledger_entries (member_id, seq);

-- Earned points as lots that expire. remaining = points - what reversals, redemptions and
-- expiry took from it (see ledger_lot_movements).
create table ledger_lots (
  lot_id text primary key,               -- = the earn entry's entry_id
  member_id text not null,
  points bigint not null check (points > 0),
  remaining bigint not null check (remaining >= 0 and remaining <= points),
  earned_at timestamptz not null,
  expires_at timestamptz not null
);
create index ledger_lots_open on ledger_lots (member_id, expires_at) where remaining > 0;
create index ledger_lots_expiring on ledger_lots (expires_at) where remaining > 0;

-- Which entry moved how many points in or out of which lot (append-only).
create table ledger_lot_movements (
  entry_id text not null references ledger_entries (entry_id),
  lot_id text not null references ledger_lots (lot_id),
  points bigint not null,                -- + into the lot (earn), - out of it
  primary key (entry_id, lot_id)
);
create index ledger_lot_movements_lot on ledger_lot_movements (lot_id);

-- Current balance per member, updated in the same transaction as the entries:
-- balance = sum(entries.points) = sum(open lots.remaining) - debt.
create table ledger_balances (
  member_id text primary key,
  balance bigint not null,
  -- Points owed beyond the lots (only with ALLOW_NEGATIVE_BALANCE=true).
  debt bigint not null default 0 check (debt >= 0),
  -- Clawbacks that could not be reversed because the balance was too low (informational).
  shortfall bigint not null default 0 check (shortfall >= 0),
  updated_at timestamptz not null default now()
);

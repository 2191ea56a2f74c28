-- Member API (services/api, docs/adr/0009-member-api-ledger-writes-and-outbox.md).
-- The API writes the rules engine's ledger tables (200_*.sql) under the invariants of
-- services/rules-engine/README.md; the tables below are its own.

-- API keys: only the sha256 of the secret is stored; the key itself is shown once at creation.
create table api_keys (
  key_id text primary key,
  key_hash bytea not null,
  name text not null,
  scopes text[] not null check (scopes <@ array['read', 'redeem', 'admin']::text[] and cardinality(scopes) > 0),
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);

-- Members closed through the API (the member topics have no closing event yet).
create table api_member_status (
  member_id text primary key,
  status text not null check (status in ('closed')),
  reason text not null,
  changed_at timestamptz not null default now()
);

-- Idempotency: the first successful answer to (API key, Idempotency-Key), replayed on retries.
create table api_requests (
  key_id text not null,
  idempotency_key text not null,
  operation text not null,
  request_hash text not null,
  status_code int not null,
  response jsonb not null,
  created_at timestamptz not null default now(),
  primary key (key_id, idempotency_key)
);

-- Redemptions and their cancellation. The lots a redemption took from are its ledger entry's
-- ledger_lot_movements; a cancellation puts exactly those points back.
create table api_redemptions (
  redemption_id text primary key,
  member_id text not null,
  entry_id text not null references ledger_entries (entry_id),
  points bigint not null check (points > 0),
  order_id text,
  event_time timestamptz not null,
  cancel_entry_id text references ledger_entries (entry_id),
  cancelled_at timestamptz
);
create index api_redemptions_member on api_redemptions (member_id);

-- Transactional outbox for loyalty.points.v1: written in the same transaction as the ledger
-- rows, relayed in seq order, marked sent after the broker's acknowledgement.
create table api_outbox (
  seq bigserial primary key,
  event_id text not null unique,
  member_id text not null,
  event_time bigint not null,
  payload jsonb not null,
  created_at timestamptz not null default now(),
  sent_at timestamptz
);
create index api_outbox_unsent on api_outbox (seq) where sent_at is null;

-- The API's event-time clock (the watermark of its purchases consumer), so that the CLI's
-- `member show` computes the summary at the same "now" as the API.
create table api_clock (
  id int primary key check (id = 1),
  now_ms bigint not null,
  mode text not null,
  updated_at timestamptz not null default now()
);

-- The member API no longer writes the ledger (ADR 16 step 3): redemptions, cancellations and
-- adjustments are commands on loyalty.ledger-commands.v1, applied by the rules engine, whose
-- replies (loyalty.ledger-replies.v1) the API reads. Every command the API sent and the answer it
-- gave once the reply came are here: the status URL (GET /v1/ledger-commands/{commandId}) reads
-- them, and an answer given after a 202 is found here.
create table if not exists api_ledger_commands (
  command_id      text primary key,
  key_id          text not null,
  idempotency_key text,
  member_id       text not null,
  operation       text not null check (operation in ('redeem', 'cancel', 'adjust')),
  -- What the answer needs that the reply does not carry (orderId, reason, the redemption id).
  request         jsonb not null,
  http_status     int,
  response        jsonb,
  created_at      timestamptz not null default now(),
  replied_at      timestamptz
);

-- api_redemptions stays the API's own record of who made each redemption (REDEMPTION_FORBIDDEN),
-- written when the engine's reply accepts it; it no longer points into the engine's ledger.
alter table api_redemptions drop constraint if exists api_redemptions_entry_id_fkey;
alter table api_redemptions drop constraint if exists api_redemptions_cancel_entry_id_fkey;

-- ADR 9's outbox is gone: the engine publishes every ledger entry in its own Kafka transactions.
drop table if exists api_outbox;

-- Ledger commands (loyalty.ledger-commands.v1, ADR 16 step 3): the rules engine, the ledger's
-- only writer, records every command it applied with the reply it sent, by commandId, in the
-- batch's transaction. A command whose id is here is a duplicate: its reply is sent again and
-- nothing is written. A cancellation finds the redemption it names here (its reply lists the
-- lots it took), and an earlier accepted cancellation of it by redemption_id.
create table if not exists rules_ledger_commands (
  command_id    text primary key,
  member_id     text not null,
  type          text not null check (type in ('REDEEM', 'CANCEL_REDEMPTION', 'ADJUST')),
  status        text not null check (status in ('ACCEPTED', 'REJECTED')),
  redemption_id text,
  order_id      text,
  entry_id      text,
  reply         jsonb not null,
  applied_at    timestamptz not null,
  recorded_at   timestamptz not null default now()
);

create index if not exists rules_ledger_commands_cancels
  on rules_ledger_commands (redemption_id)
  where type = 'CANCEL_REDEMPTION' and status = 'ACCEPTED';

comment on table rules_ledger_commands is
  'rules engine: ledger commands applied (or refused), with the reply sent; dedup by command id (ADR 16 step 3)';

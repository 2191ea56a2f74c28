-- Effects are idempotent on a stable event id: a consumer records each event it applied in
-- the same transaction as the effect, so a redelivery after a crash is recognised and skipped.
create table processed_events (
  consumer text not null,
  event_id text not null,
  processed_at timestamptz not null default now(),
  primary key (consumer, event_id)
);

-- churn-alert: per-member purchase state, the event-time engine's position, fitted models and
-- the alerts it raised. Times are epoch milliseconds of event time (bigint), never wall clock.

-- Every canonical purchase event received, applied to member state only once the watermark has
-- passed it (so state at a refit or a due time is exactly "events before then").
create table churn_events (
  event_id text primary key,
  member_id text not null,
  event_time bigint not null,
  event jsonb not null,
  applied boolean not null default false,
  -- Arrived behind the engine's frontier: applied, but decisions already taken stand.
  late boolean not null default false
);
create index churn_events_pending on churn_events (event_time) where not applied;

create table churn_members (
  member_id text primary key,
  state jsonb not null,
  -- Summary of the state (all applied purchase days), for population fits without parsing JSON.
  x integer,
  first_day bigint,
  last_day bigint,
  purchase_days integer not null default 0,
  total_minor bigint not null default 0,
  repeat_minor bigint not null default 0,
  last_purchase_at bigint,
  last_event_time bigint,
  -- Alert episode: armed until alerted, re-armed by a purchase newer than any seen.
  armed boolean not null default true,
  alert_last_purchase_at bigint,
  last_alert_at bigint,
  -- Next alert-grid time at which P(alive) is below the threshold under the model in force.
  due_at bigint
);
create index churn_members_due on churn_members (due_at) where due_at is not null;

create table churn_fits (
  model_version text primary key,
  trigger text not null check (trigger in ('schedule', 'on-demand', 'as-of')),
  fitted_at bigint not null,
  calibration_end bigint not null,
  unit_ms bigint not null,
  r double precision not null,
  alpha double precision not null,
  a double precision not null,
  b double precision not null,
  log_likelihood double precision not null,
  members integer not null,
  groups integer not null,
  converged boolean not null,
  iterations integer not null,
  gg_p double precision,
  gg_q double precision,
  gg_gamma double precision,
  gg_log_likelihood double precision,
  gg_members integer,
  rfm jsonb not null,
  created_at timestamptz not null default now()
);
create index churn_fits_fitted_at on churn_fits (fitted_at);

-- One row: how far event time has been processed, when the next scheduled refit is due and
-- which model is in force.
create table churn_engine (
  id integer primary key check (id = 1),
  frontier bigint,
  next_refit_at bigint,
  model_version text references churn_fits (model_version)
);
insert into churn_engine (id) values (1);

-- Highest event time seen and next offset per input partition: the watermark survives a restart,
-- and "every partition consumed to its end" can be told without the in-memory clock.
create table churn_partitions (
  topic text not null,
  partition integer not null,
  max_event_time bigint,
  next_offset bigint not null,
  primary key (topic, partition)
);

create table churn_alerts (
  event_id text primary key,
  member_id text not null,
  event_time bigint not null,
  model_version text not null,
  record jsonb not null,
  -- The input message whose batch raised it; its redelivery re-emits it (exactly once with the
  -- batch's Kafka transaction). Null for alerts raised by a time tick (outbox, at least once).
  trigger_topic text,
  trigger_partition integer,
  trigger_offset bigint,
  published boolean not null default false
);
create index churn_alerts_member on churn_alerts (member_id, event_time);
create index churn_alerts_trigger on churn_alerts (trigger_topic, trigger_partition, trigger_offset)
  where trigger_topic is not null;
create index churn_alerts_unpublished on churn_alerts (event_time) where trigger_topic is null and not published;

-- `loyalty churn model --refit`: the service refits at its frontier on its next step.
create table churn_refit_requests (
  id bigserial primary key,
  requested_at timestamptz not null default now(),
  done_at bigint,
  model_version text
);

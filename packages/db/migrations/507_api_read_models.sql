-- The member API's read models of other services' topics (ADR 16 step 5, ADR 18): what the API
-- shows of the tier evaluator and of churn-alert arrives on loyalty.tiers.v1 and
-- loyalty.churn-alerts.v1, never from their tables (tier_*, churn_*). Each table is written only
-- by its consumer in the API (src/read-models.ts, groups <SERVICE_NAME>.tiers and
-- <SERVICE_NAME>.churn-alerts), one set-based insert per batch; offsets are committed after the
-- rows, so records read again after a crash are ignored by event id.

-- Every tier change read from loyalty.tiers.v1. A member's tier is the to_tier of its latest
-- change (effective_at, then offset: one member's records are in one partition, in order).
create table api_tier_changes (
  event_id text primary key,
  member_id text not null,
  from_tier text not null,
  to_tier text not null,
  direction text not null,
  reason text not null,
  effective_at timestamptz not null,
  topic_partition int not null,
  topic_offset bigint not null
);
create index api_tier_changes_member on api_tier_changes (member_id, effective_at desc, topic_offset desc);
create index api_tier_changes_time on api_tier_changes (effective_at);

-- Every churn alert read from loyalty.churn-alerts.v1 (frontier markers, which have no value,
-- are not stored).
create table api_churn_alerts (
  event_id text primary key,
  member_id text not null,
  event_time timestamptz not null,
  p_alive double precision not null,
  expected_value_minor bigint not null,
  currency text not null,
  segment text not null,
  action_level text not null,
  model_version text not null,
  topic_partition int not null,
  topic_offset bigint not null
);
create index api_churn_alerts_member on api_churn_alerts (member_id, event_time desc);
create index api_churn_alerts_time on api_churn_alerts (event_time);

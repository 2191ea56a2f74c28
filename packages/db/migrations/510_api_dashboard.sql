-- The dashboard's read model (ADR 18, issue 23 item 5): figures the console charts, kept by one
-- consumer of the API (src/dashboard-read-model.ts, group <SERVICE_NAME>.dashboard) that reads
-- loyalty.points.v1, loyalty.tiers.v1 and loyalty.churn-alerts.v1 from the beginning. It is the
-- only writer of these tables; nothing here is read from another service's tables.

-- Where the consumer is, per topic and partition, written in the transaction of the batch it
-- applied: a batch read again after a crash (offsets are committed after the rows) is skipped up
-- to next_offset, so the sums below never count a record twice.
create table api_dashboard_offsets (
  topic text not null,
  topic_partition int not null,
  next_offset bigint not null,
  primary key (topic, topic_partition)
);

-- Points per UTC day of event time, kind (EARNED, REVERSED, REDEEMED, EXPIRED, ADJUSTED; signed as
-- on the topic) and rule id ('' for entries without a rule).
create table api_dashboard_points (
  day date not null,
  kind text not null,
  rule_id text not null,
  points bigint not null,
  entries bigint not null,
  primary key (day, kind, rule_id)
);

-- The newest event time of an EARNED entry with an order per member: a purchase that earned points
-- (win-back conversion: a purchase after the alert). Purchases that earned nothing are on no topic
-- the API reads.
create table api_dashboard_purchases (
  member_id text primary key,
  last_earned_at timestamptz not null
);

-- The churn fits named by alerts (modelVersion) with the BG/NBD parameters they carry.
create table api_dashboard_fits (
  model_version text primary key,
  r double precision,
  alpha double precision,
  a double precision,
  b double precision,
  first_alert_at timestamptz not null,
  last_alert_at timestamptz not null,
  alerts bigint not null
);

-- What loyalty.tiers.v1 carries beside the tiers (api_tier_changes keeps those): the metric, its
-- value at the change and the threshold crossed, for the member's tier progress.
create table api_dashboard_tier_metrics (
  event_id text primary key,
  member_id text not null,
  to_tier text not null,
  direction text not null,
  metric text not null,
  metric_value double precision not null,
  threshold double precision not null,
  effective_at timestamptz not null,
  topic_offset bigint not null
);
create index api_dashboard_tier_metrics_member on api_dashboard_tier_metrics (member_id, effective_at desc, topic_offset desc);

-- Highest event time consumed per (input partition, source partition) pair: the event-mode
-- watermark is the minimum over the pairs (services/churn-alert/src/watermark.ts, ADR 8).
-- source is the record's "<topic>/<partition>" header, '' for records that name none. Not seeded
-- from churn_partitions: a frozen '' pair would hold the watermark back for good; the frontier is
-- kept in churn_engine and never moves back while the pairs are heard from again.
create table churn_source_clocks (
  topic text not null,
  partition integer not null,
  source text not null,
  max_event_time bigint not null,
  primary key (topic, partition, source)
);

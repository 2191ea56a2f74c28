-- Ingestor state. Outputs are recorded per source position so that a batch replayed after a
-- crash re-emits exactly what it emitted before (its Kafka transaction was aborted), while a
-- true duplicate (same event id at another position) is dropped.
create table ingest_events (
  event_id text primary key,
  src_topic text not null,
  src_partition int not null,
  src_offset bigint not null
);

create table ingest_outcomes (
  src_topic text not null,
  src_partition int not null,
  src_offset bigint not null,
  outputs jsonb not null,
  primary key (src_topic, src_partition, src_offset)
);

-- One order-book slot per (source, order id); held refunds expire on the event time of the
-- partition they arrived in, so the outcome does not depend on other partitions' speed.
create table ingest_orders (
  order_key text primary key,
  slot jsonb not null,
  hold_topic text,
  hold_partition int,
  hold_due_at bigint
);
create index ingest_orders_hold_due on ingest_orders (hold_topic, hold_partition, hold_due_at) where hold_due_at is not null;

-- The original bytes of held refunds, for the dead-letter record if their order never comes.
create table ingest_held_messages (
  event_id text primary key,
  src_topic text not null,
  src_partition int not null,
  src_offset bigint not null,
  src_timestamp bigint not null,
  msg_key bytea,
  msg_value bytea,
  headers jsonb not null
);

create table ingest_members (
  member_id text primary key,
  enrolled_at bigint not null,
  enrolled_via text not null,
  registered boolean not null default false
);

create table ingest_counters (
  name text primary key,
  n bigint not null default 0
);

-- Each input partition's event-time clock (highest record timestamp seen), for hold expiry.
create table ingest_partition_clock (
  src_topic text not null,
  src_partition int not null,
  event_time bigint not null,
  primary key (src_topic, src_partition)
);

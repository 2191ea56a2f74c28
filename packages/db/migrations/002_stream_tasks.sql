-- The stream runtime's record of each task (ADR 16): partition `partition` of a consumer
-- group's co-partitioned input topics. Written in the same transaction as the service's state,
-- so the state and the position it reflects never disagree:
--   offsets      {topic: next offset to process}; records below are in the state already
--   stream_time  the highest record timestamp (event time) the task has processed, epoch ms
--   seq          the batch that last wrote the row; also the metadata of the Kafka offset
--                commit of that batch, so a restart can tell whether Kafka has it
--   pending      that batch's output records, re-sent if Kafka does not have it
create table stream_tasks (
  group_id text not null,
  partition int not null,
  offsets jsonb not null,
  stream_time bigint,
  seq bigint not null,
  pending bytea,
  updated_at timestamptz not null default now(),
  primary key (group_id, partition)
);

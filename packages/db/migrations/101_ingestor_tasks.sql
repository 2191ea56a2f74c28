-- The ingestor on tasks (ADR 16 step 2): each input partition's state lives in memory in its
-- task and is restored from these tables when the partition is assigned, so rows name their
-- partition (= the partition of orders.v1 and members.v1, both keyed by customer id).
-- Rows written before this migration keep a null partition when it cannot be known in SQL
-- (it is murmur2(customer id) mod the partition count): every task restores them and the
-- owner claims them on its next write of them. A slot holding refunds names its partition
-- already (the hold owner).
alter table ingest_orders add column partition int;
update ingest_orders set partition = hold_partition where hold_partition is not null;
drop index ingest_orders_hold_due;
-- Holds expire at the task's stream time, from the slots in memory.
alter table ingest_orders drop column hold_topic, drop column hold_partition, drop column hold_due_at;

alter table ingest_members add column partition int;

-- The only clock is the task's stream time (stream_tasks.stream_time).
drop table ingest_partition_clock;

-- A batch is applied once (its offsets are stored with its state) and a crashed batch's output
-- is re-sent by the runtime from stream_tasks.pending: outputs per source position are not needed.
drop table ingest_outcomes;

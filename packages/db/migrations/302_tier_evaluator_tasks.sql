-- Tier evaluator on tasks (ADR 16 step 2). Its state per input partition lives in memory and is
-- restored from tier_members by partition; the stream runtime's stream_tasks row holds the
-- partition's offsets and stream time, and tier changes go out in each batch's Kafka
-- transaction. So the evaluator's own clock table, its outbox and its idempotency rows go.
-- Upgrading a running engine: stop the old evaluator only once tier_outbox is empty (its relay
-- sends every row within a second); rows still in it are dropped here, not sent.
drop table if exists tier_partitions;
drop table if exists tier_outbox;
drop sequence if exists tier_outbox_seq;
delete from tier_settings where key = 'relay_position';
delete from processed_events where consumer = 'tier-evaluator';

-- Due times are kept in memory now: the (partition, due_at) index is replaced by one on
-- partition (a task's restore), and a change of due_at no longer prevents a HOT update.
drop index if exists tier_members_due;
create index tier_members_partition on tier_members (partition);

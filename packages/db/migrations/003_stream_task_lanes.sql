-- The stream runtime's whole-group tasks (ADR 16, "one task over all partitions"): each
-- partition's stream time per lane, {lane: highest event time}, for the group's watermark
-- (packages/stream-runtime/src/tasks/watermark.ts). Null for per-partition tasks.
alter table stream_tasks add column lanes jsonb;

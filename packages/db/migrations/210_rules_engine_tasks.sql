-- The rules engine runs on the stream runtime's tasks (ADR 16 step 4): a task's stream time
-- (moved by purchases only) and offsets are in stream_tasks, written with the ledger in one
-- transaction, so the engine's own clock goes.
drop table if exists rules_stream_times;

-- rules_churn_frontiers stays, as task state: row p is the highest frontier marker read from
-- partition p of loyalty.churn-alerts.v1, which is the churn join's frontier of task p (the
-- alerts of partition p's members are in alerts partition p, before the marker).
comment on table rules_churn_frontiers is
  'rules engine task state: highest churn-alert frontier marker read per partition (ADR 12, 16)';

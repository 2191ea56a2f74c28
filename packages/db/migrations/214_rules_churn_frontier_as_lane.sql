-- The churn join's frontier (ADR 12) moves from the rules engine's own table into the stream
-- runtime's record of its tasks: stream_tasks.lanes, lane 'churn-frontier', written with each batch
-- by the runtime from the markers the engine's topology points out (TaskTopology.mark), read with
-- Task.laneTime. The runtime keeps the only clocks (ADR 16). The engine's tasks are the ones that
-- read the alerts topic; their stored frontiers carry over.
update stream_tasks s
   set lanes = coalesce(s.lanes, '{}'::jsonb) || jsonb_build_object('churn-frontier', f.frontier)
  from rules_churn_frontiers f
 where s.partition = f.partition
   and exists (select 1 from jsonb_object_keys(s.offsets) as k(topic) where k.topic like '%loyalty.churn-alerts.v1');
drop table rules_churn_frontiers;

comment on column stream_tasks.lanes is
  'per task, {lane: highest event time}: whole-group tasks, each sub-stream of the partition (watermark.ts); per-partition tasks, the lanes their topology marks (TaskTopology.mark), e.g. the rules engine''s churn-frontier';

-- churn-alert runs as one task over all partitions of its input (ADR 16): the stream runtime
-- keeps each partition's next offset and its event time per source lane in stream_tasks (003),
-- written in the transaction of the engine's state, and re-sends a batch's output (alerts,
-- frontier markers) from there if Kafka did not get it. The service's own clocks and offsets
-- go, and with them the re-emission of alerts by trigger offset and the tick outbox: every
-- alert is in the output of the step that raised it. A deployment upgraded in place restarts
-- the engine's input from the group's committed offsets with no lane clocks: the watermark
-- waits until every partition has delivered again, and the frontier never moves back.
drop table churn_source_clocks;
drop table churn_partitions;
drop index churn_alerts_trigger;
drop index churn_alerts_unpublished;
alter table churn_alerts
  drop column trigger_topic,
  drop column trigger_partition,
  drop column trigger_offset,
  drop column published;

-- churn_partitions keeps only the next offset per input partition ("consumed to the end"): the
-- highest event time per partition is the maximum over its pairs in churn_source_clocks (405),
-- one record of event-time progress instead of two kept in step.
alter table churn_partitions drop column max_event_time;

-- churn-alert: an event is in member state exactly when its time is at or before the engine's
-- frontier (events at or behind it on arrival are applied in the same transaction), so the
-- `applied` flag said nothing the frontier does not. Setting it was an update of every event,
-- each a new row version with new index entries: 10.6 s of a CDNOW replay's 140 in `pnpm bench`,
-- and dead rows for the vacuum. Pending events are now read by time range after the frontier.
drop index churn_events_pending;
alter table churn_events drop column applied;
create index churn_events_time on churn_events (event_time);

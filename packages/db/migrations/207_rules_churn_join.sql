-- The rules engine joins purchases with churn alerts in event time (ADR 12).
-- A member's alerts that no purchase has answered yet, each with its event time and segment:
-- a purchase at t is the return of those at or before t (and only those), whichever of the two
-- topics the engine happened to read first. `at_risk` could not say when.
alter table rules_members add column risk_alerts jsonb not null default '[]'::jsonb;
-- Written by the code before this one: the flag stood for an alert before the next purchase.
update rules_members
   set risk_alerts = jsonb_build_array(jsonb_build_object('at', 0, 'segment', segment))
 where at_risk;
alter table rules_members drop column at_risk;

-- The highest frontier marker read from each partition of loyalty.churn-alerts.v1, recorded after
-- the alerts before it are in the ledger: every alert up to min(frontier) has been applied.
create table rules_churn_frontiers (
  partition int primary key,
  frontier bigint not null
);

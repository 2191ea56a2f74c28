-- churn-alert: a counter bumped by every step that writes member state, in the same transaction.
-- The service keeps every member's summary in memory for its refits and trusts that copy only
-- while the counter is where its own last committed step left it.
alter table churn_engine add column generation bigint not null default 0;

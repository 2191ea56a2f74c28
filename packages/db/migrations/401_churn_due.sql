-- churn-alert: due times in a narrow table of their own. A weekly refit moves the due time of
-- every member with a repeat purchase; in churn_members each such move rewrote the member's
-- whole row (its state JSON included) and its index entries, which was the largest cost of a
-- replay (356 ms per refit on CDNOW). A member with no due time has no row here.
create table churn_due (
  member_id text primary key,
  due_at bigint not null
);
create index churn_due_at on churn_due (due_at);
insert into churn_due (member_id, due_at)
  select member_id, due_at from churn_members where due_at is not null;
drop index churn_members_due;
alter table churn_members drop column due_at;

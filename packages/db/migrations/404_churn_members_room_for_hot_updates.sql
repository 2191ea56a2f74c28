-- churn_members rows are rewritten at every step that touches the member, with no index on
-- what changes: HOT updates if the page has room (32 % were after a CDNOW replay). See 205.
alter table churn_members set (fillfactor = 60);

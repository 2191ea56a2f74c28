-- tier_members rows are rewritten at every purchase; those whose due time stays put can be HOT
-- updates if the page has room (18 % were after a CDNOW replay). See 205.
alter table tier_members set (fillfactor = 60);

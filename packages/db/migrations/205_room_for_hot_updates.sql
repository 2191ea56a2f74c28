-- Rows rewritten over and over, with no index on what changes: a new row version that fits on
-- the same page is a HOT update, with no new index entry. Full pages left no room: after a
-- CDNOW replay 12 % of rules_members' updates were HOT and 32 % of ledger_balances'. New pages
-- now keep 40 % free (existing pages keep their fill until rewritten). Same for tier_members
-- (301) and churn_members (404).
alter table rules_members set (fillfactor = 60);
alter table ledger_balances set (fillfactor = 60);

-- The member API no longer expires points (the rules engine does, in its own event time: ADR 16
-- step 3), so it keeps no clock of its own: its "now" is the latest event time of the ledger
-- (event mode) or the wall clock.
drop table if exists api_clock;

-- A lot is created by one entry (an earn, or a positive API adjustment) with remaining = points;
-- the movement also written for that entry (entry_id = lot_id) repeated the lot row: 150,000 of
-- a CDNOW replay's 221,000 movements. Movements now record only what later entries take out of
-- a lot or put back, and remaining = points + the sum of the lot's movements (`ledger verify`).
-- Only the creating entry's id equals a lot's id (a lot is named after it). An adjustment's lot
-- was inserted empty and filled by its movement: after the delete, points = remaining holds for
-- it as for an earn's.
delete from ledger_lot_movements where entry_id = lot_id;

-- Lot movements are written in the same transaction as their entry and lot, by the two writers
-- of the ledger (rules engine, API). Their foreign keys cost a FOR KEY SHARE row lock on the
-- entry and the lot per movement: a dirtied heap page each, in WAL and often a full-page image.
-- Measured on 200,000 movements in batches of 2,000: 5.2 s and 180 MB of WAL with the keys,
-- 2.0 s and 88 MB without; in `pnpm bench` these inserts were the ledger's costliest statement.
-- The references are checked by `loyalty ledger verify` (check movement-orphan) instead.
alter table ledger_lot_movements drop constraint if exists ledger_lot_movements_entry_id_fkey;
alter table ledger_lot_movements drop constraint if exists ledger_lot_movements_lot_id_fkey;

-- Ledger entries: the natural key's uniqueness is the primary key's. Every writer derives
-- entry_id from (source_event_id, rule_id, kind, member_id) with entryIdOf (sha256), so the
-- same natural key is the same id, which the primary key refuses. The four-column unique index
-- cost a wide insert at a random place per entry; finding a source event's entries (to emit a
-- redelivered batch's output again) needs only the source event id.
alter table ledger_entries drop constraint ledger_entries_natural_key;
create index ledger_entries_source on ledger_entries (source_event_id);

-- Since the rules engine runs on the stream runtime's tasks (210), a batch whose Kafka transaction
-- did not commit is sent again from stream_tasks.pending; the engine no longer finds a redelivered
-- event's entries in the ledger by their source event (204) or its expiries by their trigger
-- (208), and nothing else reads ledger_entries by either (the CLI and `ledger verify` read by
-- member, by entry id, or whole). Each index cost an insert at a random place per entry: measured
-- 2026-12-07 on the 199,000 entries of a CDNOW replay appended with COPY, backend CPU 3.8-4.2 s
-- with the ledger's five indexes, 2.9 s with the primary key and (member_id, seq) alone
-- (docs/adr/0016-state-owned-by-tasks.md). The columns stay.
drop index if exists ledger_entries_source;
drop index if exists ledger_entries_expiry_trigger;

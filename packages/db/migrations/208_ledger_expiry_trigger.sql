-- The rules engine is the only writer of expiries (ADR 16 step 3). After each purchase it
-- expires the due lots of its partition's members at the partition's stream time (the highest
-- purchase event time so far), members with no movement included.

-- Each `expire` entry is an output of one input event: the event it preceded, or the one whose
-- punctuation expired it (`detail.trigger`, that event's id); it goes out on loyalty.points.v1 in
-- the same Kafka transaction as that event's outputs. A redelivered event finds its expiries by
-- this index and publishes them again, in ledger order.
create index ledger_entries_expiry_trigger on ledger_entries ((detail ->> 'trigger')) where kind = 'expire';

-- The stream time of each purchases partition (event mode), written with every batch: a
-- restarted engine punctuates from it, so the ledger does not depend on where batches were cut.
-- Until the engine runs on tasks (ADR 16 step 4: stream_tasks.stream_time).
create table rules_stream_times (
  partition int primary key,
  stream_time bigint not null
);

-- The outbox relay deletes rows once the broker has acknowledged them instead of marking them
-- sent: every row left in api_outbox is unsent, so the partial index on unsent rows is the
-- primary key's order and sent_at has no reader.
delete from api_outbox where sent_at is not null;
drop index if exists api_outbox_unsent;
alter table api_outbox drop column sent_at;

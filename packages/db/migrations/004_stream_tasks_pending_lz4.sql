-- A task's pending output (a batch's records, megabytes per batch in a replay) is compressed by
-- TOAST on every write. lz4 costs less CPU than the default pglz for the same job: measured
-- 2026-12-07, ten writes of six 1.4 MB outputs of the rules engine, backend CPU 2.8 s with pglz
-- and 2.0 s with lz4 (packages/stream-runtime/src/tasks/progress-store.ts). A server built
-- without lz4 keeps pglz.
do $$
begin
  alter table stream_tasks alter column pending set compression lz4;
exception when feature_not_supported then
  raise notice 'lz4 is not available on this server: stream_tasks.pending stays pglz';
end $$;

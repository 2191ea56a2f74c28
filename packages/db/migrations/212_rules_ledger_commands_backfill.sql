-- Redemptions and their cancellations written by the member API before it sent ledger commands
-- (ADR 9, superseded by ADR 16 step 3) become recorded commands, so that a cancellation command
-- finds a redemption made before the switch (with the lots it took, as its reply lists them) and a
-- second cancellation of one cancelled before answers the recorded cancellation.
insert into rules_ledger_commands (command_id, member_id, type, status, redemption_id, order_id, entry_id, reply, applied_at)
select e.source_event_id, e.member_id, 'REDEEM', 'ACCEPTED', null, e.order_id, e.entry_id,
       jsonb_build_object(
         'commandId', e.source_event_id, 'memberId', e.member_id, 'status', 'ACCEPTED',
         'reasonCode', null, 'message', null, 'entryId', e.entry_id, 'points', e.points,
         'balanceAfter', e.balance_after,
         'lotsJson', (select coalesce(jsonb_agg(jsonb_build_object(
                                'lotId', m.lot_id, 'points', -m.points,
                                'expiresAt', to_char(l.expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
                              order by l.expires_at, m.lot_id), '[]'::jsonb)::text
                        from ledger_lot_movements m join ledger_lots l using (lot_id)
                       where m.entry_id = e.entry_id),
         'appliedAt', (extract(epoch from e.event_time) * 1000)::bigint),
       e.event_time
  from ledger_entries e
 where e.kind = 'redeem'
on conflict (command_id) do nothing;

insert into rules_ledger_commands (command_id, member_id, type, status, redemption_id, order_id, entry_id, reply, applied_at)
select 'migrated:' || e.entry_id, e.member_id, 'CANCEL_REDEMPTION', 'ACCEPTED', e.source_event_id, e.order_id,
       e.entry_id,
       jsonb_build_object(
         'commandId', 'migrated:' || e.entry_id, 'memberId', e.member_id, 'status', 'ACCEPTED',
         'reasonCode', null, 'message', null, 'entryId', e.entry_id, 'points', e.points,
         'balanceAfter', e.balance_after,
         'lotsJson', (select coalesce(jsonb_agg(jsonb_build_object(
                                'lotId', m.lot_id, 'points', m.points,
                                'expiresAt', to_char(l.expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
                              order by l.expires_at, m.lot_id), '[]'::jsonb)::text
                        from ledger_lot_movements m join ledger_lots l using (lot_id)
                       where m.entry_id = e.entry_id),
         'appliedAt', (extract(epoch from e.event_time) * 1000)::bigint),
       e.event_time
  from ledger_entries e
 where e.kind = 'adjust' and e.reason = 'redemption-cancelled'
on conflict (command_id) do nothing;

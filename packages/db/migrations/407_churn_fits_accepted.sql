-- A fit drives alerts only when it is accepted: converged, no parameter at the optimiser's cap,
-- enough repeat buyers and history (churn-alert's CHURN_MIN_REPEAT_BUYERS, CHURN_MIN_HISTORY_DAYS).
-- A rejected fit is kept with the reason; the model in force stays. Fits stored before were all
-- put in force: accepted.
alter table churn_fits
  add column accepted boolean not null default true,
  add column rejected_reason text,
  add constraint churn_fits_rejected_reason check (accepted = (rejected_reason is null));

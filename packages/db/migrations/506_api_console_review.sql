-- Review of console drafts (docs/adr/0018-marketers-console.md, second slice of issue 23): every
-- approval or rejection of a draft, by which API key, when and why. Written only by the API's
-- console routes (POST /v1/rulesets/drafts/{draftId}/reviews); the key that submitted a draft
-- may not review it. Whether a draft was published is not stored here: it is read from the API's
-- read model of loyalty.rules.v1 (api_rule_sets, same rule set and version), which only a signed
-- publication on the topic can fill.
create table api_rule_draft_reviews (
  review_id bigserial primary key,
  draft_id text not null references api_rule_drafts (draft_id),
  decision text not null check (decision in ('approved', 'rejected')),
  reviewed_by text not null,
  reviewed_at timestamptz not null default now(),
  note text check (note is null or length(note) <= 500)
);
create index api_rule_draft_reviews_draft on api_rule_draft_reviews (draft_id, review_id);

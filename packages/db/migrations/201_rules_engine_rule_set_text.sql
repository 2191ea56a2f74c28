-- The rule-set JSON is kept exactly as published: its checksum is the sha256 of that text, and
-- jsonb would reorder keys.
alter table rule_sets alter column rule_set_json type text using rule_set_json::text;

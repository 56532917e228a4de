-- Contact merges find the committees naming a merged contact
-- (buying_committee @> '[{"contact": "..."}]').
CREATE INDEX opportunities_buying_committee ON opportunities USING gin (buying_committee jsonb_path_ops);

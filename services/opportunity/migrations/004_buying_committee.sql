-- The opportunity's buying committee: contacts with their roles in the
-- deal, [{"contact": "<uuid>", "roles": ["decision_maker", ...]}, ...],
-- replaced as a whole.
ALTER TABLE opportunities ADD COLUMN buying_committee jsonb NOT NULL DEFAULT '[]';

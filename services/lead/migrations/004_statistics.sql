-- Statistics: when a lead was qualified (set by conversion), and an index
-- for counting by creation time.
ALTER TABLE leads ADD COLUMN qualified_at timestamptz;
ALTER TABLE leads ADD CONSTRAINT leads_qualified_at CHECK (qualified_at IS NULL OR status = 'QUALIFIED');

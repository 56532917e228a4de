-- Merging: a MERGED lead points at the lead it was merged into.
ALTER TABLE leads ADD COLUMN merged_into uuid REFERENCES leads (id);
ALTER TABLE leads DROP CONSTRAINT leads_status_valid;
ALTER TABLE leads ADD CONSTRAINT leads_status_valid
    CHECK (status IN ('NEW', 'CONTACTED', 'NURTURING', 'QUALIFIED', 'DISQUALIFIED', 'MERGED'));
ALTER TABLE leads ADD CONSTRAINT leads_merged_points_somewhere CHECK ((status = 'MERGED') = (merged_into IS NOT NULL));

-- Activities live in the workflow service now. The lead service keeps its
-- earlier ones only to carry them over (`lead export-activities`), which
-- notes when each was exported, so that running it again, or after it
-- broke off, sends only what it has not.
ALTER TABLE activities ADD COLUMN exported_at timestamptz;

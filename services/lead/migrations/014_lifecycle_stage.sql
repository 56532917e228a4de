-- The lead's MQL/SQL lifecycle stage (issue 14, seed 004): the stage, its
-- last change (who, when) and when the lead first reached each stage, for
-- the funnel statistics. '' is no stage.
ALTER TABLE leads
    ADD COLUMN lifecycle_stage      text NOT NULL DEFAULT '' CHECK (lifecycle_stage IN ('', 'MQL', 'SQL')),
    ADD COLUMN lifecycle_changed_at timestamptz,
    ADD COLUMN lifecycle_changed_by text NOT NULL DEFAULT '',
    ADD COLUMN mql_at               timestamptz,
    ADD COLUMN sql_at               timestamptz;

-- ListLeads filtered by stage, newest first (as leads_status_created).
CREATE INDEX leads_lifecycle_created ON leads (lifecycle_stage, created_at, id) WHERE lifecycle_stage <> '';

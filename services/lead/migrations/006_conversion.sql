-- A QUALIFIED lead's conversion: the ids of the account, contact and
-- opportunity it allocated, what to create them with, and whether the
-- other services have finished it (state PENDING, COMPLETE, FAILED).
ALTER TABLE leads ADD COLUMN conversion jsonb;
ALTER TABLE leads ADD CONSTRAINT leads_conversion CHECK (conversion IS NULL OR status = 'QUALIFIED');

-- Operators watch conversions that do not finish.
CREATE INDEX leads_pending_conversion ON leads (qualified_at)
    WHERE conversion ->> 'state' = 'PENDING';

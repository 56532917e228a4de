-- Leads converted into an account or contact, found when that account or
-- contact is merged (AccountsMerged, ContactsMerged) to re-point them.
CREATE INDEX leads_conversion_account ON leads ((conversion ->> 'account_id')) WHERE conversion IS NOT NULL;
CREATE INDEX leads_conversion_contact ON leads ((conversion ->> 'contact_id')) WHERE conversion IS NOT NULL;

-- Keys that two or more accounts or contacts share: the candidates for
-- ListAccountDuplicateGroups and ListContactDuplicateGroups, as the lead
-- service's duplicate_keys. Every account and contact write notes the keys
-- it shares with another record (one indexed probe per key), so a listing
-- reads this small table instead of grouping every record. Entries may go
-- stale (a record deleted or edited); the listing checks each group's size.
CREATE TABLE duplicate_keys (
    collection text NOT NULL CHECK (collection IN ('accounts', 'contacts')),
    rule       text NOT NULL CHECK (rule IN ('COMPANY_NAME', 'WEBSITE_DOMAIN', 'EMAIL', 'PHONE')),
    key        text NOT NULL CHECK (key <> ''),
    PRIMARY KEY (collection, rule, key)
);

INSERT INTO duplicate_keys (collection, rule, key)
SELECT 'accounts', 'COMPANY_NAME', name_key FROM accounts WHERE name_key <> '' GROUP BY name_key HAVING count(*) > 1
UNION ALL
SELECT 'accounts', 'WEBSITE_DOMAIN', domain FROM accounts WHERE domain <> '' GROUP BY domain HAVING count(*) > 1
UNION ALL
SELECT 'contacts', 'EMAIL', k FROM contacts, unnest(email_keys) AS k GROUP BY k HAVING count(DISTINCT id) > 1
UNION ALL
SELECT 'contacts', 'PHONE', k FROM contacts, unnest(phone_keys) AS k GROUP BY k HAVING count(DISTINCT id) > 1;

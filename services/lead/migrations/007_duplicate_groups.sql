-- Keys that two or more (not merged) leads share: the candidates for
-- ListDuplicateGroups. Duplicates only arise where a write was allowed to
-- make one (allow_duplicate, imports with CREATE_ANYWAY or UPDATE), so the
-- service notes the keys there, and listing reads this small table instead
-- of scanning a rule's whole index for the rare keys with count > 1.
-- Entries may go stale (a lead deleted, merged or edited); the listing
-- checks each group's size, so a stale key only costs a lookup.
CREATE TABLE duplicate_keys (
    rule text NOT NULL CHECK (rule IN ('EMAIL', 'PHONE', 'COMPANY_AND_NAME')),
    key  text NOT NULL CHECK (key <> ''),
    PRIMARY KEY (rule, key)
);

-- note_duplicate_keys records the keys the given leads share with other
-- leads.
CREATE FUNCTION note_duplicate_keys(p_ids uuid[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO duplicate_keys (rule, key)
    SELECT 'EMAIL', n.email_norm FROM leads n
     WHERE n.id = ANY (p_ids) AND n.email_norm <> '' AND n.status <> 'MERGED'
       AND EXISTS (SELECT 1 FROM leads o WHERE o.email_norm = n.email_norm AND o.id <> n.id AND o.status <> 'MERGED')
    UNION
    SELECT 'PHONE', n.phone_norm FROM leads n
     WHERE n.id = ANY (p_ids) AND n.phone_norm <> '' AND n.status <> 'MERGED'
       AND EXISTS (SELECT 1 FROM leads o WHERE o.phone_norm = n.phone_norm AND o.id <> n.id AND o.status <> 'MERGED')
    UNION
    SELECT 'COMPANY_AND_NAME', n.name_key FROM leads n
     WHERE n.id = ANY (p_ids) AND n.name_key <> '' AND n.status <> 'MERGED'
       AND EXISTS (SELECT 1 FROM leads o WHERE o.name_key = n.name_key AND o.id <> n.id AND o.status <> 'MERGED')
    ON CONFLICT DO NOTHING
$$;

-- refresh_duplicate_keys rebuilds the table from the leads: for data
-- written around the service (bulk loads) or after a restore.
CREATE FUNCTION refresh_duplicate_keys() RETURNS void LANGUAGE sql AS $$
    DELETE FROM duplicate_keys;
    INSERT INTO duplicate_keys (rule, key)
    SELECT 'EMAIL', email_norm FROM leads WHERE email_norm <> '' AND status <> 'MERGED' GROUP BY 1, 2 HAVING count(*) > 1
    UNION ALL
    SELECT 'PHONE', phone_norm FROM leads WHERE phone_norm <> '' AND status <> 'MERGED' GROUP BY 1, 2 HAVING count(*) > 1
    UNION ALL
    SELECT 'COMPANY_AND_NAME', name_key FROM leads WHERE name_key <> '' AND status <> 'MERGED' GROUP BY 1, 2 HAVING count(*) > 1;
$$;

SELECT refresh_duplicate_keys();

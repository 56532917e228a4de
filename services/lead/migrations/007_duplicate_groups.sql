-- Keys that two or more (not merged) leads share: the candidates for
-- ListDuplicateGroups. Duplicates only arise where a write was allowed to
-- make one (allow_duplicate, imports with CREATE_ANYWAY or UPDATE), so the
-- service notes the keys there (postgres/duplicates.go, noteDuplicateKeys),
-- and listing reads this small table instead
-- of scanning a rule's whole index for the rare keys with count > 1.
-- Entries may go stale (a lead deleted, merged or edited); the listing
-- checks each group's size, so a stale key only costs a lookup.
CREATE TABLE duplicate_keys (
    rule text NOT NULL CHECK (rule IN ('EMAIL', 'PHONE', 'COMPANY_AND_NAME')),
    key  text NOT NULL CHECK (key <> ''),
    PRIMARY KEY (rule, key)
);

-- note_duplicate_lead records the keys a lead written with
-- allow_duplicate shares with other leads: the same probe as
-- assert_no_duplicate_lead (one indexed OR query, plan cached by plpgsql),
-- recording instead of refusing.
CREATE FUNCTION note_duplicate_lead(p_id uuid, p_email text, p_phone text, p_name text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    shared record;
BEGIN
    SELECT bool_or(p_email <> '' AND email_norm = p_email) AS email,
           bool_or(p_phone <> '' AND phone_norm = p_phone) AS phone,
           bool_or(p_name  <> '' AND name_key   = p_name)  AS name
      INTO shared
      FROM leads
     WHERE id <> p_id AND status <> 'MERGED'
       AND ((p_email <> '' AND email_norm = p_email AND email_norm <> '')
         OR (p_phone <> '' AND phone_norm = p_phone AND phone_norm <> '')
         OR (p_name  <> '' AND name_key   = p_name  AND name_key   <> ''));
    INSERT INTO duplicate_keys (rule, key)
    SELECT r, k FROM (VALUES ('EMAIL', p_email, shared.email), ('PHONE', p_phone, shared.phone),
                             ('COMPANY_AND_NAME', p_name, shared.name)) v (r, k, yes)
     WHERE yes
    ON CONFLICT DO NOTHING;
END $$;

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

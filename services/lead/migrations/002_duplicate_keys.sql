-- Duplicate detection. The service computes the normalised keys (phone
-- numbers need a phone library, so the keys are not generated columns);
-- rows that predate this migration get a best-effort SQL version.
ALTER TABLE leads
    ADD COLUMN email_norm text NOT NULL DEFAULT '',
    ADD COLUMN phone_norm text NOT NULL DEFAULT '',
    ADD COLUMN name_key   text NOT NULL DEFAULT '';

UPDATE leads SET
    email_norm = lower(btrim(email)),
    phone_norm = regexp_replace(phone, '[^0-9+]', '', 'g'),
    name_key   = CASE WHEN btrim(company) <> '' AND btrim(first_name || last_name) <> ''
                      THEN lower(regexp_replace(btrim(company), '\s+', ' ', 'g')) || '|' ||
                           lower(regexp_replace(btrim(first_name || ' ' || last_name), '\s+', ' ', 'g'))
                      ELSE '' END;

-- One index per rule, holding only the leads that can be duplicates (not
-- merged away), with the id so that duplicate groups come from the index
-- alone.
CREATE INDEX leads_dup_email ON leads (email_norm, id) WHERE email_norm <> '' AND status <> 'MERGED';
CREATE INDEX leads_dup_phone ON leads (phone_norm, id) WHERE phone_norm <> '' AND status <> 'MERGED';
CREATE INDEX leads_dup_name  ON leads (name_key, id)   WHERE name_key <> '' AND status <> 'MERGED';

-- assert_no_duplicate_lead raises SQLSTATE CR001, with "id:RULE+RULE,..."
-- in DETAIL, when another lead shares a key with the one being written. It
-- first takes transaction-scoped advisory locks on the keys (in a fixed
-- order), so two concurrent writes of the same person cannot both pass.
-- A statement in the write's own transaction, it makes the change and its
-- outbox rows roll back together.
CREATE FUNCTION assert_no_duplicate_lead(p_id uuid, p_email text, p_phone text, p_name text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    found text;
BEGIN
    PERFORM pg_advisory_xact_lock(k)
    FROM (SELECT hashtextextended(v, 0) AS k
          FROM unnest(ARRAY['e:' || p_email, 'p:' || p_phone, 'n:' || p_name]) AS v
          WHERE length(v) > 2
          ORDER BY 1) keys;
    SELECT string_agg(id::text || ':' || rules, ',') INTO found FROM (
        SELECT id, concat_ws('+',
                   CASE WHEN p_email <> '' AND email_norm = p_email THEN 'EMAIL' END,
                   CASE WHEN p_phone <> '' AND phone_norm = p_phone THEN 'PHONE' END,
                   CASE WHEN p_name  <> '' AND name_key   = p_name  THEN 'COMPANY_AND_NAME' END) AS rules
        FROM leads
        WHERE id <> p_id AND status <> 'MERGED'
          AND ((p_email <> '' AND email_norm = p_email AND email_norm <> '')
            OR (p_phone <> '' AND phone_norm = p_phone AND phone_norm <> '')
            OR (p_name  <> '' AND name_key   = p_name  AND name_key   <> ''))
        ORDER BY created_at
        LIMIT 20) d;
    IF found IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'CR001', MESSAGE = 'duplicate lead', DETAIL = found;
    END IF;
END $$;

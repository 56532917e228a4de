-- The account service's customers as duplicate detection sees them: the
-- keys of every contact (email addresses, phone numbers) and active
-- account (company name, web domain), kept from the account service's
-- events (consumer lead-customer-keys) so a new lead is checked against
-- them without a call. Keyed by record id, so a record that goes away
-- takes its keys with it: an INACTIVE account until it is activated again,
-- a DELETED (or merged) record for good, as a tombstone that a late update
-- cannot bring back. version is the record's (its etag's): an older event
-- changes nothing.
CREATE TABLE customer_records (
    id           uuid PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('ACCOUNT', 'CONTACT')),
    display_name text NOT NULL DEFAULT '',
    -- A contact's account, for the conversion the refusal suggests.
    account_id   uuid,
    version      bigint NOT NULL,
    state        text NOT NULL CHECK (state IN ('LIVE', 'INACTIVE', 'DELETED')),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Keys computed by the service with platform/customerkey, as the leads'.
CREATE TABLE customer_keys (
    rule      text NOT NULL CHECK (rule IN ('EMAIL', 'PHONE', 'COMPANY_NAME', 'WEB_DOMAIN')),
    key       text NOT NULL CHECK (key <> ''),
    record_id uuid NOT NULL REFERENCES customer_records (id) ON DELETE CASCADE,
    PRIMARY KEY (rule, key, record_id)
);
CREATE INDEX customer_keys_record ON customer_keys (record_id);

-- assert_no_duplicate is assert_no_duplicate_lead (migration 002) that also
-- looks at the customers' keys: p_company (the folded company name) and
-- p_domain (the web site's domain) match accounts, p_email and p_phone
-- contacts too. It raises SQLSTATE CR002 with DETAIL
-- {"leads": [{"id", "rules"}], "customers": [{"id", "kind", "name",
-- "account", "rules"}]} (rules joined by '+'). Only lead keys are locked:
-- customer keys change through the projection, never through a lead write.
CREATE FUNCTION assert_no_duplicate(p_id uuid, p_email text, p_phone text, p_name text, p_company text, p_domain text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    dup_leads json;
    dup_customers json;
BEGIN
    PERFORM pg_advisory_xact_lock(k)
    FROM (SELECT hashtextextended(v, 0) AS k
          FROM unnest(ARRAY['e:' || p_email, 'p:' || p_phone, 'n:' || p_name]) AS v
          WHERE length(v) > 2
          ORDER BY 1) keys;
    SELECT json_agg(json_build_object('id', id, 'rules', rules) ORDER BY created_at) INTO dup_leads FROM (
        SELECT id, created_at, concat_ws('+',
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
    IF p_email <> '' OR p_phone <> '' OR p_company <> '' OR p_domain <> '' THEN
        SELECT json_agg(json_build_object('id', r.id, 'kind', r.kind, 'name', r.display_name,
                                          'account', r.account_id, 'rules', m.rules) ORDER BY r.kind DESC, r.id)
          INTO dup_customers
          FROM (SELECT record_id, string_agg(rule, '+' ORDER BY array_position(ARRAY['EMAIL', 'PHONE', 'COMPANY_NAME', 'WEB_DOMAIN'], rule)) AS rules
                  FROM customer_keys
                 WHERE (rule = 'EMAIL' AND key = p_email AND p_email <> '')
                    OR (rule = 'PHONE' AND key = p_phone AND p_phone <> '')
                    OR (rule = 'COMPANY_NAME' AND key = p_company AND p_company <> '')
                    OR (rule = 'WEB_DOMAIN' AND key = p_domain AND p_domain <> '')
                 GROUP BY record_id
                 LIMIT 20) m
          JOIN customer_records r ON r.id = m.record_id AND r.state = 'LIVE';
    END IF;
    IF dup_leads IS NOT NULL OR dup_customers IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'CR002', MESSAGE = 'duplicate lead',
            DETAIL = json_build_object('leads', coalesce(dup_leads, '[]'), 'customers', coalesce(dup_customers, '[]'))::text;
    END IF;
END $$;

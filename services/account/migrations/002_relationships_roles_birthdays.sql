-- What the business is to an account. Every account before this was a
-- customer account (the service's accounts were customers by definition),
-- so existing rows are CUSTOMER.
ALTER TABLE accounts ADD COLUMN relationship text NOT NULL DEFAULT 'CUSTOMER'
    CHECK (relationship IN ('CUSTOMER', 'PROSPECT', 'SUPPLIER', 'PARTNER'));
CREATE INDEX accounts_relationship_created ON accounts (relationship, created_at, id);

-- The roles a contact may be given; retired roles stay on the contacts
-- that have them. One list for the suite; its version is the etag.
CREATE TABLE contact_roles (
    id            text PRIMARY KEY,
    display_name  text NOT NULL CHECK (display_name <> ''),
    retired       boolean NOT NULL DEFAULT false,
    position      int NOT NULL
);

CREATE TABLE contact_role_list (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL
);

INSERT INTO contact_role_list (version, updated_at, updated_by) VALUES (1, now(), 'system');

INSERT INTO contact_roles (id, display_name, position) VALUES
    ('decision_maker', 'Decision maker', 1),
    ('economic_buyer', 'Economic buyer', 2),
    ('procurement', 'Procurement', 3),
    ('finance', 'Finance', 4),
    ('technical', 'Technical', 5),
    ('legal', 'Legal', 6),
    ('user', 'User', 7),
    ('influencer', 'Influencer', 8),
    ('champion', 'Champion', 9),
    ('gatekeeper', 'Gatekeeper', 10),
    ('executive_sponsor', 'Executive sponsor', 11),
    ('billing', 'Billing', 12),
    ('shipping', 'Shipping', 13);

ALTER TABLE contacts ADD COLUMN roles text[] NOT NULL DEFAULT '{}';
CREATE INDEX contacts_roles ON contacts USING gin (roles);

-- The birthday's month and day as month*100+day (0229 for February 29),
-- for the upcoming-birthdays list; NULL without a birthday.
ALTER TABLE contacts ADD COLUMN birthday_code int GENERATED ALWAYS AS (
    CASE WHEN birthday IS NOT NULL AND jsonb_typeof(birthday) = 'object'
        THEN (birthday->>'Month')::int * 100 + (birthday->>'Day')::int END) STORED;
CREATE INDEX contacts_birthday_code ON contacts (birthday_code, id) WHERE birthday_code IS NOT NULL;

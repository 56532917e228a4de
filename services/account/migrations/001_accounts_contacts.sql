-- Trigram index support for the text match of ListAccounts and
-- ListContacts. Installed once per database, in public.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE TABLE accounts (
    id             uuid PRIMARY KEY,
    type           text NOT NULL CHECK (type IN ('COMPANY', 'INDIVIDUAL')),
    display_name   text NOT NULL CHECK (display_name <> ''),
    website        text NOT NULL DEFAULT '',
    domain         text NOT NULL DEFAULT '',
    industry       text NOT NULL DEFAULT '',
    phone          text NOT NULL DEFAULT '',
    owner          text NOT NULL,
    currency_code  text NOT NULL DEFAULT '',
    -- Exact amount in currency_code; never a float.
    credit_limit   numeric,
    payment_terms  text NOT NULL DEFAULT '',
    tax_id         text NOT NULL DEFAULT '',
    tax_category   text NOT NULL DEFAULT '',
    price_list     text NOT NULL DEFAULT '',
    -- Billing and shipping addresses, replaced as a whole: a JSON array.
    addresses      jsonb NOT NULL DEFAULT '[]',
    state          text NOT NULL CHECK (state IN ('ACTIVE', 'INACTIVE')),
    source_lead    text NOT NULL DEFAULT '',
    description    text NOT NULL DEFAULT '',
    custom_fields  jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL,
    created_by     text NOT NULL,
    updated_at     timestamptz NOT NULL,
    updated_by     text NOT NULL,
    version        bigint NOT NULL,
    -- Matching keys, computed by the service (platform/customerkey).
    name_key       text NOT NULL DEFAULT '',
    phone_key      text NOT NULL DEFAULT '',
    -- What the text match of ListAccounts searches.
    search         text GENERATED ALWAYS AS (lower(display_name || ' ' || domain)) STORED,
    CONSTRAINT accounts_credit_limit_currency CHECK (credit_limit IS NULL OR currency_code <> ''),
    CONSTRAINT accounts_credit_limit_not_negative CHECK (credit_limit IS NULL OR credit_limit >= 0)
);

-- Keyset pagination: every ordering ends in id.
CREATE INDEX accounts_created ON accounts (created_at, id);
CREATE INDEX accounts_updated ON accounts (updated_at, id);
CREATE INDEX accounts_display_name ON accounts (display_name, id);
CREATE INDEX accounts_owner_created ON accounts (owner, created_at, id);
CREATE INDEX accounts_search ON accounts USING gin (search public.gin_trgm_ops);
-- MatchCustomers and the matching filters.
CREATE INDEX accounts_name_key ON accounts (name_key) WHERE name_key <> '';
CREATE INDEX accounts_domain ON accounts (domain) WHERE domain <> '';
CREATE INDEX accounts_phone_key ON accounts (phone_key) WHERE phone_key <> '';
CREATE INDEX accounts_source_lead ON accounts (source_lead) WHERE source_lead <> '';

CREATE TABLE contacts (
    id             uuid PRIMARY KEY,
    first_name     text NOT NULL DEFAULT '',
    last_name      text NOT NULL DEFAULT '',
    title          text NOT NULL DEFAULT '',
    department     text NOT NULL DEFAULT '',
    emails         jsonb NOT NULL DEFAULT '[]',
    phones         jsonb NOT NULL DEFAULT '[]',
    birthday       jsonb,
    account_id     uuid REFERENCES accounts (id),
    is_primary     boolean NOT NULL DEFAULT false,
    source_lead    text NOT NULL DEFAULT '',
    owner          text NOT NULL,
    custom_fields  jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL,
    created_by     text NOT NULL,
    updated_at     timestamptz NOT NULL,
    updated_by     text NOT NULL,
    version        bigint NOT NULL,
    -- Normalised keys of every email address and phone number.
    email_keys     text[] NOT NULL DEFAULT '{}',
    phone_keys     text[] NOT NULL DEFAULT '{}',
    -- Names and email addresses, lower case, for the text match.
    search         text NOT NULL DEFAULT '',
    -- The filter form of the account: 'accounts/<id>' or ''.
    account        text GENERATED ALWAYS AS (CASE WHEN account_id IS NULL THEN '' ELSE 'accounts/' || account_id::text END) STORED,
    CONSTRAINT contacts_name CHECK (first_name <> '' OR last_name <> ''),
    CONSTRAINT contacts_primary_has_account CHECK (NOT is_primary OR account_id IS NOT NULL)
);

-- The backstop of "one primary contact per account": the service
-- serialises primary changes by locking the account row.
CREATE UNIQUE INDEX contacts_one_primary ON contacts (account_id) WHERE is_primary;
CREATE INDEX contacts_account_created ON contacts (account, created_at, id);
CREATE INDEX contacts_account_id ON contacts (account_id, created_at, id) WHERE account_id IS NOT NULL;
CREATE INDEX contacts_created ON contacts (created_at, id);
CREATE INDEX contacts_updated ON contacts (updated_at, id);
CREATE INDEX contacts_last_name ON contacts (last_name, id);
CREATE INDEX contacts_owner_created ON contacts (owner, created_at, id);
CREATE INDEX contacts_email_keys ON contacts USING gin (email_keys);
CREATE INDEX contacts_phone_keys ON contacts USING gin (phone_keys);
CREATE INDEX contacts_search ON contacts USING gin (search public.gin_trgm_ops);
CREATE INDEX contacts_source_lead ON contacts (source_lead) WHERE source_lead <> '';

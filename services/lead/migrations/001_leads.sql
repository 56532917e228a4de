-- Trigram index support for the text match of ListLeads. Installed once per
-- database, in public; pg_trgm is a trusted extension.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE TABLE leads (
    id                       uuid PRIMARY KEY,
    first_name               text NOT NULL DEFAULT '',
    last_name                text NOT NULL DEFAULT '',
    company                  text NOT NULL DEFAULT '',
    title                    text NOT NULL DEFAULT '',
    email                    text NOT NULL DEFAULT '',
    phone                    text NOT NULL DEFAULT '',
    website                  text NOT NULL DEFAULT '',
    address                  jsonb,
    source                   text NOT NULL,
    campaign                 text NOT NULL DEFAULT '',
    rating                   text NOT NULL DEFAULT '',
    status                   text NOT NULL,
    owner                    text NOT NULL,
    next_contact_at          timestamptz,
    description              text NOT NULL DEFAULT '',
    custom_fields            jsonb NOT NULL DEFAULT '{}',
    disqualify_reason        text,
    disqualify_note          text,
    disqualified_at          timestamptz,
    disqualified_by          text,
    status_before_disqualify text,
    last_activity_at         timestamptz,
    created_at               timestamptz NOT NULL,
    created_by               text NOT NULL,
    updated_at               timestamptz NOT NULL,
    updated_by               text NOT NULL,
    version                  bigint NOT NULL,
    -- What the text match of ListLeads searches: names, email, company.
    search                   text GENERATED ALWAYS AS (
        lower(first_name || ' ' || last_name || ' ' || email || ' ' || company)
    ) STORED,
    CONSTRAINT leads_status_valid CHECK (status IN ('NEW', 'CONTACTED', 'NURTURING', 'QUALIFIED', 'DISQUALIFIED')),
    CONSTRAINT leads_rating_valid CHECK (rating IN ('', 'COLD', 'WARM', 'HOT')),
    CONSTRAINT leads_name_or_company CHECK (first_name <> '' OR last_name <> '' OR company <> ''),
    CONSTRAINT leads_disqualified_has_reason CHECK (status <> 'DISQUALIFIED' OR disqualify_reason IS NOT NULL)
);

-- Keyset pagination: every ordering ends in id as tie-breaker.
CREATE INDEX leads_created ON leads (created_at, id);
CREATE INDEX leads_updated ON leads (updated_at, id);
CREATE INDEX leads_last_name ON leads (last_name, id);
CREATE INDEX leads_company ON leads (company, id);
-- The common filters, in the default order.
CREATE INDEX leads_owner_created ON leads (owner, created_at, id);
CREATE INDEX leads_status_created ON leads (status, created_at, id);
CREATE INDEX leads_email ON leads (lower(email));
CREATE INDEX leads_campaign_created ON leads (campaign, created_at, id) WHERE campaign <> '';
CREATE INDEX leads_search ON leads USING gin (search public.gin_trgm_ops);
-- The planner estimates LIKE '%term%' by matching the term against the
-- column's histogram; the default 100 entries say "rare" for nearly every
-- term and lead it to walk the wrong index. 1000 entries estimate to 0.1%.
ALTER TABLE leads ALTER COLUMN search SET STATISTICS 1000;

CREATE TABLE activities (
    id          uuid PRIMARY KEY,
    lead_id     uuid NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    type        text NOT NULL CHECK (type IN ('NOTE', 'CALL', 'EMAIL', 'MEETING')),
    subject     text NOT NULL DEFAULT '',
    body        text NOT NULL DEFAULT '',
    direction   text NOT NULL DEFAULT '',
    duration    interval,
    occur_at    timestamptz NOT NULL,
    author      text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX activities_lead_occur ON activities (lead_id, occur_at DESC, id DESC);

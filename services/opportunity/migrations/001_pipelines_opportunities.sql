-- Trigram index support for the text match of ListOpportunities.
-- Installed once per database, in public.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE TABLE pipelines (
    id            uuid PRIMARY KEY,
    display_name  text NOT NULL CHECK (display_name <> ''),
    is_default    boolean NOT NULL DEFAULT false,
    -- The ordered stages, replaced as a whole: a JSON array of
    -- {id, display_name, kind, probability, forecast_category, retired}.
    stages        jsonb NOT NULL,
    created_at    timestamptz NOT NULL,
    created_by    text NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text NOT NULL,
    version       bigint NOT NULL
);

-- Exactly one default pipeline: at most one by this index, at least one
-- because the service only ever moves the flag in one transaction.
CREATE UNIQUE INDEX pipelines_one_default ON pipelines ((true)) WHERE is_default;
CREATE INDEX pipelines_created ON pipelines (created_at, id);

-- The default pipeline every database starts with. Migrations run once per
-- database under an advisory lock, so replicas starting together seed it
-- once; its id is fixed so that it is the same everywhere.
INSERT INTO pipelines (id, display_name, is_default, stages, created_at, created_by, updated_at, updated_by, version)
VALUES ('00000000-0000-4000-8000-000000000001', 'Sales', true, '[
  {"id": "qualification",   "display_name": "Qualification",   "kind": "OPEN", "probability": 10,  "forecast_category": "PIPELINE"},
  {"id": "needs_analysis",  "display_name": "Needs Analysis",  "kind": "OPEN", "probability": 25,  "forecast_category": "PIPELINE"},
  {"id": "proposal",        "display_name": "Proposal",        "kind": "OPEN", "probability": 50,  "forecast_category": "BEST_CASE"},
  {"id": "negotiation",     "display_name": "Negotiation",     "kind": "OPEN", "probability": 75,  "forecast_category": "COMMIT"},
  {"id": "won",             "display_name": "Won",             "kind": "WON",  "probability": 100, "forecast_category": "CLOSED"},
  {"id": "lost",            "display_name": "Lost",            "kind": "LOST", "probability": 0,   "forecast_category": "OMITTED"}
]', now(), 'system', now(), 'system', 1);

CREATE TABLE loss_reasons (
    id            text PRIMARY KEY,
    display_name  text NOT NULL CHECK (display_name <> ''),
    retired       boolean NOT NULL DEFAULT false,
    position      int NOT NULL
);

INSERT INTO loss_reasons (id, display_name, position) VALUES
    ('price', 'Price', 1),
    ('competitor', 'Lost to a competitor', 2),
    ('no_budget', 'No budget', 3),
    ('no_decision', 'No decision', 4),
    ('timing', 'Timing', 5),
    ('product_fit', 'Product fit', 6),
    ('other', 'Other', 7);

CREATE TABLE opportunities (
    id                     uuid PRIMARY KEY,
    display_name           text NOT NULL CHECK (display_name <> ''),
    account_id             uuid NOT NULL,
    contact_id             uuid,
    owner                  text NOT NULL,
    source_lead            text NOT NULL DEFAULT '',
    pipeline_id            uuid NOT NULL REFERENCES pipelines (id),
    stage                  text NOT NULL,
    -- The last open stage it was in: where :reopen goes by default.
    last_open_stage        text NOT NULL,
    state                  text NOT NULL CHECK (state IN ('OPEN', 'WON', 'LOST', 'DISQUALIFIED')),
    currency_code          text NOT NULL DEFAULT '',
    -- Exact amount in currency_code; never a float.
    amount                 numeric,
    -- Line items: a JSON array of {product, quantity, unit_price,
    -- discount_percent, amount}, decimals as strings.
    line_items             jsonb NOT NULL DEFAULT '[]',
    expected_close_date    date,
    probability            int NOT NULL CHECK (probability BETWEEN 0 AND 100),
    probability_overridden boolean NOT NULL DEFAULT false,
    forecast_category      text NOT NULL,
    forecast_overridden    boolean NOT NULL DEFAULT false,
    next_step              text NOT NULL DEFAULT '',
    description            text NOT NULL DEFAULT '',
    loss_reason            text NOT NULL DEFAULT '',
    competitor             text NOT NULL DEFAULT '',
    close_note             text NOT NULL DEFAULT '',
    close_time             timestamptz,
    stage_entered_at       timestamptz NOT NULL,
    created_at             timestamptz NOT NULL,
    created_by             text NOT NULL,
    updated_at             timestamptz NOT NULL,
    updated_by             text NOT NULL,
    version                bigint NOT NULL,
    -- Filter forms of the references.
    account         text GENERATED ALWAYS AS ('accounts/' || account_id::text) STORED,
    primary_contact text GENERATED ALWAYS AS (CASE WHEN contact_id IS NULL THEN '' ELSE 'contacts/' || contact_id::text END) STORED,
    pipeline        text GENERATED ALWAYS AS ('pipelines/' || pipeline_id::text) STORED,
    search          text GENERATED ALWAYS AS (lower(display_name)) STORED,
    CONSTRAINT opportunities_amount_currency CHECK (amount IS NULL OR currency_code <> ''),
    CONSTRAINT opportunities_amount_not_negative CHECK (amount IS NULL OR amount >= 0)
);

-- Keyset pagination: every ordering ends in id.
CREATE INDEX opportunities_created ON opportunities (created_at, id);
CREATE INDEX opportunities_updated ON opportunities (updated_at, id);
CREATE INDEX opportunities_close_date ON opportunities ((coalesce(expected_close_date, 'infinity'::date)), id);
CREATE INDEX opportunities_amount ON opportunities ((coalesce(amount, 0)), id);
CREATE INDEX opportunities_account ON opportunities (account_id, created_at, id);
CREATE INDEX opportunities_owner_created ON opportunities (owner, created_at, id);
CREATE INDEX opportunities_pipeline_stage ON opportunities (pipeline_id, stage);
CREATE INDEX opportunities_search ON opportunities USING gin (search public.gin_trgm_ops);
CREATE INDEX opportunities_source_lead ON opportunities (source_lead) WHERE source_lead <> '';
-- GetForecast reads only open opportunities by expected close date; the
-- index carries every column the forecast groups and sums, so it is
-- answered from the index alone (index-only scan).
CREATE INDEX opportunities_forecast ON opportunities (expected_close_date)
    INCLUDE (owner, pipeline_id, stage, forecast_category, currency_code, amount, probability)
    WHERE state = 'OPEN';
-- GetSalesPerformance reads closed opportunities by close time.
CREATE INDEX opportunities_closed ON opportunities (close_time)
    INCLUDE (owner, state, currency_code, amount, created_at)
    WHERE state IN ('WON', 'LOST');

-- Every stage change of every opportunity (kept when it is deleted).
CREATE TABLE stage_changes (
    id                 uuid PRIMARY KEY,
    opportunity_id     uuid NOT NULL,
    pipeline_id        uuid NOT NULL,
    from_stage         text NOT NULL,
    to_stage           text NOT NULL,
    actor              text NOT NULL,
    changed_at         timestamptz NOT NULL,
    -- Microseconds spent in from_stage; 0 for the first stage.
    time_in_previous   bigint NOT NULL
);

CREATE INDEX stage_changes_opportunity ON stage_changes (opportunity_id, changed_at, id);

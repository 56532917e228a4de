-- Trigram index support for the text match of ListOrders/ListContracts.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE TABLE orders (
    id                         uuid PRIMARY KEY,
    display_name               text NOT NULL,
    account_id                 uuid NOT NULL,
    contact_id                 uuid,
    owner                      text NOT NULL,
    currency_code              text NOT NULL,
    -- The lines: a JSON array of {id, product_code, product_name, quantity,
    -- unit_price, discount_percent, tax_rate, fulfilled, subtotal,
    -- discount, tax, total}, decimals as strings.
    lines                      jsonb NOT NULL DEFAULT '[]',
    -- Exact sums of the rounded lines; never floats.
    subtotal                   numeric NOT NULL,
    discount                   numeric NOT NULL,
    tax                        numeric NOT NULL,
    total                      numeric NOT NULL,
    status                     text NOT NULL CHECK (status IN ('DRAFT', 'CONFIRMED', 'ON_HOLD', 'FULFILLED', 'CLOSED', 'CANCELLED')),
    expected_fulfillment_date  date,
    description                text NOT NULL DEFAULT '',
    source_opportunity_id      uuid,
    -- The one order a won opportunity made by itself.
    from_win                   boolean NOT NULL DEFAULT false,
    source_lead_id             uuid,
    credit_check               jsonb,
    payment_terms              text NOT NULL DEFAULT '',
    -- What the order counts in its account's exposure now.
    exposure                   numeric NOT NULL DEFAULT 0,
    closed_from                text NOT NULL DEFAULT '',
    hold_reason                text NOT NULL DEFAULT '',
    cancel_reason              text NOT NULL DEFAULT '',
    confirmed_at               timestamptz,
    fulfilled_at               timestamptz,
    closed_at                  timestamptz,
    cancelled_at               timestamptz,
    created_at                 timestamptz NOT NULL,
    created_by                 text NOT NULL,
    updated_at                 timestamptz NOT NULL,
    updated_by                 text NOT NULL,
    version                    bigint NOT NULL,
    last_line_id               int NOT NULL DEFAULT 0,
    -- Filter forms of the references.
    account            text GENERATED ALWAYS AS ('accounts/' || account_id::text) STORED,
    contact            text GENERATED ALWAYS AS (CASE WHEN contact_id IS NULL THEN '' ELSE 'contacts/' || contact_id::text END) STORED,
    source_opportunity text GENERATED ALWAYS AS (CASE WHEN source_opportunity_id IS NULL THEN '' ELSE 'opportunities/' || source_opportunity_id::text END) STORED,
    source_lead        text GENERATED ALWAYS AS (CASE WHEN source_lead_id IS NULL THEN '' ELSE 'leads/' || source_lead_id::text END) STORED,
    search             text GENERATED ALWAYS AS (lower(display_name)) STORED,
    CONSTRAINT orders_amounts CHECK (total >= 0 AND exposure >= 0)
);

-- Exactly one order per won opportunity, whatever redeliveries happen.
CREATE UNIQUE INDEX orders_one_per_win ON orders (source_opportunity_id) WHERE from_win;
-- Keyset pagination: every ordering ends in id.
CREATE INDEX orders_created ON orders (created_at, id);
CREATE INDEX orders_updated ON orders (updated_at, id);
CREATE INDEX orders_total ON orders (total, id);
CREATE INDEX orders_account ON orders (account_id, created_at, id);
CREATE INDEX orders_owner ON orders (owner, created_at, id);
CREATE INDEX orders_source_opportunity ON orders (source_opportunity_id) WHERE source_opportunity_id IS NOT NULL;
CREATE INDEX orders_source_lead ON orders (source_lead_id) WHERE source_lead_id IS NOT NULL;
CREATE INDEX orders_search ON orders USING gin (search public.gin_trgm_ops);
-- GetOrderPipeline groups by status and currency from the index alone.
CREATE INDEX orders_pipeline ON orders (status, currency_code) INCLUDE (owner, total);
-- GetOrderPerformance reads orders by confirm time.
CREATE INDEX orders_confirmed ON orders (confirmed_at)
    INCLUDE (owner, currency_code, status, subtotal, discount, fulfilled_at)
    WHERE confirmed_at IS NOT NULL;

-- Every status change of every order, and notes on what did not change
-- one (from_status = to_status).
CREATE TABLE order_status_changes (
    id           uuid PRIMARY KEY,
    order_id     uuid NOT NULL,
    from_status  text NOT NULL,
    to_status    text NOT NULL,
    reason       text NOT NULL DEFAULT '',
    actor        text NOT NULL,
    changed_at   timestamptz NOT NULL
);
CREATE INDEX order_status_changes_order ON order_status_changes (order_id, changed_at, id);

-- Credit exposure per account and currency: the open value of its
-- confirmed, not yet closed orders. Exposure-raising steps lock the row,
-- so two racing confirms on one account take turns.
CREATE TABLE credit_exposure (
    account_id     uuid NOT NULL,
    currency_code  text NOT NULL,
    amount         numeric NOT NULL DEFAULT 0 CHECK (amount >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, currency_code)
);

-- Every change of an exposure, with the balance after it.
CREATE TABLE credit_ledger (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id     uuid NOT NULL,
    currency_code  text NOT NULL,
    order_id       uuid NOT NULL,
    delta          numeric NOT NULL,
    balance        numeric NOT NULL,
    reason         text NOT NULL,
    actor          text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credit_ledger_account ON credit_ledger (account_id, currency_code, id);
CREATE INDEX credit_ledger_order ON credit_ledger (order_id);

CREATE TABLE contracts (
    id                     uuid PRIMARY KEY,
    display_name           text NOT NULL,
    account_id             uuid NOT NULL,
    contact_id             uuid,
    owner                  text NOT NULL,
    currency_code          text NOT NULL,
    -- The recurring lines and every amendment: a JSON array of {from,
    -- lines, amount, actor, at}; the last is the current one.
    rates                  jsonb NOT NULL,
    -- Net per billing period as last amended.
    recurring_amount       numeric NOT NULL,
    status                 text NOT NULL CHECK (status IN ('DRAFT', 'ACTIVE', 'RENEWED', 'NON_RENEWING', 'EXPIRED', 'CANCELLED')),
    start_date             date NOT NULL,
    term_months            int NOT NULL,
    evergreen              boolean NOT NULL,
    billing_interval       text NOT NULL,
    billing_anchor_day     int NOT NULL CHECK (billing_anchor_day BETWEEN 1 AND 31),
    auto_renew             boolean NOT NULL,
    renewal_term_months    int NOT NULL,
    notice_period_days     int NOT NULL,
    renewal_lead_days      int NOT NULL,
    -- Every term: a JSON array of {number, start, end, months, outcome,
    -- renewal_opportunity, renewal_due_at, renewal_lost, ended_at}.
    terms                  jsonb NOT NULL DEFAULT '[]',
    term_number            int NOT NULL DEFAULT 0,
    term_end_date          date,
    notice_date            date,
    cancel_reason          text NOT NULL DEFAULT '',
    cancel_effective_date  date,
    source_opportunity_id  uuid,
    description            text NOT NULL DEFAULT '',
    activated_at           timestamptz,
    created_at             timestamptz NOT NULL,
    created_by             text NOT NULL,
    updated_at             timestamptz NOT NULL,
    updated_by             text NOT NULL,
    version                bigint NOT NULL,
    account            text GENERATED ALWAYS AS ('accounts/' || account_id::text) STORED,
    source_opportunity text GENERATED ALWAYS AS (CASE WHEN source_opportunity_id IS NULL THEN '' ELSE 'opportunities/' || source_opportunity_id::text END) STORED,
    search             text GENERATED ALWAYS AS (lower(display_name)) STORED
);

-- Exactly one contract per won recurring deal.
CREATE UNIQUE INDEX contracts_one_per_win ON contracts (source_opportunity_id) WHERE source_opportunity_id IS NOT NULL;
CREATE INDEX contracts_created ON contracts (created_at, id);
CREATE INDEX contracts_updated ON contracts (updated_at, id);
CREATE INDEX contracts_term_end ON contracts ((coalesce(term_end_date, 'infinity'::date)), id);
CREATE INDEX contracts_account ON contracts (account_id, created_at, id);
CREATE INDEX contracts_owner ON contracts (owner, created_at, id);
CREATE INDEX contracts_search ON contracts USING gin (search public.gin_trgm_ops);
CREATE INDEX contracts_pipeline ON contracts (status, currency_code) INCLUDE (owner, recurring_amount, billing_interval);

-- A contract's billing schedule as the revenue forecast sees it: its net
-- amount and number of periods per month of period start.
CREATE TABLE contract_revenue (
    contract_id    uuid NOT NULL,
    month          date NOT NULL,
    owner          text NOT NULL,
    currency_code  text NOT NULL,
    amount         numeric NOT NULL,
    periods        int NOT NULL,
    PRIMARY KEY (contract_id, month)
);

-- The revenue forecast, kept by month, owner and currency in the
-- transaction of every change that moves it (orders confirmed, cancelled,
-- re-dated; contract schedules), so that reading it never scans orders.
CREATE TABLE revenue_monthly (
    month            date NOT NULL,
    owner            text NOT NULL,
    currency_code    text NOT NULL,
    order_amount     numeric NOT NULL DEFAULT 0,
    order_count      bigint NOT NULL DEFAULT 0,
    contract_amount  numeric NOT NULL DEFAULT 0,
    period_count     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (month, owner, currency_code)
);
CREATE INDEX revenue_monthly_owner ON revenue_monthly (owner, month);

-- The MRR ledger: every change of a contract's monthly recurring revenue
-- from a date. MRR as of a day is the sum of the movements effective on
-- or before it.
CREATE TABLE mrr_movements (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contract_id     uuid NOT NULL,
    owner           text NOT NULL,
    currency_code   text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('NEW', 'EXPANSION', 'CONTRACTION', 'CHURN', 'RENEWAL')),
    effective_date  date NOT NULL,
    delta           numeric NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mrr_movements_date ON mrr_movements (effective_date) INCLUDE (currency_code, owner, kind, delta);
CREATE INDEX mrr_movements_contract ON mrr_movements (contract_id, effective_date);

-- Projections of the other services' events.
-- Who owns each account (AccountCreated/AccountUpdated), so that a
-- salesperson reads the orders of its accounts without a call.
CREATE TABLE account_owners (
    account_id  uuid PRIMARY KEY,
    owner       text NOT NULL,
    -- Stream sequence of the event that said so: older events lose.
    seq         bigint NOT NULL
);
CREATE INDEX account_owners_owner ON account_owners (owner);

-- Won opportunities (OpportunityWon; Lost/Reopened take it back), so a
-- salesperson's order from one can be checked without a call.
CREATE TABLE opportunity_wins (
    opportunity_id  uuid PRIMARY KEY,
    account_id      uuid NOT NULL,
    owner           text NOT NULL,
    won             boolean NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

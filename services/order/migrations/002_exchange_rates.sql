-- Dated exchange rates as admins entered them (never fetched): from
-- effective_date until the pair's next rate, one unit of base_currency is
-- worth rate units of quote_currency. rate is kept as entered (numeric
-- keeps its scale, trailing zeros included).
CREATE TABLE exchange_rates (
    id              uuid PRIMARY KEY,
    base_currency   text NOT NULL CHECK (base_currency ~ '^[A-Z]{3}$'),
    quote_currency  text NOT NULL CHECK (quote_currency ~ '^[A-Z]{3}$'),
    rate            numeric NOT NULL CHECK (rate > 0),
    effective_date  date NOT NULL,
    source          text NOT NULL CHECK (source <> ''),
    created_at      timestamptz NOT NULL,
    created_by      text NOT NULL,
    updated_at      timestamptz NOT NULL,
    updated_by      text NOT NULL,
    version         bigint NOT NULL,
    CHECK (base_currency <> quote_currency),
    -- One rate per pair and day; also the reports' lookup (the latest on
    -- or before a date: a backward scan).
    CONSTRAINT exchange_rates_pair_date UNIQUE (base_currency, quote_currency, effective_date)
);

-- The order service's exchange rates, as its ExchangeRateChanged and
-- ExchangeRateDeleted events said (a projection: rebuilt by replaying the
-- order stream). revision orders the events of one rate whatever order
-- they arrive in; a deleted rate stays as a tombstone so that an older
-- change arriving late cannot bring it back.
CREATE TABLE exchange_rates (
    id              uuid PRIMARY KEY,
    base_currency   text NOT NULL,
    quote_currency  text NOT NULL,
    rate            numeric NOT NULL CHECK (rate > 0),
    effective_date  date NOT NULL,
    source          text NOT NULL,
    revision        bigint NOT NULL,
    deleted         boolean NOT NULL DEFAULT false
);

-- The reports' lookup: the latest live rate of a pair on or before a date.
CREATE INDEX exchange_rates_lookup ON exchange_rates (base_currency, quote_currency, effective_date)
    WHERE NOT deleted;

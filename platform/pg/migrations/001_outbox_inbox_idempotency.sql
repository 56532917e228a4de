-- Transactional outbox: rows are written in the same transaction as the
-- change they announce and deleted by the relay once JetStream acked them.
-- The identity column gives commit order per aggregate, because every write
-- locks its aggregate's row before it appends events.
CREATE TABLE outbox (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       uuid        NOT NULL,
    subject        text        NOT NULL,
    event_type     text        NOT NULL,
    aggregate_id   text        NOT NULL,
    payload        bytea       NOT NULL,
    headers        jsonb,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Inbox: one row per (consumer, event) applied, written in the same
-- transaction as the effect, so a redelivered event changes nothing.
CREATE TABLE inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    subject      text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Idempotency keys: the first response to a request_id, replayed on retry.
CREATE TABLE idempotency_keys (
    request_id   text        NOT NULL,
    method       text        NOT NULL,
    request_hash bytea       NOT NULL,
    response     bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, method)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- Audit trail: one row per change of a record, written in the change's
-- transaction (platform/audit). No foreign key to the record: the history
-- outlives it. Rows are only ever inserted.
CREATE TABLE audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record       text        NOT NULL,
    record_type  text        NOT NULL,
    action       text        NOT NULL,
    actor        text        NOT NULL,
    on_behalf_of text        NOT NULL DEFAULT '',
    method       text        NOT NULL,
    request_id   text        NOT NULL DEFAULT '',
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    changes      jsonb       NOT NULL
);
-- Listing is newest first (id order); these serve one record's trail and
-- the usual filters (a whole collection's trail walks the primary key).
CREATE INDEX audit_log_record ON audit_log (record, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_occurred_at ON audit_log (occurred_at, id);

-- The records of the suite as the workflow service knows them from the
-- other services' events: its projection. Rebuilt by replaying the streams
-- (`workflow rebuild-projection`).
CREATE TABLE records (
    name          text PRIMARY KEY,
    type          text NOT NULL,
    display_name  text NOT NULL DEFAULT '',
    owner         text NOT NULL DEFAULT '',
    -- The account whose timeline the record's activities are on.
    account       text NOT NULL DEFAULT '',
    status        text NOT NULL DEFAULT '',
    -- The record's API message (protobuf), as the last event carried it.
    message       bytea,
    deleted       boolean NOT NULL DEFAULT false,
    -- Stream position of that event: an older one changes nothing.
    seq           bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX records_account ON records (account) WHERE account <> '';
CREATE INDEX records_owner ON records (owner, type);

-- Users the suite knows: every owner and actor seen in the events.
CREATE TABLE users (
    id          text PRIMARY KEY,
    first_seen  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE activities (
    id              uuid PRIMARY KEY,
    type            text NOT NULL CHECK (type IN ('NOTE', 'CALL', 'EMAIL', 'MEETING', 'TODO')),
    regarding       text NOT NULL,
    regarding_type  text NOT NULL,
    regarding_name  text NOT NULL DEFAULT '',
    account         text NOT NULL DEFAULT '',
    subject         text NOT NULL DEFAULT '',
    body            text NOT NULL DEFAULT '',
    direction       text NOT NULL DEFAULT '',
    outcome         text NOT NULL DEFAULT '',
    duration_us     bigint NOT NULL DEFAULT 0,
    participants    text[] NOT NULL DEFAULT '{}',
    owner           text NOT NULL,
    status          text NOT NULL CHECK (status IN ('OPEN', 'DONE', 'CANCELLED')),
    occur_at        timestamptz,
    due_at          timestamptz,
    reminder_at     timestamptz,
    completed_at    timestamptz,
    cancel_reason   text NOT NULL DEFAULT '',
    rule_id         uuid,
    key             text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    created_by      text NOT NULL,
    updated_at      timestamptz NOT NULL,
    updated_by      text NOT NULL,
    version         bigint NOT NULL,
    -- Where it sits on a timeline: when it happened, else when it is due.
    at              timestamptz GENERATED ALWAYS AS (coalesce(occur_at, due_at)) STORED
);
-- Timelines, newest first, keyset paged: a record's, an account's.
CREATE INDEX activities_regarding ON activities (regarding, at DESC, id DESC);
CREATE INDEX activities_account ON activities (account, at DESC, id DESC) WHERE account <> '';
CREATE INDEX activities_at ON activities (at DESC, id DESC);
-- To-do lists: an owner's open tasks by due time.
CREATE INDEX activities_open_tasks ON activities (owner, due_at, id) WHERE status = 'OPEN';
-- Calendars: an owner's scheduled activities by due time.
CREATE INDEX activities_owner_due ON activities (owner, due_at) WHERE due_at IS NOT NULL;
-- One open task per record and key (rules' call-backs).
CREATE UNIQUE INDEX activities_one_open_per_key ON activities (regarding, key) WHERE status = 'OPEN' AND key <> '';

CREATE TABLE rules (
    id            uuid PRIMARY KEY,
    display_name  text NOT NULL,
    description   text NOT NULL DEFAULT '',
    enabled       boolean NOT NULL,
    -- Event triggers: the full event message names; time triggers: the
    -- record type, field, offset and yearly.
    event_types   text[] NOT NULL DEFAULT '{}',
    time_record_type text NOT NULL DEFAULT '',
    time_field    text NOT NULL DEFAULT '',
    time_offset_us bigint NOT NULL DEFAULT 0,
    time_yearly   boolean NOT NULL DEFAULT false,
    condition     text NOT NULL DEFAULT '',
    -- The actions in order: {"create_task": {...}} | {"update_field": ...} | {"notify": ...}.
    actions       jsonb NOT NULL,
    seeded        boolean NOT NULL DEFAULT false,
    deleted       boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    created_by    text NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text NOT NULL,
    version       bigint NOT NULL
);
CREATE INDEX rules_event_types ON rules USING gin (event_types) WHERE enabled AND NOT deleted;
CREATE INDEX rules_time ON rules (time_record_type) WHERE enabled AND NOT deleted AND time_record_type <> '';
CREATE INDEX rules_created ON rules (created_at, id);

-- Every run of a rule for a record: at most one per (rule, event) and per
-- (rule, record, due time), so a redelivered event or a re-fired timer
-- never runs a rule twice, and editing a rule never re-fires past runs.
CREATE TABLE rule_runs (
    id                uuid PRIMARY KEY,
    rule_id           uuid NOT NULL,
    rule_version      bigint NOT NULL,
    record            text NOT NULL,
    event_id          uuid,
    event_type        text NOT NULL DEFAULT '',
    -- Who caused the triggering event: the workflow service's own
    -- changes count towards the loop bound.
    event_actor       text NOT NULL DEFAULT '',
    due_at            timestamptz,
    input             jsonb,
    condition_result  boolean NOT NULL,
    status            text NOT NULL CHECK (status IN ('SKIPPED', 'PENDING', 'SUCCEEDED', 'FAILED')),
    -- One result per action: {index, done, detail, error}.
    actions           jsonb NOT NULL DEFAULT '[]',
    error             text NOT NULL DEFAULT '',
    attempts          int NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL,
    finished_at       timestamptz
);
CREATE UNIQUE INDEX rule_runs_event ON rule_runs (rule_id, event_id, record) WHERE event_id IS NOT NULL;
CREATE UNIQUE INDEX rule_runs_due ON rule_runs (rule_id, record, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX rule_runs_rule ON rule_runs (rule_id, created_at DESC, id DESC);
CREATE INDEX rule_runs_record ON rule_runs (record, created_at DESC);
CREATE INDEX rule_runs_created ON rule_runs (created_at DESC, id DESC);

-- Calendar feeds: a user's private iCalendar URL. Only the token's
-- SHA-256 is kept.
CREATE TABLE calendar_feeds (
    id            uuid PRIMARY KEY,
    owner         text NOT NULL,
    token_prefix  text NOT NULL,
    token_hash    bytea NOT NULL,
    created_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX calendar_feeds_owner ON calendar_feeds (owner, created_at);

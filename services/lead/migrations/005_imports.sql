-- Bulk imports: one row per import job, its rejected rows, by line.
CREATE TABLE import_jobs (
    id               uuid PRIMARY KEY,
    request_id       uuid UNIQUE,
    display_name     text NOT NULL DEFAULT '',
    state            text NOT NULL CHECK (state IN ('RUNNING', 'SUCCEEDED', 'FAILED')),
    mode             text NOT NULL,
    duplicate_policy text NOT NULL,
    default_source   text NOT NULL,
    default_owner    text NOT NULL,
    -- Each (re)start of the job takes the next attempt; a batch commits
    -- only if its attempt is still the current one.
    attempt          int NOT NULL DEFAULT 1,
    received         bigint NOT NULL DEFAULT 0,
    created          bigint NOT NULL DEFAULT 0,
    updated          bigint NOT NULL DEFAULT 0,
    skipped          bigint NOT NULL DEFAULT 0,
    rejected         bigint NOT NULL DEFAULT 0,
    error            text NOT NULL DEFAULT '',
    created_by       text NOT NULL,
    created_at       timestamptz NOT NULL,
    finished_at      timestamptz
);

CREATE TABLE import_rejections (
    job_id     uuid NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    line       bigint NOT NULL,
    reason     text NOT NULL,
    message    text NOT NULL,
    fields     text[] NOT NULL DEFAULT '{}',
    duplicates text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (job_id, line)
);

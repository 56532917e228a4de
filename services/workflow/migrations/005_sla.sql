-- SLAs (issue 13 part 2): business calendars, policies, and the clocks that
-- measure records against them. Warnings and breaches are timers
-- (sla.warning, sla.breach) keyed by the clock id.

CREATE TABLE business_calendars (
    id            uuid PRIMARY KEY,
    display_name  text NOT NULL,
    -- IANA zone name: working hours and holidays are in it.
    time_zone     text NOT NULL,
    -- [{"day": 1, "start": 540, "end": 720}, ...]: ISO weekday (1 is
    -- Monday), minutes after local midnight, [start, end).
    working_hours jsonb NOT NULL,
    -- [{"date": "2025-12-25", "name": "Christmas Day"}, ...]
    holidays      jsonb NOT NULL DEFAULT '[]',
    first_year    int NOT NULL,
    last_year     int NOT NULL CHECK (last_year >= first_year),
    deleted       boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    created_by    text NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text NOT NULL,
    version       bigint NOT NULL
);
CREATE INDEX business_calendars_created ON business_calendars (created_at, id);

CREATE TABLE sla_policies (
    id              uuid PRIMARY KEY,
    display_name    text NOT NULL,
    description     text NOT NULL DEFAULT '',
    enabled         boolean NOT NULL,
    record_type     text NOT NULL CHECK (record_type IN ('LEAD', 'OPPORTUNITY', 'ORDER', 'CONTRACT')),
    condition       text NOT NULL DEFAULT '',
    priority        int NOT NULL DEFAULT 0,
    calendar_id     uuid NOT NULL REFERENCES business_calendars (id),
    -- [{"kind": "FIRST_RESPONSE", "duration_us": 14400000000, "stages": []}, ...]
    targets         jsonb NOT NULL,
    warning_percent int NOT NULL CHECK (warning_percent BETWEEN 1 AND 99),
    pause_statuses  text[] NOT NULL DEFAULT '{}',
    deleted         boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    created_by      text NOT NULL,
    updated_at      timestamptz NOT NULL,
    updated_by      text NOT NULL,
    version         bigint NOT NULL
);
-- The policies that may apply to a record, in the order they are tried.
CREATE INDEX sla_policies_applicable ON sla_policies (record_type, priority DESC, created_at, id) WHERE enabled AND NOT deleted;
CREATE INDEX sla_policies_calendar ON sla_policies (calendar_id);
CREATE INDEX sla_policies_created ON sla_policies (created_at, id);

-- A record's clock for one target of its policy (TIME_IN_STAGE: one per
-- stage visited). It ran in the closed intervals seg_starts[i] ..
-- seg_ends[i] and runs since running_since (NULL: paused or finished);
-- elapsed_us is their business time on calendar_id, and warn_at /
-- breach_at the deadlines that follow (the timers' due times).
CREATE TABLE sla_clocks (
    id              uuid PRIMARY KEY,
    record          text NOT NULL,
    record_type     text NOT NULL,
    record_name     text NOT NULL DEFAULT '',
    owner           text NOT NULL DEFAULT '',
    policy_id       uuid NOT NULL REFERENCES sla_policies (id),
    target          text NOT NULL CHECK (target IN ('FIRST_RESPONSE', 'TIME_IN_STAGE', 'TIME_TO_CLOSE', 'CONFIRM_TO_FULFIL')),
    stage           text NOT NULL DEFAULT '',
    started_at      timestamptz NOT NULL,
    seg_starts      timestamptz[] NOT NULL DEFAULT '{}',
    seg_ends        timestamptz[] NOT NULL DEFAULT '{}',
    running_since   timestamptz,
    paused          boolean NOT NULL DEFAULT false,
    calendar_id     uuid NOT NULL REFERENCES business_calendars (id),
    target_us       bigint NOT NULL CHECK (target_us > 0),
    warning_percent int NOT NULL,
    elapsed_us      bigint NOT NULL DEFAULT 0,
    warn_at         timestamptz,
    breach_at       timestamptz,
    warned_at       timestamptz,
    breached_at     timestamptz,
    met_at          timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL
);
-- One running clock per record and target.
CREATE UNIQUE INDEX sla_clocks_running ON sla_clocks (record, target) WHERE finished_at IS NULL;
CREATE INDEX sla_clocks_record ON sla_clocks (record, started_at, id);
-- Recomputing the running clocks of a changed policy or calendar, a page
-- at a time (these also index the foreign keys).
CREATE INDEX sla_clocks_policy ON sla_clocks (policy_id, id);
CREATE INDEX sla_clocks_calendar ON sla_clocks (calendar_id, id);
-- The report: clocks started in a range.
CREATE INDEX sla_clocks_started ON sla_clocks (started_at);

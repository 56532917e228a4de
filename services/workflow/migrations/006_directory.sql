-- The directory (issue 13 part 3): users by their token subject, with
-- what assignment needs to know of them. `users` (001) stays the set of
-- ids the suite has seen; every directory user is in it too.
CREATE TABLE directory_users (
    id             text PRIMARY KEY,
    display_name   text NOT NULL,
    email          text NOT NULL DEFAULT '',
    time_zone      text NOT NULL,
    -- [{"day": 1, "start": 540, "end": 1020}]: weekday (0 Sunday), minutes.
    working_hours  jsonb NOT NULL DEFAULT '[]',
    active         boolean NOT NULL,
    -- [{"start": ..., "end": ..., "note": ...}], by start.
    out_of_office  jsonb NOT NULL DEFAULT '[]',
    teams          text[] NOT NULL DEFAULT '{}',
    territories    text[] NOT NULL DEFAULT '{}',
    capacity       int NOT NULL DEFAULT 0,
    -- Deleted users stay (their version keeps rising if they come back).
    deleted        boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    created_by     text NOT NULL,
    updated_at     timestamptz NOT NULL,
    updated_by     text NOT NULL,
    version        bigint NOT NULL
);
CREATE INDEX directory_users_teams ON directory_users USING gin (teams) WHERE NOT deleted;

CREATE TABLE assignment_rules (
    id              uuid PRIMARY KEY,
    display_name    text NOT NULL,
    record_type     text NOT NULL CHECK (record_type IN ('LEAD', 'OPPORTUNITY', 'ORDER')),
    condition       text NOT NULL DEFAULT '',
    priority        int NOT NULL DEFAULT 0,
    strategy        text NOT NULL CHECK (strategy IN ('ROUND_ROBIN', 'LOAD_BALANCED', 'BY_FIELD')),
    -- {"users": [...], "teams": [...]}
    candidates      jsonb NOT NULL,
    load_measure    text NOT NULL DEFAULT '',
    -- {"field": "SOURCE", "routes": [{"values": [...], "candidates": {...}}]}
    by_field        jsonb,
    any_time        boolean NOT NULL DEFAULT false,
    fallback_owner  text NOT NULL DEFAULT '',
    enabled         boolean NOT NULL,
    deleted         boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    created_by      text NOT NULL,
    updated_at      timestamptz NOT NULL,
    updated_by      text NOT NULL,
    version         bigint NOT NULL
);
-- The order rules are tried in.
CREATE INDEX assignment_rules_order ON assignment_rules (record_type, priority, created_at, id) WHERE enabled AND NOT deleted;
CREATE INDEX assignment_rules_created ON assignment_rules (created_at, id);

-- Round-robin cursors: the user a rule picked last, per bucket (a
-- territory or a source route; '' for the rule as a whole). The
-- transaction that picks locks its cursors (FOR UPDATE, in key order) and
-- moves them before it commits, so concurrent new records queue on the
-- row and never take the same turn.
CREATE TABLE assignment_cursors (
    rule_id    uuid NOT NULL REFERENCES assignment_rules (id),
    bucket     text NOT NULL,
    last_user  text NOT NULL DEFAULT '',
    picks      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (rule_id, bucket)
);

-- How each record was assigned, and why; one per record.
CREATE TABLE assignments (
    record             text PRIMARY KEY,
    record_type        text NOT NULL,
    rule_id            uuid NOT NULL REFERENCES assignment_rules (id),
    rule_version       bigint NOT NULL,
    rule_display_name  text NOT NULL,
    strategy           text NOT NULL,
    previous_owner     text NOT NULL,
    owner              text NOT NULL,
    flagged            boolean NOT NULL,
    -- [{"user", "team", "eligible", "chosen", "skip", "detail", "load", "capacity"}], by user.
    candidates         jsonb NOT NULL,
    rules_skipped      text[] NOT NULL DEFAULT '{}',
    reason             text NOT NULL,
    routed_by          text NOT NULL DEFAULT '',
    state              text NOT NULL CHECK (state IN ('PENDING', 'APPLIED', 'KEPT', 'FAILED')),
    error              text NOT NULL DEFAULT '',
    event_id           uuid NOT NULL,
    decided_at         timestamptz NOT NULL,
    applied_at         timestamptz,
    attempts           int NOT NULL DEFAULT 0,
    -- Load balancing counts an assignment to its owner until the
    -- projection shows the record's owner changed (or it failed).
    settled            boolean NOT NULL DEFAULT false
);
CREATE INDEX assignments_decided ON assignments (decided_at DESC, record DESC);
CREATE INDEX assignments_rule ON assignments (rule_id);
CREATE INDEX assignments_unsettled ON assignments (owner) WHERE NOT settled;

-- Guided processes (issue 13): definitions, every version kept, and one
-- instance per record.
CREATE TABLE process_definitions (
    id            uuid PRIMARY KEY,
    record_type   text NOT NULL CHECK (record_type IN ('LEAD', 'OPPORTUNITY', 'ORDER', 'CONTRACT')),
    pipeline      text NOT NULL DEFAULT '',
    -- The latest version's settings, for listing and the one-active rule.
    display_name  text NOT NULL,
    enforcement   text NOT NULL CHECK (enforcement IN ('BLOCK', 'WARN')),
    active        boolean NOT NULL,
    version       bigint NOT NULL,
    created_at    timestamptz NOT NULL,
    created_by    text NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text NOT NULL
);
-- One active definition per record type and pipeline.
CREATE UNIQUE INDEX process_definitions_one_active ON process_definitions (record_type, pipeline) WHERE active;
CREATE INDEX process_definitions_created ON process_definitions (created_at, id);

-- Every version as it was saved: instances keep theirs.
CREATE TABLE process_definition_versions (
    definition    uuid NOT NULL REFERENCES process_definitions (id),
    version       bigint NOT NULL,
    display_name  text NOT NULL,
    enforcement   text NOT NULL,
    active        boolean NOT NULL,
    -- [{"stage": "...", "steps": [{"id", "title", "required", "condition" | "activity" | "checklist"}]}]
    stages        jsonb NOT NULL,
    created_at    timestamptz NOT NULL,
    created_by    text NOT NULL,
    PRIMARY KEY (definition, version)
);

CREATE TABLE process_instances (
    record        text PRIMARY KEY,
    definition    uuid NOT NULL,
    version       bigint NOT NULL,
    ticked        text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    FOREIGN KEY (definition, version) REFERENCES process_definition_versions (definition, version)
);
CREATE INDEX process_instances_definition ON process_instances (definition, version);

-- Transitions that went through with required steps missing.
CREATE TABLE process_exceptions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record        text NOT NULL,
    definition    uuid NOT NULL,
    version       bigint NOT NULL,
    to_stage      text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('WARN', 'OVERRIDE')),
    actor         text NOT NULL,
    reason        text NOT NULL DEFAULT '',
    missing       jsonb NOT NULL,
    request_id    text NOT NULL DEFAULT '',
    at            timestamptz NOT NULL
);
CREATE INDEX process_exceptions_record ON process_exceptions (record, at DESC, id DESC);
CREATE UNIQUE INDEX process_exceptions_request ON process_exceptions (record, request_id) WHERE request_id <> '';

-- A stage's entry actions run as rules the definition owns (one per stage
-- and version); they act only for records on that version.
ALTER TABLE rules ADD COLUMN process_definition uuid, ADD COLUMN process_version bigint NOT NULL DEFAULT 0;
CREATE INDEX rules_process ON rules (process_definition) WHERE process_definition IS NOT NULL;

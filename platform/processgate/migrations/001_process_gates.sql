-- The process definitions of the workflow service that gate this
-- service's transitions, from ProcessDefinitionChanged (platform/processgate).
CREATE TABLE process_gates (
    definition    text PRIMARY KEY,
    record_type   text NOT NULL,
    pipeline      text NOT NULL DEFAULT '',
    enforcement   text NOT NULL,
    active        boolean NOT NULL,
    version       bigint NOT NULL
);
CREATE INDEX process_gates_active ON process_gates (record_type, pipeline) WHERE active;

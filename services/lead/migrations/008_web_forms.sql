-- Web forms: website forms that create leads, each with a key of its own.
-- Only the key's SHA-256 is stored (key_prefix helps admins tell keys
-- apart); revoked forms stay for the record.
CREATE TABLE web_forms (
    id              uuid PRIMARY KEY,
    display_name    text NOT NULL CHECK (display_name <> ''),
    campaign        text NOT NULL DEFAULT '',
    default_owner   text NOT NULL,
    allowed_origins text[] NOT NULL DEFAULT '{}',
    redirect_uri    text NOT NULL DEFAULT '',
    key_hash        bytea NOT NULL CHECK (length(key_hash) = 32),
    key_prefix      text NOT NULL,
    created_at      timestamptz NOT NULL,
    created_by      text NOT NULL,
    revoked_at      timestamptz,
    revoked_by      text NOT NULL DEFAULT ''
);

-- ListWebForms without revoked forms, newest (UUIDv7) first.
CREATE INDEX web_forms_active ON web_forms (id DESC) WHERE revoked_at IS NULL;

-- A converted lead's contact: its activities show on the contact too.
ALTER TABLE records ADD COLUMN contact text NOT NULL DEFAULT '';
CREATE INDEX records_contact ON records (contact) WHERE contact <> '';

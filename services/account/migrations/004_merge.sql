-- Merged accounts and contacts are kept, read-only, pointing at the
-- record they were merged into (MergeAccounts, MergeContacts).
ALTER TABLE accounts DROP CONSTRAINT accounts_state_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_state_check CHECK (state IN ('ACTIVE', 'INACTIVE', 'MERGED'));
ALTER TABLE accounts ADD COLUMN merged_into uuid REFERENCES accounts (id);
ALTER TABLE accounts ADD CONSTRAINT accounts_merged_into CHECK ((state = 'MERGED') = (merged_into IS NOT NULL));
CREATE INDEX accounts_merged_into ON accounts (merged_into) WHERE merged_into IS NOT NULL;

ALTER TABLE contacts ADD COLUMN merged_into uuid REFERENCES contacts (id);
ALTER TABLE contacts ADD CONSTRAINT contacts_merged_not_primary CHECK (merged_into IS NULL OR NOT is_primary);
CREATE INDEX contacts_merged_into ON contacts (merged_into) WHERE merged_into IS NOT NULL;

-- The orders of each account as the order service's events tell them
-- (crm.order.Order*): a merge refuses to move open orders into an account
-- of another currency without calling the order service. version is the
-- order's, so a late redelivered event changes nothing.
CREATE TABLE orders (
    id             uuid PRIMARY KEY,
    account_id     uuid NOT NULL,
    currency_code  text NOT NULL,
    status         text NOT NULL,
    version        bigint NOT NULL
);
CREATE INDEX orders_open ON orders (account_id) WHERE status NOT IN ('CLOSED', 'CANCELLED');

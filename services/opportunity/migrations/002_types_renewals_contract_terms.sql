-- Opportunity types, the renewal link of RENEWAL opportunities and the
-- contract terms of recurring deals.
ALTER TABLE opportunities
    ADD COLUMN type text NOT NULL DEFAULT 'NEW_BUSINESS'
        CHECK (type IN ('NEW_BUSINESS', 'EXPANSION', 'RENEWAL')),
    -- For a RENEWAL: the contract and its term that ends.
    ADD COLUMN renewal_contract_id uuid,
    ADD COLUMN renewal_term int,
    -- A recurring deal's {billing_interval, term_months, auto_renew}; NULL
    -- for a one-off deal.
    ADD COLUMN contract_terms jsonb,
    -- Filter form of the contract reference.
    ADD COLUMN renewal_contract text GENERATED ALWAYS AS
        (CASE WHEN renewal_contract_id IS NULL THEN '' ELSE 'contracts/' || renewal_contract_id::text END) STORED,
    ADD CONSTRAINT opportunities_renewal CHECK (
        (type = 'RENEWAL') = (renewal_contract_id IS NOT NULL)
        AND (renewal_contract_id IS NULL) = (renewal_term IS NULL)
        AND (renewal_term IS NULL OR renewal_term >= 1)
        AND (type <> 'RENEWAL' OR contract_terms IS NULL));

-- There is never a second renewal opportunity of a term: the renewal
-- consumer inserts ON CONFLICT DO NOTHING against this and the id.
CREATE UNIQUE INDEX opportunities_renewal_term ON opportunities (renewal_contract_id, renewal_term)
    WHERE renewal_contract_id IS NOT NULL;
CREATE INDEX opportunities_renewal_contract ON opportunities (renewal_contract) WHERE renewal_contract <> '';

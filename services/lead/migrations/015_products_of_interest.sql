-- The products a lead is interested in (issue 14, seed 002), a JSON array
-- of {product, quantity, unit_price?}; converted with an opportunity they
-- become its line items.
ALTER TABLE leads ADD COLUMN products jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(products) = 'array');

-- Structured win reasons, configurable like the loss reasons (issue 14,
-- seeds: why deals are won as well as why they are lost).
CREATE TABLE win_reasons (
    id            text PRIMARY KEY,
    display_name  text NOT NULL CHECK (display_name <> ''),
    retired       boolean NOT NULL DEFAULT false,
    position      int NOT NULL
);

INSERT INTO win_reasons (id, display_name, position) VALUES
    ('price', 'Price', 1),
    ('product_fit', 'Product fit', 2),
    ('relationship', 'Relationship', 3),
    ('service', 'Service and support', 4),
    ('timing', 'Timing', 5),
    ('other', 'Other', 6);

ALTER TABLE opportunities ADD COLUMN win_reason text NOT NULL DEFAULT '';


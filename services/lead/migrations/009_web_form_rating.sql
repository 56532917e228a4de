-- The rating of the leads a web form creates ('' for none).
ALTER TABLE web_forms ADD COLUMN default_rating text NOT NULL DEFAULT '';

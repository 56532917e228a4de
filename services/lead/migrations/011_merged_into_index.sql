-- The foreign key merged_into -> leads (id) needs an index on the
-- referencing column: without one, deleting a lead (DeleteLead, or a bulk
-- DELETE) checks for leads merged into it with a scan of the whole table,
-- once per deleted row. Only MERGED leads have merged_into set, so the
-- index holds those alone; the check (merged_into = $1) still uses it.
CREATE INDEX leads_merged_into ON leads (merged_into) WHERE merged_into IS NOT NULL;

-- assert_no_duplicate (migration 013) checks leads and customers in one
-- statement; nothing calls the leads-only check any more.
DROP FUNCTION assert_no_duplicate_lead(uuid, text, text, text);

-- The seeded rules (editable; seed 002): a lead rated HOT gets a call-back
-- task due in 1 day, WARM in 3 days, COLD in 5 days, for its owner. They
-- share the task key "callback": a lead has one open call-back, and a
-- rating change reschedules it rather than adding another. Leads created
-- by hand, by import, by web form and by conversion all raise LeadCreated.
INSERT INTO rules (id, display_name, description, enabled, event_types, condition, actions, seeded,
                   created_at, created_by, updated_at, updated_by, version)
SELECT id::uuid, name, 'Seeded: a ' || lower(rating) || ' lead gets a call-back within ' || days || ' day' ||
           CASE WHEN days = 1 THEN '' ELSE 's' END || '.', true,
       ARRAY['crm.events.v1.LeadCreated', 'crm.events.v1.LeadRatingChanged'],
       'record.rating == Rating.RATING_' || rating ||
           ' && record.status in [Status.STATUS_NEW, Status.STATUS_CONTACTED, Status.STATUS_NURTURING]',
       jsonb_build_array(jsonb_build_object('create_task', jsonb_build_object(
           'type', 'CALL', 'subject', 'Call back', 'due_in', days, 'due_unit', 'DAYS', 'key', 'callback'))),
       true, now(), 'system:seed', now(), 'system:seed', 1
FROM (VALUES ('0192f5a0-0000-7000-8000-000000000001', 'Call back hot leads within 1 day', 'HOT', 1),
             ('0192f5a0-0000-7000-8000-000000000002', 'Call back warm leads within 3 days', 'WARM', 3),
             ('0192f5a0-0000-7000-8000-000000000003', 'Call back cold leads within 5 days', 'COLD', 5)) AS seed(id, name, rating, days)
ON CONFLICT (id) DO NOTHING;

package wire_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/crmsuite/crm/gen/go/crm/audit/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

const leadMethod = "/crm.lead.v1.LeadService/"

func (s *suite) audit(t *testing.T, ctx context.Context, req *leadv1.ListAuditEntriesRequest) []*auditv1.AuditEntry {
	t.Helper()
	resp, err := s.client.ListAuditEntries(ctx, req)
	if err != nil {
		t.Fatalf("ListAuditEntries(%v): %v", req, err)
	}
	return resp.AuditEntries
}

// changes maps an entry's changes by field to [old, new] as compact JSON.
func changes(e *auditv1.AuditEntry) map[string][2]string {
	out := map[string][2]string{}
	js := func(v *structpb.Value) string {
		if v == nil {
			return ""
		}
		b, _ := v.MarshalJSON()
		var c bytes.Buffer
		_ = json.Compact(&c, b)
		return c.String()
	}
	for _, c := range e.Changes {
		out[c.Field] = [2]string{js(c.OldValue), js(c.NewValue)}
	}
	return out
}

func TestAuditTrailOfALead(t *testing.T) {
	t.Parallel()
	s := start(t)
	alice, bob := testkit.As("alice", "sales"), testkit.As("bob", "sales")
	carol, root := testkit.As("carol", "manager"), testkit.As("root", "admin")
	reqID := uuid.NewString()
	l, err := s.client.CreateLead(alice, &leadv1.CreateLeadRequest{RequestId: reqID, Lead: &leadv1.Lead{
		LastName: "Lovelace", Company: "Analytical Engines", Rating: leadv1.Rating_RATING_WARM,
		CustomFields: map[string]string{"size": "10"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	l, err = s.client.UpdateLead(alice, &leadv1.UpdateLeadRequest{
		Lead:       &leadv1.Lead{Name: l.Name, Rating: leadv1.Rating_RATING_HOT, Title: "CTO"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rating", "title"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// An update that changes nothing leaves no entry.
	if _, err := s.client.UpdateLead(alice, &leadv1.UpdateLeadRequest{
		Lead: &leadv1.Lead{Name: l.Name, Title: "CTO"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.UpdateLead(carol, &leadv1.UpdateLeadRequest{
		Lead:       &leadv1.Lead{Name: l.Name, CustomFields: map[string]string{"size": "20"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"custom_fields"}},
	}); err != nil {
		t.Fatal(err)
	}

	entries := s.audit(t, alice, &leadv1.ListAuditEntriesRequest{Parent: l.Name})
	if len(entries) != 3 {
		t.Fatalf("entries = %v", entries)
	}
	byCarol, byAlice, created := entries[0], entries[1], entries[2]
	if created.Action != auditv1.AuditEntry_ACTION_CREATE || created.Actor != "alice" || created.Method != leadMethod+"CreateLead" ||
		created.RequestId != reqID || created.Record != l.Name || created.RecordType != "crm.lead.v1.Lead" ||
		created.Name == "" || created.Time == nil {
		t.Errorf("create entry = %v", created)
	}
	c := changes(created)
	if c["last_name"] != [2]string{"", `"Lovelace"`} || c["rating"] != [2]string{"", `"RATING_WARM"`} ||
		c["custom_fields"] != [2]string{"", `{"size":"10"}`} || c["status"] != [2]string{"", `"STATUS_NEW"`} {
		t.Errorf("create changes = %v", c)
	}
	for _, f := range []string{"name", "etag", "create_time", "update_time", "created_by", "updated_by"} {
		if _, ok := c[f]; ok {
			t.Errorf("create entry records bookkeeping field %s", f)
		}
	}
	if c := changes(byAlice); byAlice.Action != auditv1.AuditEntry_ACTION_UPDATE || byAlice.Method != leadMethod+"UpdateLead" ||
		len(c) != 2 || c["rating"] != [2]string{`"RATING_WARM"`, `"RATING_HOT"`} || c["title"] != [2]string{"", `"CTO"`} {
		t.Errorf("alice's update = %v", byAlice)
	}
	if c := changes(byCarol); byCarol.Actor != "carol" || len(c) != 1 || c["custom_fields"] != [2]string{`{"size":"10"}`, `{"size":"20"}`} {
		t.Errorf("carol's update = %v", byCarol)
	}

	// Filters: actor, method, time range, combined.
	count := func(ctx context.Context, parent, filter string) int {
		t.Helper()
		return len(s.audit(t, ctx, &leadv1.ListAuditEntriesRequest{Parent: parent, Filter: filter}))
	}
	mid := byAlice.Time.AsTime().Format(time.RFC3339Nano)
	for filter, want := range map[string]int{
		`actor = "carol"`:                           1,
		`actor = "alice"`:                           2,
		`method = "` + leadMethod + `UpdateLead"`:   2,
		`action = ACTION_CREATE`:                    1,
		`time >= "` + mid + `"`:                     2,
		`time < "` + mid + `"`:                      1,
		`time >= "` + mid + `" AND actor = "alice"`: 1,
		`request_id = "` + reqID + `"`:              1,
	} {
		if got := count(alice, l.Name, filter); got != want {
			t.Errorf("filter %s: %d entries, want %d", filter, got, want)
		}
	}
	for _, bad := range []string{`colour = "red"`, `time >= "yesterday"`, `actor = `, `action = ACTION_EXPLODE`} {
		_, err := s.client.ListAuditEntries(alice, &leadv1.ListAuditEntriesRequest{Parent: l.Name, Filter: bad})
		if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "filter") {
			t.Errorf("filter %q: violations %v", bad, fields)
		}
	}
	_, err = s.client.ListAuditEntries(alice, &leadv1.ListAuditEntriesRequest{Parent: "leads/nope"})
	testkit.RequireCode(t, err, codes.InvalidArgument)
	_, err = s.client.ListAuditEntries(alice, &leadv1.ListAuditEntriesRequest{Parent: l.Name, PageSize: -1})
	testkit.RequireCode(t, err, codes.InvalidArgument)

	// Paging: one at a time, newest first, a token bound to its query.
	var paged []string
	token := ""
	for {
		resp, err := s.client.ListAuditEntries(alice, &leadv1.ListAuditEntriesRequest{Parent: l.Name, PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.AuditEntries {
			paged = append(paged, e.Name)
		}
		if token = resp.NextPageToken; token == "" {
			break
		}
		_, err = s.client.ListAuditEntries(alice, &leadv1.ListAuditEntriesRequest{Parent: l.Name, PageSize: 1, PageToken: token, Filter: `actor = "alice"`})
		testkit.RequireCode(t, err, codes.InvalidArgument)
	}
	if len(paged) != 3 || paged[0] != byCarol.Name || paged[2] != created.Name {
		t.Errorf("paged = %v", paged)
	}

	// Reads follow the record's rules: bob (sales) does not own the lead,
	// and only managers and admins read every lead's trail.
	_, err = s.client.ListAuditEntries(bob, &leadv1.ListAuditEntriesRequest{Parent: l.Name})
	testkit.RequireCode(t, err, codes.PermissionDenied)
	_, err = s.client.ListAuditEntries(alice, &leadv1.ListAuditEntriesRequest{Parent: "leads/-"})
	testkit.RequireCode(t, err, codes.PermissionDenied)
	_, err = s.client.ListAuditEntries(testkit.As("olga", "ops"), &leadv1.ListAuditEntriesRequest{Parent: l.Name})
	testkit.RequireCode(t, err, codes.PermissionDenied)
	if n := count(carol, l.Name, ""); n != 3 {
		t.Errorf("manager sees %d entries", n)
	}
	other, err := s.client.CreateLead(bob, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Byron"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(carol, "leads/-", ""); n != 4 {
		t.Errorf("all leads: %d entries", n)
	}
	if n := count(carol, "leads/-", `record = "`+other.Name+`"`); n != 1 {
		t.Errorf("all leads filtered by record: %d entries", n)
	}

	// The trail outlives the lead: the deletion is an entry with the last
	// values.
	if _, err := s.client.DeleteLead(root, &leadv1.DeleteLeadRequest{Name: l.Name}); err != nil {
		t.Fatal(err)
	}
	entries = s.audit(t, carol, &leadv1.ListAuditEntriesRequest{Parent: l.Name})
	if len(entries) != 4 {
		t.Fatalf("after delete: %v", entries)
	}
	del := entries[0]
	if c := changes(del); del.Action != auditv1.AuditEntry_ACTION_DELETE || del.Actor != "root" || del.Method != leadMethod+"DeleteLead" ||
		c["last_name"] != [2]string{`"Lovelace"`, ""} || c["rating"] != [2]string{`"RATING_HOT"`, ""} || c["title"] != [2]string{`"CTO"`, ""} {
		t.Errorf("delete entry = %v", del)
	}
	// A deleted lead's trail is the managers': its owner gets
	// PermissionDenied, as from GetLead.
	_, err = s.client.ListAuditEntries(alice, &leadv1.ListAuditEntriesRequest{Parent: l.Name})
	testkit.RequireCode(t, err, codes.PermissionDenied)
}

func TestAuditTrailRecordsConversionsAppliedByConsumers(t *testing.T) {
	t.Parallel()
	s := startNoAccounts(t)
	alice := testkit.As("alice", "sales")
	l, err := s.client.CreateLead(alice, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Complete"}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.client.QualifyLead(alice, &leadv1.QualifyLeadRequest{Name: l.Name, AccountTarget: newAccount()})
	if err != nil {
		t.Fatal(err)
	}
	contactID := q.GetConversion().GetContact()[len("contacts/"):]
	s.accountStream(t).publish(t, &eventsv1.ContactCreated{
		Meta:      &eventsv1.EventMeta{EventId: uuid.NewString(), OccurTime: timestamppb.Now(), Actor: "alice"},
		ContactId: contactID, SourceLeadId: l.Name[len("leads/"):],
	})
	var entries []*auditv1.AuditEntry
	testkit.Eventually(t, 20*time.Second, func() bool {
		entries = s.audit(t, alice, &leadv1.ListAuditEntriesRequest{Parent: l.Name})
		return len(entries) == 3
	}, "conversion recorded")
	settled, qualified := entries[0], entries[1]
	if qualified.Method != leadMethod+"QualifyLead" || qualified.Actor != "alice" || changes(qualified)["status"] != [2]string{`"STATUS_NEW"`, `"STATUS_QUALIFIED"`} {
		t.Errorf("qualify entry = %v", qualified)
	}
	// The consumer acts as service:conversion; the entry names the user
	// who caused the event, and the event.
	c := changes(settled)
	if settled.Method != "event:crm.events.v1.ContactCreated" || settled.Actor != "alice" || len(c) != 1 || c["conversion"][0] == c["conversion"][1] {
		t.Errorf("settlement entry = %v", settled)
	}
}

func TestAuditTrailOfImportsAndMerges(t *testing.T) {
	t.Parallel()
	s := start(t)
	run := runImport(t, s, &leadv1.ImportOptions{DuplicatePolicy: leadv1.DuplicatePolicy_DUPLICATE_POLICY_UPDATE},
		rows(&leadv1.Lead{LastName: "One", Email: "one@example.com"}, &leadv1.Lead{LastName: "Two", Email: "two@example.com"}))
	if run.job.GetCounts().GetCreated() != 2 {
		t.Fatalf("job = %v", run.job)
	}
	carol := testkit.As("carol", "manager")
	entries := s.audit(t, carol, &leadv1.ListAuditEntriesRequest{Parent: "leads/-", Filter: `method = "` + leadMethod + `ImportLeads"`})
	if len(entries) != 2 || entries[0].Action != auditv1.AuditEntry_ACTION_CREATE || entries[0].Actor != "importer" {
		t.Fatalf("import entries = %v", entries)
	}
	// A second import updating a lead records what changed.
	runImport(t, s, &leadv1.ImportOptions{DuplicatePolicy: leadv1.DuplicatePolicy_DUPLICATE_POLICY_UPDATE},
		rows(&leadv1.Lead{LastName: "One", Email: "one@example.com", Title: "CEO"}))
	entries = s.audit(t, carol, &leadv1.ListAuditEntriesRequest{Parent: "leads/-", Filter: `action = UPDATE`})
	if len(entries) != 1 || changes(entries[0])["title"] != [2]string{"", `"CEO"`} {
		t.Fatalf("import update entries = %v", entries)
	}
	one := entries[0].Record

	two, err := s.client.CreateLead(carol, &leadv1.CreateLeadRequest{AllowDuplicate: true, Lead: &leadv1.Lead{LastName: "One", Title: "Dr", Phone: "+44 20 7946 0001"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.MergeLeads(carol, &leadv1.MergeLeadsRequest{Primary: one, Duplicates: []string{two.Name}}); err != nil {
		t.Fatal(err)
	}
	merged := s.audit(t, carol, &leadv1.ListAuditEntriesRequest{Parent: "leads/-", Filter: `method = "` + leadMethod + `MergeLeads"`})
	if len(merged) != 2 {
		t.Fatalf("merge entries = %v", merged)
	}
	for _, e := range merged {
		c := changes(e)
		switch e.Record {
		case one:
			if c["phone"][1] != `"+44 20 7946 0001"` {
				t.Errorf("primary's merge entry = %v", e)
			}
		case two.Name:
			if c["status"] != [2]string{`"STATUS_NEW"`, `"STATUS_MERGED"`} {
				t.Errorf("duplicate's merge entry = %v", e)
			}
		default:
			t.Errorf("merge entry of %s", e.Record)
		}
	}
}

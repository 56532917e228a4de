package wire_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestLeadLifecycleEndToEndWithEvents(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("alice")

	created, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{
		FirstName: " Ada ", LastName: "Lovelace", Company: "Analytical Engines", Email: "ada@example.com",
		Phone: "+44 20 7946 0000", Website: "engines.example.com", Source: leadv1.Source_SOURCE_TRADE_SHOW,
		Campaign: "expo-2026", Rating: leadv1.Rating_RATING_WARM, CustomFields: map[string]string{"tier": "gold"},
		Address: &leadv1.PostalAddress{AddressLines: []string{"12 St James's Sq"}, Locality: "London", RegionCode: "GB"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if created.Status != leadv1.Status_STATUS_NEW || created.Owner != "alice" || created.CreatedBy != "alice" ||
		created.FirstName != "Ada" || !strings.HasPrefix(created.Name, "leads/") || created.Etag == "" {
		t.Fatalf("created = %v", created)
	}
	got, err := s.client.GetLead(ctx, &leadv1.GetLeadRequest{Name: created.Name})
	if err != nil || !proto.Equal(got, created) {
		t.Fatalf("get = %v, %v; want %v", got, err, created)
	}

	// Update: rating and status change, and a field via a sub-path.
	updated, err := s.client.UpdateLead(testkit.As("bob"), &leadv1.UpdateLeadRequest{
		Lead: &leadv1.Lead{
			Name: created.Name, Etag: created.Etag, Rating: leadv1.Rating_RATING_HOT, Status: leadv1.Status_STATUS_CONTACTED,
			Address: &leadv1.PostalAddress{PostalCode: "SW1Y 4LE"}, NextContactTime: timestamppb.New(time.Now().Add(24 * time.Hour)),
		},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rating", "status", "address.postal_code", "next_contact_time"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Rating != leadv1.Rating_RATING_HOT || updated.Status != leadv1.Status_STATUS_CONTACTED ||
		updated.Address.Locality != "London" || updated.Address.PostalCode != "SW1Y 4LE" || updated.UpdatedBy != "bob" ||
		updated.Etag == created.Etag || updated.Email != "ada@example.com" {
		t.Fatalf("updated = %v", updated)
	}
	// An update that changes nothing is no change: same etag, no event.
	same, err := s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{
		Lead:       &leadv1.Lead{Name: created.Name, Rating: leadv1.Rating_RATING_HOT},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rating"}},
	})
	if err != nil || same.Etag != updated.Etag {
		t.Fatalf("no-op update = %v, %v", same, err)
	}

	assigned, err := s.client.AssignLead(ctx, &leadv1.AssignLeadRequest{Name: created.Name, Owner: "carol", Etag: updated.Etag})
	if err != nil || assigned.Owner != "carol" {
		t.Fatalf("assign = %v, %v", assigned, err)
	}
	disq, err := s.client.DisqualifyLead(ctx, &leadv1.DisqualifyLeadRequest{
		Name: created.Name, Reason: leadv1.DisqualificationReason_DISQUALIFICATION_REASON_NO_BUDGET, Note: "next year",
	})
	if err != nil || disq.Status != leadv1.Status_STATUS_DISQUALIFIED || disq.Disqualification.GetPreviousStatus() != leadv1.Status_STATUS_CONTACTED {
		t.Fatalf("disqualify = %v, %v", disq, err)
	}
	// A disqualified lead stays listed (auditable) and cannot re-enter the
	// funnel by update.
	_, err = s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{
		Lead:       &leadv1.Lead{Name: created.Name, Status: leadv1.Status_STATUS_NEW},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"status"}},
	})
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != "LEAD_DISQUALIFIED" {
		t.Fatalf("reason = %s", reason)
	}
	react, err := s.client.ReactivateLead(ctx, &leadv1.ReactivateLeadRequest{Name: created.Name, Etag: disq.Etag})
	if err != nil || react.Status != leadv1.Status_STATUS_CONTACTED || react.Disqualification != nil {
		t.Fatalf("reactivate = %v, %v", react, err)
	}
	if _, err := s.client.DeleteLead(ctx, &leadv1.DeleteLeadRequest{Name: created.Name, Etag: react.Etag}); err != nil {
		t.Fatal(err)
	}
	_, err = s.client.GetLead(ctx, &leadv1.GetLeadRequest{Name: created.Name})
	if reason, _ := testkit.RequireCode(t, err, codes.NotFound); reason != "LEAD_NOT_FOUND" {
		t.Fatalf("reason = %s", reason)
	}

	evs := s.published(t, 8)
	want := []string{"LeadCreated", "LeadUpdated", "LeadRatingChanged", "LeadStatusChanged", "LeadAssigned",
		"LeadDisqualified", "LeadReactivated", "LeadDeleted"}
	if got := testkit.EventTypes(evs); !slices.Equal(got, want) {
		t.Fatalf("events = %v\nwant     %v", got, want)
	}
	// Events carry envelope and state, enough to act without calling back.
	c := evs[0].(*eventsv1.LeadCreated)
	if c.Meta.GetActor() != "alice" || c.Meta.GetEventId() == "" || c.LeadId != strings.TrimPrefix(created.Name, "leads/") || c.Lead.GetEmail() != "ada@example.com" {
		t.Fatalf("LeadCreated = %v", c)
	}
	u := evs[1].(*eventsv1.LeadUpdated)
	if !slices.Equal(u.ChangedFields, []string{"address", "rating", "status", "next_contact_time"}) || u.Meta.GetActor() != "bob" {
		t.Fatalf("LeadUpdated = %v", u)
	}
	if r := evs[2].(*eventsv1.LeadRatingChanged); r.PreviousRating != leadv1.Rating_RATING_WARM || r.Rating != leadv1.Rating_RATING_HOT {
		t.Fatalf("LeadRatingChanged = %v", r)
	}
	if a := evs[4].(*eventsv1.LeadAssigned); a.PreviousOwner != "alice" || a.Owner != "carol" {
		t.Fatalf("LeadAssigned = %v", a)
	}
	if d := evs[5].(*eventsv1.LeadDisqualified); d.Reason != leadv1.DisqualificationReason_DISQUALIFICATION_REASON_NO_BUDGET || d.Note != "next year" {
		t.Fatalf("LeadDisqualified = %v", d)
	}
	if d := evs[7].(*eventsv1.LeadDeleted); d.Lead.GetStatus() != leadv1.Status_STATUS_CONTACTED {
		t.Fatalf("LeadDeleted = %v", d)
	}
}

func TestRepeatedRequestIDReturnsFirstResultAndCreatesNothing(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("alice")
	req := &leadv1.CreateLeadRequest{RequestId: "6f1c1d5e-8a0b-4c43-9a55-4a0f2b1e7c11", Lead: &leadv1.Lead{Company: "Acme"}}
	first, err := s.client.CreateLead(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.client.CreateLead(ctx, req)
	if err != nil || !proto.Equal(first, again) {
		t.Fatalf("retry = %v, %v; want %v", again, err, first)
	}
	list, err := s.client.ListLeads(ctx, &leadv1.ListLeadsRequest{})
	if err != nil || len(list.Leads) != 1 {
		t.Fatalf("leads = %v, %v; want exactly one", list, err)
	}
	// Same id, different request: refused, nothing created.
	_, err = s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{RequestId: req.RequestId, Lead: &leadv1.Lead{Company: "Other"}})
	if reason, fields := testkit.RequireCode(t, err, codes.InvalidArgument); reason != "REQUEST_ID_REUSED" || fields[0] != "request_id" {
		t.Fatalf("reuse: %s %v", reason, fields)
	}
	// A custom method retried returns its first result, not a second
	// transition (or an error for disqualifying twice).
	dreq := &leadv1.DisqualifyLeadRequest{Name: first.Name, Reason: leadv1.DisqualificationReason_DISQUALIFICATION_REASON_JUNK,
		RequestId: "0b7f4a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"}
	d1, err := s.client.DisqualifyLead(ctx, dreq)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := s.client.DisqualifyLead(ctx, dreq)
	if err != nil || !proto.Equal(d1, d2) {
		t.Fatalf("disqualify retry = %v, %v", d2, err)
	}
	if got := testkit.EventTypes(s.published(t, 2)); !slices.Equal(got, []string{"LeadCreated", "LeadDisqualified"}) {
		t.Fatalf("events = %v", got)
	}
}

func TestStaleEtagIsAborted(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("alice")
	l, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Doe"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: l.Name, Etag: l.Etag, Title: "CTO"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}); err != nil {
		t.Fatal(err)
	}
	// Every conditional method refuses the etag read before that change.
	calls := map[string]error{}
	_, calls["update"] = s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: l.Name, Etag: l.Etag, Title: "CEO"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}})
	_, calls["assign"] = s.client.AssignLead(ctx, &leadv1.AssignLeadRequest{Name: l.Name, Owner: "bob", Etag: l.Etag})
	_, calls["disqualify"] = s.client.DisqualifyLead(ctx, &leadv1.DisqualifyLeadRequest{Name: l.Name, Etag: l.Etag,
		Reason: leadv1.DisqualificationReason_DISQUALIFICATION_REASON_JUNK})
	_, calls["delete"] = s.client.DeleteLead(ctx, &leadv1.DeleteLeadRequest{Name: l.Name, Etag: l.Etag})
	for name, err := range calls {
		if reason, _ := testkit.RequireCode(t, err, codes.Aborted); reason != "ETAG_MISMATCH" {
			t.Fatalf("%s: reason %s", name, reason)
		}
	}
	got, err := s.client.GetLead(ctx, &leadv1.GetLeadRequest{Name: l.Name})
	if err != nil || got.Title != "CTO" || got.Owner != "alice" || got.Status != leadv1.Status_STATUS_NEW {
		t.Fatalf("lead after refused writes = %v, %v", got, err)
	}
}

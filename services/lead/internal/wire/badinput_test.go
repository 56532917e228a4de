package wire_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestBadInputGetsClearErrorsAndChangesNothing(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("alice")
	lead, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{FirstName: "Jo", Company: "Acme"}})
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.client.ListLeads(ctx, &leadv1.ListLeadsRequest{PageSize: 1, Filter: `status = STATUS_NEW`})
	if err != nil {
		t.Fatal(err)
	}
	// Make a second page exist so the token above is a real one.
	if _, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Second"}}); err != nil {
		t.Fatal(err)
	}
	page, err = s.client.ListLeads(ctx, &leadv1.ListLeadsRequest{PageSize: 1, Filter: `status = STATUS_NEW`})
	if err != nil || page.NextPageToken == "" {
		t.Fatalf("page = %v, %v", page, err)
	}
	s.published(t, 2)
	before := snapshot(t, s)

	create := func(l *leadv1.Lead) error {
		_, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: l})
		return err
	}
	update := func(l *leadv1.Lead, paths ...string) error {
		l.Name = lead.Name
		_, err := s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{Lead: l, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
		return err
	}
	list := func(r *leadv1.ListLeadsRequest) error {
		_, err := s.client.ListLeads(ctx, r)
		return err
	}
	cases := []struct {
		name  string
		err   error
		code  codes.Code
		field string // a field violation that must be present
	}{
		{"missing both name and company", create(&leadv1.Lead{Email: "x@example.com"}), codes.InvalidArgument, "lead.last_name"},
		{"blank name and company", create(&leadv1.Lead{FirstName: "  ", Company: "\t"}), codes.InvalidArgument, "lead.last_name"},
		{"no lead at all", func() error { _, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{}); return err }(), codes.InvalidArgument, "lead"},
		{"malformed email", create(&leadv1.Lead{Company: "A", Email: "not-an-email"}), codes.InvalidArgument, "lead.email"},
		{"malformed phone", create(&leadv1.Lead{Company: "A", Phone: "call me maybe"}), codes.InvalidArgument, "lead.phone"},
		{"malformed website", create(&leadv1.Lead{Company: "A", Website: "ht!tp://x y"}), codes.InvalidArgument, "lead.website"},
		{"over-long first name", create(&leadv1.Lead{FirstName: strings.Repeat("x", 101)}), codes.InvalidArgument, "lead.first_name"},
		{"over-long description", create(&leadv1.Lead{Company: "A", Description: strings.Repeat("x", 10001)}), codes.InvalidArgument, "lead.description"},
		{"bad custom field key", create(&leadv1.Lead{Company: "A", CustomFields: map[string]string{"Bad Key": "v"}}), codes.InvalidArgument, "lead.custom_fields"},
		{"unknown rating", create(&leadv1.Lead{Company: "A", Rating: leadv1.Rating(99)}), codes.InvalidArgument, "lead.rating"},
		{"unknown source", create(&leadv1.Lead{Company: "A", Source: leadv1.Source(42)}), codes.InvalidArgument, "lead.source"},
		{"create as qualified", create(&leadv1.Lead{Company: "A", Status: leadv1.Status_STATUS_QUALIFIED}), codes.InvalidArgument, "lead.status"},
		{"create as disqualified", create(&leadv1.Lead{Company: "A", Status: leadv1.Status_STATUS_DISQUALIFIED}), codes.InvalidArgument, "lead.status"},
		{"malformed request id", func() error {
			_, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{Company: "A"}, RequestId: "not-a-uuid"})
			return err
		}(), codes.InvalidArgument, "request_id"},
		{"update to qualified", update(&leadv1.Lead{Status: leadv1.Status_STATUS_QUALIFIED}, "status"), codes.InvalidArgument, "lead.status"},
		{"update owner", update(&leadv1.Lead{Owner: "mallory"}, "owner"), codes.InvalidArgument, "lead.owner"},
		{"update unknown field", update(&leadv1.Lead{}, "shoe_size"), codes.InvalidArgument, "update_mask"},
		{"update clears name and company", update(&leadv1.Lead{}, "first_name", "company"), codes.InvalidArgument, "lead.last_name"},
		{"update bad name", func() error {
			_, err := s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: "leads/nope"}})
			return err
		}(), codes.InvalidArgument, "lead.name"},
		{"get bad name", func() error { _, err := s.client.GetLead(ctx, &leadv1.GetLeadRequest{Name: "accounts/1"}); return err }(), codes.InvalidArgument, "name"},
		{"negative page size", list(&leadv1.ListLeadsRequest{PageSize: -1}), codes.InvalidArgument, "page_size"},
		{"page token of another query", list(&leadv1.ListLeadsRequest{PageToken: page.NextPageToken, Filter: `status = STATUS_CONTACTED`}), codes.InvalidArgument, "page_token"},
		{"page token with another order", list(&leadv1.ListLeadsRequest{PageToken: page.NextPageToken, Filter: `status = STATUS_NEW`, OrderBy: "company"}), codes.InvalidArgument, "page_token"},
		{"tampered page token", list(&leadv1.ListLeadsRequest{PageToken: testkit.Tamper(page.NextPageToken), Filter: `status = STATUS_NEW`}), codes.InvalidArgument, "page_token"},
		{"malformed filter", list(&leadv1.ListLeadsRequest{Filter: `status = = NEW (`}), codes.InvalidArgument, "filter"},
		{"filter on unknown field", list(&leadv1.ListLeadsRequest{Filter: `shoe_size = "42"`}), codes.InvalidArgument, "filter"},
		{"unknown order", list(&leadv1.ListLeadsRequest{OrderBy: "shoe_size desc"}), codes.InvalidArgument, "order_by"},
		{"disqualify without reason", func() error {
			_, err := s.client.DisqualifyLead(ctx, &leadv1.DisqualifyLeadRequest{Name: lead.Name})
			return err
		}(), codes.InvalidArgument, "reason"},
		{"disqualify OTHER without note", func() error {
			_, err := s.client.DisqualifyLead(ctx, &leadv1.DisqualifyLeadRequest{Name: lead.Name, Reason: leadv1.DisqualificationReason_DISQUALIFICATION_REASON_OTHER})
			return err
		}(), codes.InvalidArgument, "note"},
		{"reactivate a lead that is not disqualified", func() error {
			_, err := s.client.ReactivateLead(ctx, &leadv1.ReactivateLeadRequest{Name: lead.Name})
			return err
		}(), codes.FailedPrecondition, ""},
		{"assign to nobody", func() error {
			_, err := s.client.AssignLead(ctx, &leadv1.AssignLeadRequest{Name: lead.Name})
			return err
		}(), codes.InvalidArgument, "owner"},
	}
	for _, c := range cases {
		reason, fields := testkit.RequireCode(t, c.err, c.code)
		if c.field != "" && !testkit.HasField(fields, c.field) {
			t.Errorf("%s: violations %v (reason %s), want one on %s", c.name, fields, reason, c.field)
		}
	}
	if after := snapshot(t, s); after != before {
		t.Fatalf("bad requests changed data:\nbefore %s\nafter  %s", before, after)
	}
}

// snapshot summarises all leads (names and etags) and the event count.
func snapshot(t *testing.T, s *suite) string {
	t.Helper()
	resp, err := s.client.ListLeads(testkit.As("x"), &leadv1.ListLeadsRequest{PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range resp.Leads {
		b.WriteString(l.Name + "@" + l.Etag + " ")
	}
	ctx := context.Background()
	if stream, err := s.js.Stream(ctx, events.StreamName(s.nats.Namespace, "lead")); err == nil {
		if info, err := stream.Info(ctx); err == nil {
			b.WriteString("events=" + strings.Repeat("|", int(info.State.Msgs)))
		}
	}
	return b.String()
}

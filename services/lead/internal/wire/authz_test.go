package wire_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/authn"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/lead/internal/wire"
)

// Every RPC the lead service registers has a rule (service.Run also
// refuses to start without one), and every rule names a registered RPC.
func TestEveryLeadMethodHasARule(t *testing.T) {
	srv := grpc.NewServer()
	leadv1.RegisterLeadServiceServer(srv, leadv1.UnimplementedLeadServiceServer{})
	leadv1.RegisterWebFormServiceServer(srv, leadv1.UnimplementedWebFormServiceServer{})
	if missing := authz.Uncovered(wire.Spec().Rules, srv.GetServiceInfo(), grpcx.IsPublic); len(missing) > 0 {
		t.Fatalf("no authorization rule for %v", missing)
	}
	n := len(leadv1.LeadService_ServiceDesc.Methods) + len(leadv1.LeadService_ServiceDesc.Streams) +
		len(leadv1.WebFormService_ServiceDesc.Methods) + len(leadv1.WebFormService_ServiceDesc.Streams)
	if len(wire.Rules) != n {
		t.Fatalf("%d rules for %d methods", len(wire.Rules), n)
	}
	// The only method open without a token is the web form's submission.
	for m, r := range wire.Rules {
		if r.Public != (m == leadv1.WebFormService_SubmitWebForm_FullMethodName) {
			t.Errorf("%s: Public = %v", m, r.Public)
		}
	}
}

func TestLeadRolesAreEnforced(t *testing.T) {
	t.Parallel()
	s := start(t)
	lead, err := s.client.CreateLead(testkit.As("sam", "sales"), &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Lovelace", Company: "Engines"}})
	if err != nil {
		t.Fatalf("sales creates a lead: %v", err)
	}
	// Deletes are admin only; a refused delete changes nothing.
	_, err = s.client.DeleteLead(testkit.As("sam", "sales"), &leadv1.DeleteLeadRequest{Name: lead.Name, Etag: lead.Etag})
	testkit.RequireDenied(t, "sales deletes", err)
	_, err = s.client.DeleteLead(testkit.As("mia", "manager"), &leadv1.DeleteLeadRequest{Name: lead.Name, Etag: lead.Etag})
	testkit.RequireDenied(t, "manager deletes", err)
	// Denied alike whether the lead exists or not.
	_, err = s.client.DeleteLead(testkit.As("sam", "sales"), &leadv1.DeleteLeadRequest{Name: "leads/00000000-0000-0000-0000-000000000099"})
	testkit.RequireDenied(t, "sales deletes a missing lead", err)
	got, err := s.client.GetLead(testkit.As("sam", "sales"), &leadv1.GetLeadRequest{Name: lead.Name})
	if err != nil || !proto.Equal(got, lead) {
		t.Fatalf("after refused deletes: %v, %v; want %v", got, err, lead)
	}
	// Reassigning is for managers.
	_, err = s.client.AssignLead(testkit.As("sam", "sales"), &leadv1.AssignLeadRequest{Name: lead.Name, Owner: "sue"})
	testkit.RequireDenied(t, "sales reassigns", err)
	// ops have nothing to do with leads; a token without roles gets
	// nowhere.
	noRoles, err := authn.Mint([]byte(testkit.AuthSecret), testkit.AuthIssuer, testkit.AuthAudience, "nobody", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, ctx := range map[string]context.Context{
		"ops": testkit.As("olga", "ops"), "no roles": testkit.WithToken(t.Context(), noRoles),
	} {
		_, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Intruder", Company: "X"}})
		testkit.RequireDenied(t, name+" creates", err)
		_, err = s.client.GetLead(ctx, &leadv1.GetLeadRequest{Name: lead.Name})
		testkit.RequireDenied(t, name+" reads", err)
	}
	// A service identity (the workflow service) reads, updates and
	// assigns any lead, as itself, and does nothing else.
	svc := testkit.As("service:workflow", "service")
	got, err = s.client.GetLead(svc, &leadv1.GetLeadRequest{Name: lead.Name})
	if err != nil || !proto.Equal(got, lead) {
		t.Fatalf("service reads: %v, %v", got, err)
	}
	next := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Microsecond)
	lead, err = s.client.UpdateLead(svc, &leadv1.UpdateLeadRequest{
		Lead:       &leadv1.Lead{Name: lead.Name, Etag: lead.Etag, NextContactTime: timestamppb.New(next)},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"next_contact_time"}},
	})
	if err != nil || !lead.NextContactTime.AsTime().Equal(next) || lead.UpdatedBy != "service:workflow" || lead.Owner != "sam" {
		t.Fatalf("service updates: %v, %v", lead, err)
	}
	_, err = s.client.CreateLead(svc, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Robot", Company: "X"}})
	testkit.RequireDenied(t, "service creates", err)
	_, err = s.client.ListLeads(svc, &leadv1.ListLeadsRequest{})
	testkit.RequireDenied(t, "service lists", err)
	// The workflow service's assignment rules hand leads over as itself.
	if _, err := s.client.AssignLead(svc, &leadv1.AssignLeadRequest{Name: lead.Name, Owner: "sam"}); err != nil {
		t.Fatalf("service assigns: %v", err)
	}
	_, err = s.client.DisqualifyLead(svc, &leadv1.DisqualifyLeadRequest{Name: lead.Name, Reason: leadv1.DisqualificationReason_DISQUALIFICATION_REASON_JUNK})
	testkit.RequireDenied(t, "service disqualifies", err)
	list, err := s.client.ListLeads(testkit.As("root"), &leadv1.ListLeadsRequest{})
	if err != nil || len(list.Leads) != 1 {
		t.Fatalf("leads after refused calls: %v, %v", list, err)
	}
	// Admins may do everything.
	if _, err := s.client.DeleteLead(testkit.As("root"), &leadv1.DeleteLeadRequest{Name: lead.Name, Etag: lead.Etag}); err != nil {
		t.Fatalf("admin deletes: %v", err)
	}
}

// ROLES.md is the role x method matrix as the rule table enforces it.
func TestRoleMatrixIsDocumented(t *testing.T) {
	testkit.Golden(t, "../../ROLES.md", authz.Matrix("lead", wire.Rules))
}

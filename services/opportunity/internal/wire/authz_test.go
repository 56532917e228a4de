package wire_test

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/opportunity/internal/wire"
)

// Every RPC the opportunity service registers has a rule (service.Run
// also refuses to start without one), and every rule names a registered
// RPC.
func TestEveryOpportunityMethodHasARule(t *testing.T) {
	srv := grpc.NewServer()
	opportunityv1.RegisterOpportunityServiceServer(srv, opportunityv1.UnimplementedOpportunityServiceServer{})
	if missing := authz.Uncovered(wire.Spec().Rules, srv.GetServiceInfo(), grpcx.IsPublic); len(missing) > 0 {
		t.Fatalf("no authorization rule for %v", missing)
	}
	d := opportunityv1.OpportunityService_ServiceDesc
	if n := len(d.Methods) + len(d.Streams); len(wire.Rules) != n {
		t.Fatalf("%d rules for %d methods", len(wire.Rules), n)
	}
}

func TestOpportunityRolesAreEnforced(t *testing.T) {
	t.Parallel()
	s := start(t)
	list, err := s.client.ListPipelines(testkit.As("sam", "sales"), &opportunityv1.ListPipelinesRequest{})
	if err != nil || len(list.Pipelines) == 0 {
		t.Fatalf("sales lists pipelines: %v, %v", list, err)
	}
	p := list.Pipelines[0]
	// Pipeline and loss-reason configuration is admin only, for managers
	// too; a refused update changes nothing.
	for _, ctx := range []struct {
		who   string
		roles []string
	}{{"sam", []string{"sales"}}, {"mia", []string{"manager", "sales"}}} {
		_, err = s.client.UpdatePipeline(testkit.As(ctx.who, ctx.roles...), &opportunityv1.UpdatePipelineRequest{
			Pipeline:   &opportunityv1.Pipeline{Name: p.Name, Etag: p.Etag, DisplayName: "Hijacked"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}})
		testkit.RequireDenied(t, ctx.who+" updates a pipeline", err)
		_, err = s.client.UpdateLossReasons(testkit.As(ctx.who, ctx.roles...), &opportunityv1.UpdateLossReasonsRequest{})
		testkit.RequireDenied(t, ctx.who+" updates loss reasons", err)
		_, err = s.client.CreatePipeline(testkit.As(ctx.who, ctx.roles...), &opportunityv1.CreatePipelineRequest{})
		testkit.RequireDenied(t, ctx.who+" creates a pipeline", err)
	}
	got, err := s.client.GetPipeline(testkit.As("root"), &opportunityv1.GetPipelineRequest{Name: p.Name})
	if err != nil || !proto.Equal(got, p) {
		t.Fatalf("after refused updates: %v, %v; want %v", got, err, p)
	}
	// ops reads opportunities, and nothing else.
	if _, err := s.client.ListOpportunities(testkit.As("olga", "ops"), &opportunityv1.ListOpportunitiesRequest{}); err != nil {
		t.Fatalf("ops lists opportunities: %v", err)
	}
	_, err = s.client.CreateOpportunity(testkit.As("olga", "ops"), &opportunityv1.CreateOpportunityRequest{})
	testkit.RequireDenied(t, "ops creates", err)
	_, err = s.client.GetForecast(testkit.As("olga", "ops"), &opportunityv1.GetForecastRequest{})
	testkit.RequireDenied(t, "ops reads the forecast", err)
	// Services read and update one opportunity (the workflow service), nothing more.
	_, err = s.client.ListOpportunities(testkit.As("service:lead", "service"), &opportunityv1.ListOpportunitiesRequest{})
	testkit.RequireDenied(t, "a service lists", err)
}

// ROLES.md is the role x method matrix as the rule table enforces it.
func TestRoleMatrixIsDocumented(t *testing.T) {
	testkit.Golden(t, "../../ROLES.md", authz.Matrix("opportunity", wire.Rules))
}

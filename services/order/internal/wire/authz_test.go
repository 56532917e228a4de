package wire_test

import (
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/order/internal/adapters/postgres"
	"github.com/crmsuite/crm/services/order/internal/wire"
)

// Every RPC the order service registers has a rule (service.Run also
// refuses to start without one), and every rule names a registered RPC.
func TestEveryOrderMethodHasARule(t *testing.T) {
	srv := grpc.NewServer()
	orderv1.RegisterOrderServiceServer(srv, orderv1.UnimplementedOrderServiceServer{})
	orderv1.RegisterExchangeRateServiceServer(srv, orderv1.UnimplementedExchangeRateServiceServer{})
	if missing := authz.Uncovered(wire.Spec().Rules, srv.GetServiceInfo(), grpcx.IsPublic); len(missing) > 0 {
		t.Fatalf("no authorization rule for %v", missing)
	}
	d, r := orderv1.OrderService_ServiceDesc, orderv1.ExchangeRateService_ServiceDesc
	if n := len(d.Methods) + len(d.Streams) + len(r.Methods) + len(r.Streams); len(wire.Rules) != n {
		t.Fatalf("%d rules for %d methods", len(wire.Rules), n)
	}
}

// ROLES.md is the role x method matrix as the rule table enforces it.
func TestRoleMatrixIsDocumented(t *testing.T) {
	testkit.Golden(t, "../../ROLES.md", authz.Matrix("order", wire.Rules))
}

// ops run orders and contracts, managers read and may only confirm-like
// steps, salespeople only read their own and report on their own; no
// service but the workflow service (reading orders and contracts) calls
// the order service.
func TestOrderRolesAreEnforced(t *testing.T) {
	t.Parallel()
	s := start(t)
	account, _ := s.customer(t, "Acme", 0)
	o := s.order(t, account, line("P", "1", eur(1, 0)))
	c := s.contract(t, account, yearFrom2027())
	for _, who := range []struct {
		name  string
		roles []string
	}{{"mia", []string{"manager"}}, {"sam", []string{"sales"}}} {
		ctx := testkit.As(who.name, who.roles...)
		_, err := s.client.CancelOrder(ctx, &orderv1.CancelOrderRequest{Name: o.Name, Reason: "x"})
		testkit.RequireDenied(t, who.name+" cancels", err)
		_, err = s.client.ActivateContract(ctx, &orderv1.ActivateContractRequest{Name: c.Name})
		testkit.RequireDenied(t, who.name+" activates", err)
	}
	if _, err := s.client.GetOrderPipeline(testkit.As("mia", "manager"), &orderv1.GetOrderPipelineRequest{}); err != nil {
		t.Fatalf("a manager reads the pipeline: %v", err)
	}
	// A salesperson's reports are its own; another's is refused.
	if _, err := s.client.GetRevenueForecast(testkit.As("sam", "sales"), &orderv1.GetRevenueForecastRequest{}); err != nil {
		t.Fatalf("sales forecast: %v", err)
	}
	_, err := s.client.GetOrderPerformance(testkit.As("sam", "sales"), &orderv1.GetOrderPerformanceRequest{Owner: "olga"})
	testkit.RequireDenied(t, "sales reads another's performance", err)
	_, err = s.client.ListOrders(testkit.As("service:lead", "service"), &orderv1.ListOrdersRequest{})
	testkit.RequireDenied(t, "a service lists", err)
	// Whole collections' audit trails are managers'.
	_, err = s.client.ListAuditEntries(ops, &orderv1.ListAuditEntriesRequest{Parent: "orders/-"})
	testkit.RequireDenied(t, "ops lists every order's trail", err)
	if _, err := s.client.ListAuditEntries(testkit.As("mia", "manager"), &orderv1.ListAuditEntriesRequest{Parent: "contracts/-"}); err != nil {
		t.Fatalf("a manager lists every contract's trail: %v", err)
	}
}

// yearFrom2027 is the terms of a draft contract: a year from 2027-01-01.
func yearFrom2027() *orderv1.Contract {
	return &orderv1.Contract{StartDate: day(2027, 1, 1), TermMonths: 12}
}

// SQL and LIKE metacharacters in every filter field and in text search are
// data: they match only records that hold them, and break nothing.
func TestHostileFilterValuesAreData(t *testing.T) {
	t.Parallel()
	s := start(t)
	account, _ := s.customer(t, "Acme", 0)
	const drop, odd = `O'Hara'; DROP TABLE "order".orders; --`, `100% _real_ \ stuff`
	for _, v := range []string{"Plain", drop, odd} {
		if _, err := s.client.CreateOrder(ops, &orderv1.CreateOrderRequest{Order: &orderv1.Order{DisplayName: v, Account: account, CurrencyCode: "EUR"}}); err != nil {
			t.Fatal(err)
		}
		c := yearFrom2027()
		c.DisplayName = v
		s.contract(t, account, c)
	}
	for rpc, list := range map[string]func(string) (int, error){
		"ListOrders": func(f string) (int, error) {
			resp, err := s.client.ListOrders(ops, &orderv1.ListOrdersRequest{Filter: f})
			return len(resp.GetOrders()), err
		},
		"ListContracts": func(f string) (int, error) {
			resp, err := s.client.ListContracts(ops, &orderv1.ListContractsRequest{Filter: f})
			return len(resp.GetContracts()), err
		},
	} {
		for _, f := range testkit.HostileFilters(postgres.ListFilters()[rpc]) {
			n, err := list(f.Filter)
			if !f.Valid {
				if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "filter") {
					t.Fatalf("%s %s: fields %v", rpc, f.Filter, fields)
				}
				continue
			}
			if err != nil || n != 0 {
				t.Fatalf("%s %s: %d, %v", rpc, f.Filter, n, err)
			}
		}
		for filter, want := range map[string]int{
			"":                                 3,
			`text:"'; drop table"`:             1,
			`text:"% _real_ \\ st"`:            1,
			`text:"%_%"`:                       0,
			"owner = " + strconv.Quote("olga"): 3,
		} {
			if n, err := list(filter); err != nil || n != want {
				t.Fatalf("%s %s: %d, %v; want %d", rpc, filter, n, err, want)
			}
		}
	}
}

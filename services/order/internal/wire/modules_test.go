package wire_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
)

// Without the workflow module no process gates confirming or fulfilling
// an order, not even a BLOCK definition kept from when it ran.
func TestWithoutTheWorkflowModuleNoProcessGatesOrders(t *testing.T) {
	t.Parallel()
	s := start(t, options{modules: "account,order"})
	account, _ := s.customer(t, "Bakery", 0)
	o := s.order(t, account, line("OVEN", "1", eur(4200, 0)))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO "order".process_gates (definition, record_type, pipeline, enforcement, active, version)
		VALUES ('processDefinitions/orders', 'ORDER', '', 'BLOCK', true, 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.ConfirmOrder(ops, &orderv1.ConfirmOrderRequest{Name: o.Name}); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if _, err := s.client.FulfillOrder(ops, &orderv1.FulfillOrderRequest{Name: o.Name}); err != nil {
		t.Fatalf("fulfil: %v", err)
	}
}

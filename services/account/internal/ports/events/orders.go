package events

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/protoenum"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/account/internal/app"
)

// OrdersConsumerName is the durable consumer of the order service's
// order events: the account service projects each account's orders (their
// currency and whether they are open) so a merge can refuse to move open
// orders into an account of another currency without calling the order
// service.
const OrdersConsumerName = "account-orders"

// Orders projects the orders the order events carry.
type Orders struct {
	App *app.Service
}

// Handle projects the order of one order event (events without one, such
// as the contracts', change nothing).
func (h *Orders) Handle(ctx context.Context, m inbox.Message) error {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(m.Type))
	if err != nil {
		return inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: unknown event type %q", m.Type))
	}
	ev := mt.New().Interface()
	if err := proto.Unmarshal(m.Data, ev); err != nil {
		return inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: %w", err))
	}
	fd := ev.ProtoReflect().Descriptor().Fields().ByName("order")
	if fd == nil || fd.Message() == nil || fd.Message().FullName() != (&orderv1.Order{}).ProtoReflect().Descriptor().FullName() {
		return nil
	}
	o, ok := ev.ProtoReflect().Get(fd).Message().Interface().(*orderv1.Order)
	if !ok || o.GetName() == "" {
		return nil
	}
	fact, err := OrderFact(o)
	if err != nil {
		return inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: %w", err))
	}
	return h.App.ApplyOrder(ctx, fact)
}

// OrderFact reads what the projection keeps of an order.
func OrderFact(o *orderv1.Order) (app.OrderFact, error) {
	id, ok := resname.Parse(o.GetName(), "orders")
	if !ok {
		return app.OrderFact{}, fmt.Errorf("order name %q", o.GetName())
	}
	account, ok := resname.Parse(o.GetAccount(), "accounts")
	if !ok {
		return app.OrderFact{}, fmt.Errorf("order %s: account %q", id, o.GetAccount())
	}
	v, err := etag.Version(o.GetEtag())
	if err != nil {
		return app.OrderFact{}, fmt.Errorf("order %s: %w", id, err)
	}
	return app.OrderFact{ID: id, AccountID: account, CurrencyCode: o.GetCurrencyCode(), Version: v,
		Status: protoenum.Name(o.GetStatus().String(), "ORDER_STATUS_")}, nil
}

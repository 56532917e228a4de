// Command order runs the order service: one-off orders with a credit
// check on confirm, contracts that bill on a recurring interval and renew
// on durable timers, and the order reports, over gRPC, with every change
// published on NATS; it turns won opportunities and lead conversions into
// draft orders and contracts.
package main

import (
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/services/order/internal/wire"
)

func main() { service.Main("order", 9104, 9204, wire.Spec()) }

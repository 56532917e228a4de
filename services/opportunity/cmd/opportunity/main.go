// Command opportunity runs the opportunity service: pipelines,
// opportunities and their stage history, loss reasons, the forecast and
// sales performance, over gRPC, with every change published on NATS, and
// the opportunities of converted leads.
package main

import (
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/services/opportunity/internal/wire"
)

func main() { service.Main("opportunity", 9103, 9203, wire.Spec()) }

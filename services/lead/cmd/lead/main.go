// Command lead runs the lead service: leads, their lifecycle and their
// communication history, over gRPC, with every change published on NATS.
package main

import (
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/services/lead/internal/wire"
)

func main() { service.Main("lead", 9101, 9201, wire.Spec()) }

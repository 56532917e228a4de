// Command lead runs the lead service: leads and their lifecycle, over
// gRPC, with every change published on NATS. `lead export-activities`
// carries the activities it kept over to the workflow service.
package main

import (
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/services/lead/internal/wire"
)

func main() { service.Main("lead", 9101, 9201, wire.Spec()) }

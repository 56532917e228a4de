// Command workflow runs the workflow service: activities and tasks
// regarding every record of the suite, timelines, to-do lists and
// calendar feeds, and rules that act on the other services' events and
// on records' dates through durable timers. `workflow rebuild-projection`
// rebuilds its projection of the suite's records from the streams.
package main

import (
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/services/workflow/internal/wire"
)

func main() { service.Main("workflow", 9105, 9205, wire.Spec()) }

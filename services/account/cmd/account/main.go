// Command account runs the account service: customer accounts, their
// addresses and contacts, over gRPC, with every change published on NATS,
// and the accounts and contacts of converted leads.
package main

import (
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/services/account/internal/wire"
)

func main() { service.Main("account", 9102, 9202, wire.Spec()) }

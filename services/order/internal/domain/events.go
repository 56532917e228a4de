package domain

import (
	"github.com/google/uuid"
	moneypb "google.golang.org/genproto/googleapis/type/money"
)

// Event is something that happened to an order or contract. The adapter
// publishes each with the record as it is after the change.
type Event interface{ event() }

// Order events.
type (
	OrderCreated   struct{}
	OrderUpdated   struct{ Changed []string }
	OrderConfirmed struct{}
	OrderFulfilled struct{}
	OrderClosed    struct{}
	OrderReopened  struct{}
	OrderCancelled struct {
		Reason   string
		Previous Status
	}
)

// Contract events.
type (
	ContractCreated   struct{}
	ContractUpdated   struct{ Changed []string }
	ContractActivated struct{}
	ContractAmended   struct {
		Effective           Date
		Previous, Recurring *moneypb.Money
	}
	ContractNoticeGiven struct{ Date Date }
	// ContractRenewalDue is raised by the renewal timer of Term.
	ContractRenewalDue struct {
		Term int
		// AccountOwner is the account's owner as the account events said.
		AccountOwner string
	}
	ContractRenewed struct {
		Term        int
		Opportunity uuid.UUID
	}
	ContractExpired   struct{ Term int }
	ContractCancelled struct {
		Reason    string
		Effective Date
	}
)

func (OrderCreated) event()        {}
func (OrderUpdated) event()        {}
func (OrderConfirmed) event()      {}
func (OrderFulfilled) event()      {}
func (OrderClosed) event()         {}
func (OrderReopened) event()       {}
func (OrderCancelled) event()      {}
func (ContractCreated) event()     {}
func (ContractUpdated) event()     {}
func (ContractActivated) event()   {}
func (ContractAmended) event()     {}
func (ContractNoticeGiven) event() {}
func (ContractRenewalDue) event()  {}
func (ContractRenewed) event()     {}
func (ContractExpired) event()     {}
func (ContractCancelled) event()   {}

// Package events is the order service's inbound event port: won and lost
// opportunities (draft orders and contracts, renewals), lead conversions
// that ask for an order, and the account events that say who owns which
// account.
package events

import (
	"context"
	"errors"
	"fmt"
	"github.com/crmsuite/crm/platform/recordmerge"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/order/internal/app"
	"github.com/crmsuite/crm/services/order/internal/domain"
	"github.com/crmsuite/crm/services/order/internal/protomap"
)

// Durable consumer names; dead letters go to crm.dlq.<name>.
const (
	OpportunityConsumer = "order-opportunities"
	LeadConsumer        = "order-lead-qualified"
	AccountConsumer     = "order-accounts"
)

// Handlers apply the events the order service follows.
type Handlers struct {
	App *app.Service
}

func name(m proto.Message) protoreflect.FullName { return m.ProtoReflect().Descriptor().FullName() }

func decode(m inbox.Message, into proto.Message) error {
	if err := proto.Unmarshal(m.Data, into); err != nil {
		return inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: decode %s: %w", m.Type, err))
	}
	return nil
}

// rejected turns a use case's rejection into a dead letter.
func rejected(err error) error {
	var rej *app.Rejection
	if errors.As(err, &rej) {
		return inbox.Permanent(rej)
	}
	return err
}

// Opportunities applies OpportunityWon, OpportunityLost and
// OpportunityReopened.
func (h *Handlers) Opportunities(ctx context.Context, m inbox.Message) error {
	switch protoreflect.FullName(m.Type) {
	case name(&eventsv1.OpportunityWon{}):
		var ev eventsv1.OpportunityWon
		if err := decode(m, &ev); err != nil {
			return err
		}
		w, err := DecodeWin(m.EventID, &ev)
		if err != nil {
			return inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: %w", err))
		}
		return rejected(h.App.ApplyWin(ctx, w))
	case name(&eventsv1.OpportunityLost{}), name(&eventsv1.OpportunityReopened{}):
		var o *opportunityv1.Opportunity
		lost := protoreflect.FullName(m.Type) == name(&eventsv1.OpportunityLost{})
		if lost {
			var ev eventsv1.OpportunityLost
			if err := decode(m, &ev); err != nil {
				return err
			}
			o = ev.GetOpportunity()
		} else {
			var ev eventsv1.OpportunityReopened
			if err := decode(m, &ev); err != nil {
				return err
			}
			o = ev.GetOpportunity()
		}
		id, ok1 := resname.Parse(o.GetName(), "opportunities")
		account, ok2 := resname.Parse(o.GetAccount(), "accounts")
		if !ok1 || !ok2 {
			return inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: opportunity %q of account %q", o.GetName(), o.GetAccount()))
		}
		contract, _ := resname.Parse(o.GetRenewalContract(), "contracts")
		return h.App.ApplyLoss(ctx, m.EventID, id, account, o.GetOwner(), contract, int(o.GetRenewalTerm()), lost)
	}
	return nil
}

// DecodeWin reads an OpportunityWon event into what it asks of the order
// service. An opportunity's line items become order lines (product as
// code and name, no tax); one with only an amount becomes one line.
func DecodeWin(eventID string, ev *eventsv1.OpportunityWon) (app.WonOpportunity, error) {
	o := ev.GetOpportunity()
	id, err := uuid.Parse(ev.GetOpportunityId())
	if err != nil {
		return app.WonOpportunity{}, fmt.Errorf("opportunity_id %q is not a UUID", ev.GetOpportunityId())
	}
	account, err := uuid.Parse(ev.GetAccountId())
	if err != nil {
		return app.WonOpportunity{}, fmt.Errorf("account_id %q is not a UUID", ev.GetAccountId())
	}
	contact := uuid.Nil
	if c := ev.GetContactId(); c != "" {
		if contact, err = uuid.Parse(c); err != nil {
			return app.WonOpportunity{}, fmt.Errorf("contact_id %q is not a UUID", c)
		}
	}
	currency := o.GetAmount().GetCurrencyCode()
	var lines []domain.Line
	for _, li := range o.GetLineItems() {
		currency = li.GetUnitPrice().GetCurrencyCode()
		lines = append(lines, domain.Line{ProductCode: truncate(li.GetProduct(), 64), ProductName: li.GetProduct(),
			Quantity: li.GetQuantity(), UnitPrice: li.GetUnitPrice(), DiscountPercent: li.GetDiscountPercent()})
	}
	if len(lines) == 0 && o.GetAmount() != nil {
		lines = []domain.Line{{ProductCode: "OPPORTUNITY", ProductName: o.GetDisplayName(), Quantity: "1", UnitPrice: o.GetAmount()}}
	}
	w := app.WonOpportunity{
		EventID: eventID, Actor: ev.GetMeta().GetActor(), Account: account,
		Won: domain.Won{OpportunityID: id, DisplayName: o.GetDisplayName(), ContactID: contact, Owner: ev.GetOwner(),
			Currency: currency, Lines: lines, Expected: dateOf(o.GetExpectedCloseDate().GetYear(), o.GetExpectedCloseDate().GetMonth(), o.GetExpectedCloseDate().GetDay())},
	}
	if t := o.GetContractTerms(); t != nil {
		w.Contract = &app.ContractTerms{Interval: protomap.IntervalFromProto(t.GetBillingInterval()), TermMonths: int(t.GetTermMonths()), AutoRenew: t.GetAutoRenew()}
	}
	if o.GetType() == opportunityv1.OpportunityType_OPPORTUNITY_TYPE_RENEWAL {
		c, ok := resname.Parse(o.GetRenewalContract(), "contracts")
		if !ok || o.GetRenewalTerm() < 1 {
			return app.WonOpportunity{}, fmt.Errorf("renewal opportunity names contract %q term %d", o.GetRenewalContract(), o.GetRenewalTerm())
		}
		w.RenewalContract, w.RenewalTerm = c, int(o.GetRenewalTerm())
	}
	return w, nil
}

func dateOf(y, m, d int32) domain.Date {
	if y == 0 {
		return domain.Date{}
	}
	return domain.Date{Year: int(y), Month: int(m), Day: int(d)}
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// LeadQualified makes the draft order of a conversion that asks for one.
// What no retry can fix goes to the dead-letter subject with a reason
// "<CODE>: <explanation>", and the rejection hook tells the lead service.
func (h *Handlers) LeadQualified(ctx context.Context, m inbox.Message) error {
	var ev eventsv1.LeadQualified
	if err := decode(m, &ev); err != nil {
		return err
	}
	o := ev.GetOrder()
	if o == nil {
		return nil // no order asked for
	}
	conv, err := decodeConversion(m.EventID, &ev, o)
	if err != nil {
		return inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: %w", err))
	}
	return rejected(h.App.ApplyConversion(ctx, conv))
}

func decodeConversion(eventID string, ev *eventsv1.LeadQualified, o *eventsv1.ConversionOrder) (app.Conversion, error) {
	lead, err := uuid.Parse(ev.GetLeadId())
	if err != nil {
		return app.Conversion{}, fmt.Errorf("lead_id %q is not a UUID", ev.GetLeadId())
	}
	id, err := uuid.Parse(o.GetOrderId())
	if err != nil {
		return app.Conversion{}, fmt.Errorf("order.order_id %q is not a UUID", o.GetOrderId())
	}
	accountID := o.GetAccountId()
	if accountID == "" {
		accountID = ev.GetAccount().GetAccountId()
	}
	account, err := uuid.Parse(accountID)
	if err != nil {
		return app.Conversion{}, fmt.Errorf("order.account_id %q is not a UUID", accountID)
	}
	contactID := o.GetContactId()
	if contactID == "" {
		contactID = ev.GetContact().GetContactId()
	}
	contact := uuid.Nil
	if contactID != "" {
		if contact, err = uuid.Parse(contactID); err != nil {
			return app.Conversion{}, fmt.Errorf("order.contact_id %q is not a UUID", contactID)
		}
	}
	d := o.GetExpectedFulfillmentDate()
	return app.Conversion{
		EventID: eventID, LeadID: lead, Actor: ev.GetMeta().GetActor(),
		Order: domain.Order{ID: id, DisplayName: o.GetDisplayName(), AccountID: account, ContactID: contact, Owner: o.GetOwner(),
			Currency: o.GetCurrencyCode(), Lines: protomap.LinesFromProto(o.GetLines()), Expected: dateOf(d.GetYear(), d.GetMonth(), d.GetDay())},
	}, nil
}

// Accounts follows who owns each account.
func (h *Handlers) Accounts(ctx context.Context, m inbox.Message) error {
	if recordmerge.Is(m) {
		merge, err := recordmerge.Decode(m)
		if err != nil {
			return err
		}
		return h.App.RecordsMerged(ctx, merge)
	}
	var id, owner string
	switch protoreflect.FullName(m.Type) {
	case name(&eventsv1.AccountCreated{}):
		var ev eventsv1.AccountCreated
		if err := decode(m, &ev); err != nil {
			return err
		}
		id, owner = ev.GetAccountId(), ev.GetAccount().GetOwner()
	case name(&eventsv1.AccountUpdated{}):
		var ev eventsv1.AccountUpdated
		if err := decode(m, &ev); err != nil {
			return err
		}
		id, owner = ev.GetAccountId(), ev.GetAccount().GetOwner()
	default:
		return nil
	}
	account, err := uuid.Parse(id)
	if err != nil {
		return inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: account_id %q", id))
	}
	return h.App.SetAccountOwner(ctx, account, owner, m.StreamSequence)
}

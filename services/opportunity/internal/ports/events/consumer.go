// Package events is the opportunity service's event port: it opens the
// opportunities of lead conversions (LeadQualified events of the lead
// service) and of contracts' renewals (ContractRenewalDue events of the
// order service).
package events

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/services/opportunity/internal/app"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
	"github.com/crmsuite/crm/services/opportunity/internal/protomap"
)

// ConsumerName is the durable consumer of LeadQualified events; its dead
// letters go to crm.dlq.<ConsumerName>.
const ConsumerName = "opportunity-lead-qualified"

// Conversions applies LeadQualified events.
type Conversions struct {
	App *app.Service
}

// Handle applies one LeadQualified event in the inbox transaction ctx
// carries. What no retry can fix goes to the dead-letter subject with a
// reason "<CODE>: <explanation>".
func (h *Conversions) Handle(ctx context.Context, m inbox.Message) error {
	conv, ok, err := Decode(m)
	if err != nil {
		return inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: %w", err))
	}
	if !ok {
		return nil // no opportunity asked for
	}
	err = h.App.ApplyConversion(ctx, conv)
	var rej *app.Rejection
	if errors.As(err, &rej) {
		return inbox.Permanent(rej)
	}
	return err
}

// Decode reads a LeadQualified event into the opportunity it asks for; ok
// is false when it asks for none.
func Decode(m inbox.Message) (conv app.Conversion, ok bool, err error) {
	var ev eventsv1.LeadQualified
	if err := proto.Unmarshal(m.Data, &ev); err != nil {
		return conv, false, fmt.Errorf("not a LeadQualified event: %w", err)
	}
	op := ev.GetOpportunity()
	if op == nil {
		return conv, false, nil
	}
	leadID, err := uuid.Parse(ev.GetLeadId())
	if err != nil {
		return conv, false, fmt.Errorf("lead_id %q is not a UUID", ev.GetLeadId())
	}
	id, err := uuid.Parse(op.GetOpportunityId())
	if err != nil {
		return conv, false, fmt.Errorf("opportunity.opportunity_id %q is not a UUID", op.GetOpportunityId())
	}
	accountID := op.GetAccountId()
	if accountID == "" {
		accountID = ev.GetAccount().GetAccountId()
	}
	account, err := uuid.Parse(accountID)
	if err != nil {
		return conv, false, fmt.Errorf("opportunity.account_id %q is not a UUID", accountID)
	}
	contactID := op.GetContactId()
	if contactID == "" {
		contactID = ev.GetContact().GetContactId()
	}
	contact := uuid.Nil
	if contactID != "" {
		if contact, err = uuid.Parse(contactID); err != nil {
			return conv, false, fmt.Errorf("opportunity.contact_id %q is not a UUID", contactID)
		}
	}
	if a := op.GetAmount(); a != nil {
		if vs := money.Check("opportunity.amount", a, false); len(vs) > 0 {
			return conv, false, fmt.Errorf("%s: %s", vs[0].Field, vs[0].Description)
		}
	}
	// The conversion must complete: a missing name is made up rather than
	// dead-lettered.
	name := strings.TrimSpace(op.GetDisplayName())
	if name == "" {
		name = strings.TrimSpace(ev.GetAccount().GetDisplayName())
	}
	if name == "" {
		name = "Converted lead"
	}
	conv = app.Conversion{
		EventID: m.EventID, LeadID: leadID, Actor: ev.GetMeta().GetActor(),
		Opportunity: domain.Opportunity{
			ID: id, DisplayName: name, AccountID: account, ContactID: contact, Owner: op.GetOwner(),
			Amount: op.GetAmount(), ExpectedCloseDate: protomap.DateFromProto(op.GetExpectedCloseDate()),
		},
	}
	// The lead's products of interest; their sum is the amount.
	for _, li := range op.GetLineItems() {
		line := domain.LineItem{Product: li.GetProduct(), Quantity: li.GetQuantity(), DiscountPercent: li.GetDiscountPercent()}
		if li.GetUnitPrice() != nil {
			line.UnitPrice = proto.CloneOf(li.GetUnitPrice())
		}
		conv.Opportunity.LineItems = append(conv.Opportunity.LineItems, line)
	}
	return conv, true, nil
}

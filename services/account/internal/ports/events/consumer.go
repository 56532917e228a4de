// Package events is the account service's event port: it applies the
// LeadQualified events of the lead service (lead conversions) and reports
// those it cannot apply.
package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/services/account/internal/app"
	"github.com/crmsuite/crm/services/account/internal/domain"
	"github.com/crmsuite/crm/services/account/internal/protomap"
)

// ConsumerName is the durable consumer of LeadQualified events; its dead
// letters go to crm.dlq.<ConsumerName>.
const ConsumerName = "account-lead-qualified"

// Conversions applies LeadQualified events. (The consumer wakes the
// outbox relay after each applied event commits: service.Runtime.Consume.)
type Conversions struct {
	App *app.Service
}

// Handle applies one LeadQualified event in the inbox transaction ctx
// carries. What no retry can fix goes to the dead-letter subject with a
// reason "<CODE>: <explanation>".
func (h *Conversions) Handle(ctx context.Context, m inbox.Message) error {
	conv, err := Decode(m)
	if err != nil {
		return inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: %w", err))
	}
	err = h.App.ApplyConversion(ctx, conv)
	var rej *app.Rejection
	if errors.As(err, &rej) {
		return inbox.Permanent(rej)
	}
	return err
}

// Decode reads a LeadQualified event into the conversion it asks for.
func Decode(m inbox.Message) (app.Conversion, error) {
	var ev eventsv1.LeadQualified
	if err := proto.Unmarshal(m.Data, &ev); err != nil {
		return app.Conversion{}, fmt.Errorf("not a LeadQualified event: %w", err)
	}
	leadID, err := uuid.Parse(ev.GetLeadId())
	if err != nil {
		return app.Conversion{}, fmt.Errorf("lead_id %q is not a UUID", ev.GetLeadId())
	}
	acc, ct := ev.GetAccount(), ev.GetContact()
	accountID, err := uuid.Parse(acc.GetAccountId())
	if err != nil {
		return app.Conversion{}, fmt.Errorf("account.account_id %q is not a UUID", acc.GetAccountId())
	}
	contactID, err := uuid.Parse(ct.GetContactId())
	if err != nil {
		return app.Conversion{}, fmt.Errorf("contact.contact_id %q is not a UUID", ct.GetContactId())
	}
	conv := app.Conversion{
		EventID: m.EventID, LeadID: leadID, Actor: ev.GetMeta().GetActor(),
		AccountID: accountID, CreateAccount: acc.GetCreate(),
		ContactID: contactID, CreateContact: ct.GetCreate(),
	}
	if acc.GetCreate() {
		conv.Account.Type = protomap.AccountFromProto(&accountv1.Account{Type: acc.GetType()}).Type
		conv.Account.DisplayName, conv.Account.Website, conv.Account.Industry = acc.GetDisplayName(), acc.GetWebsite(), acc.GetIndustry()
		conv.Account.Phone, conv.Account.Owner, conv.Account.CurrencyCode = acc.GetPhone(), acc.GetOwner(), acc.GetCurrencyCode()
		if ad := acc.GetAddress(); ad.GetLocality() != "" && ad.GetRegionCode() != "" {
			conv.Account.Addresses = []domain.Address{{
				Type: domain.AddressBilling, Default: true, Lines: ad.GetAddressLines(), Locality: ad.GetLocality(),
				AdministrativeArea: ad.GetAdministrativeArea(), PostalCode: ad.GetPostalCode(), RegionCode: ad.GetRegionCode(),
			}}
		}
	}
	if ct.GetCreate() {
		conv.Contact = domain.Contact{
			FirstName: ct.GetFirstName(), LastName: ct.GetLastName(), Title: ct.GetTitle(), Department: ct.GetDepartment(),
			Owner: ct.GetOwner(),
		}
		if ct.GetEmail() != "" {
			conv.Contact.Emails = []domain.Email{{Address: ct.GetEmail(), Primary: true}}
		}
		if ct.GetPhone() != "" {
			conv.Contact.Phones = []domain.Phone{{Number: ct.GetPhone(), Primary: true}}
		}
	}
	return conv, nil
}

package events

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/services/opportunity/internal/app"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
	"github.com/crmsuite/crm/services/opportunity/internal/protomap"
)

// RenewalsConsumer is the durable consumer of ContractRenewalDue events;
// its dead letters go to crm.dlq.<RenewalsConsumer>.
const RenewalsConsumer = "opportunity-contract-renewals"

// Renewals applies ContractRenewalDue events.
type Renewals struct {
	App *app.Service
}

// HandleBatch opens the renewal opportunities of a batch of
// ContractRenewalDue events at once (the inbox's BatchHandler; a batch it
// fails is handled again one event at a time). What no retry can fix goes
// to the dead-letter subject with a reason "<CODE>: <explanation>";
// anything else (the account service not answering) is redelivered.
func (h *Renewals) HandleBatch(ctx context.Context, ms []inbox.Message) error {
	rs := make([]app.Renewal, len(ms))
	for i, m := range ms {
		r, err := DecodeRenewal(m)
		if err != nil {
			return inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: %w", err))
		}
		rs[i] = r
	}
	err := h.App.ApplyRenewals(ctx, rs, func(ctx context.Context, i int) context.Context { return inbox.EventContext(ctx, ms[i]) })
	var rej *app.Rejection
	if errors.As(err, &rej) {
		return inbox.Permanent(rej)
	}
	return err
}

// DecodeRenewal reads a ContractRenewalDue event into the renewal
// opportunity it asks for.
func DecodeRenewal(m inbox.Message) (app.Renewal, error) {
	var ev eventsv1.ContractRenewalDue
	if err := proto.Unmarshal(m.Data, &ev); err != nil {
		return app.Renewal{}, fmt.Errorf("not a ContractRenewalDue event: %w", err)
	}
	contract, err := uuid.Parse(ev.GetContractId())
	if err != nil {
		return app.Renewal{}, fmt.Errorf("contract_id %q is not a UUID", ev.GetContractId())
	}
	if ev.GetTermNumber() < 1 {
		return app.Renewal{}, fmt.Errorf("term_number %d: terms count from 1", ev.GetTermNumber())
	}
	account, err := uuid.Parse(ev.GetAccountId())
	if err != nil {
		return app.Renewal{}, fmt.Errorf("account_id %q is not a UUID", ev.GetAccountId())
	}
	contact := uuid.Nil
	if c := ev.GetContactId(); c != "" {
		if contact, err = uuid.Parse(c); err != nil {
			return app.Renewal{}, fmt.Errorf("contact_id %q is not a UUID", c)
		}
	}
	// A renewal without a value (an unset or empty Money) has no amount;
	// a zero one in a currency is an amount of zero.
	var amount *moneypb.Money
	if v := ev.GetRenewalValue(); v != nil && !proto.Equal(v, &moneypb.Money{}) {
		if vs := money.Check("renewal_value", v, false); len(vs) > 0 {
			return app.Renewal{}, fmt.Errorf("%s: %s", vs[0].Field, vs[0].Description)
		}
		amount = v
	}
	closeDate := protomap.DateFromProto(ev.GetTermEndDate())
	if !closeDate.IsZero() && !closeDate.Valid() {
		return app.Renewal{}, fmt.Errorf("term_end_date %s is not a calendar date", closeDate)
	}
	term := int(ev.GetTermNumber())
	return app.Renewal{
		EventID: m.EventID, Actor: ev.GetMeta().GetActor(), ContractID: contract, Term: term, AccountOwner: ev.GetAccountOwner(), ContractOwner: ev.GetOwner(),
		Opportunity: domain.Opportunity{
			DisplayName: RenewalName(ev.GetContract().GetDisplayName(), term), AccountID: account, ContactID: contact,
			Amount: amount, ExpectedCloseDate: closeDate,
		},
	}, nil
}

// maxDisplayName is the API's limit on an opportunity's display name, in
// characters.
const maxDisplayName = 200

// RenewalName names the opportunity that renews term of a contract:
// "Renewal: <contract> (term <term+1>)", the contract's name cut to fit
// the API's limit; "Contract renewal" for a contract without a name.
func RenewalName(contract string, term int) string {
	contract = strings.TrimSpace(contract)
	if contract == "" {
		return "Contract renewal"
	}
	const prefix = "Renewal: "
	suffix := fmt.Sprintf(" (term %d)", term+1)
	if r := []rune(contract); len(r) > maxDisplayName-len(prefix)-len(suffix) {
		contract = strings.TrimSpace(string(r[:maxDisplayName-len(prefix)-len(suffix)]))
	}
	return prefix + contract + suffix
}

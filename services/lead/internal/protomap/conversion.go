package protomap

import (
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/type/date"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/types/known/timestamppb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/protoenum"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

// Resource names of the records a conversion produces.
func AccountName(id uuid.UUID) string     { return resname.Format("accounts", id) }
func ContactName(id uuid.UUID) string     { return resname.Format("contacts", id) }
func OpportunityName(id uuid.UUID) string { return resname.Format("opportunities", id) }
func OrderName(id uuid.UUID) string       { return resname.Format("orders", id) }

func conversion(c *domain.Conversion) *leadv1.Conversion {
	if c == nil {
		return nil
	}
	p := &leadv1.Conversion{
		Account:        AccountName(c.AccountID),
		CreateAccount:  c.CreateAccount,
		Contact:        ContactName(c.ContactID),
		CreateContact:  c.CreateContact,
		State:          leadv1.ConversionState(protoenum.Value(string(c.State), "CONVERSION_STATE_", leadv1.ConversionState_value)),
		FailureReason:  c.FailureReason,
		FailureMessage: c.FailureMessage,
		QualifiedBy:    c.By,
	}
	if c.OpportunityID != uuid.Nil {
		p.Opportunity = OpportunityName(c.OpportunityID)
	}
	if c.AccountDoneAt != nil {
		p.AccountCompleteTime = timestamppb.New(*c.AccountDoneAt)
	}
	if c.FailedAt != nil {
		p.FailTime = timestamppb.New(*c.FailedAt)
	}
	if c.OpportunityDoneAt != nil {
		p.OpportunityCompleteTime = timestamppb.New(*c.OpportunityDoneAt)
	}
	if c.OrderID != uuid.Nil {
		p.Order = OrderName(c.OrderID)
	}
	if c.OrderDoneAt != nil {
		p.OrderCompleteTime = timestamppb.New(*c.OrderDoneAt)
	}
	p.RetryCount = int32(c.RetryCount)
	if c.LastRetryAt != nil {
		p.LastRetryTime = timestamppb.New(*c.LastRetryAt)
	}
	return p
}

// ConversionRequest returns the domain form of a QualifyLead request. The
// request has passed protovalidate; money is checked here.
func ConversionRequest(r *leadv1.QualifyLeadRequest) (domain.ConversionRequest, error) {
	var req domain.ConversionRequest
	var err error
	if name := r.GetExistingAccount(); name != "" {
		// The pattern lets "accounts/" and 36 dashes through: parse, do
		// not assume.
		if req.ExistingAccount, err = resname.ParseField(name, "accounts", "existing_account"); err != nil {
			return req, err
		}
	} else if a := r.GetNewAccount(); a != nil {
		req.NewAccount = domain.NewAccount{
			Type:         domain.AccountType(protoenum.Name(a.GetType().String(), "ACCOUNT_TYPE_")),
			DisplayName:  a.GetDisplayName(),
			Industry:     a.GetIndustry(),
			CurrencyCode: a.GetCurrencyCode(),
			Owner:        a.GetOwner(),
		}
		if c := a.GetCurrencyCode(); c != "" && !money.ValidCurrency(c) {
			return req, apperr.InvalidField("new_account.currency_code", "UNKNOWN_CURRENCY", "%q is not an ISO 4217 currency code", c)
		}
	}
	if name := r.GetExistingContact(); name != "" {
		if req.ExistingContact, err = resname.ParseField(name, "contacts", "existing_contact"); err != nil {
			return req, err
		}
	} else if c := r.GetNewContact(); c != nil {
		req.NewContact = domain.NewContact{
			FirstName: c.GetFirstName(), LastName: c.GetLastName(), Title: c.GetTitle(), Department: c.GetDepartment(),
		}
	}
	if o := r.GetOpportunity(); o != nil {
		if vs := money.Check("opportunity.amount", o.GetAmount(), false); len(vs) > 0 {
			return req, apperr.Invalid(vs...)
		}
		if c := o.GetCurrencyCode(); c != "" && !money.ValidCurrency(c) {
			return req, apperr.InvalidField("opportunity.currency_code", "UNKNOWN_CURRENCY", "%q is not an ISO 4217 currency code", c)
		}
		opp := &domain.NewOpportunity{DisplayName: o.GetDisplayName(), WithoutProducts: o.GetWithoutProducts(), CurrencyCode: o.GetCurrencyCode()}
		if m := o.GetAmount(); m != nil {
			opp.Amount = &domain.Money{Currency: m.GetCurrencyCode(), Units: m.GetUnits(), Nanos: m.GetNanos()}
		}
		if d := o.GetExpectedCloseDate(); d != nil {
			if d.GetYear() < 1 || d.GetMonth() < 1 || d.GetMonth() > 12 || d.GetDay() < 1 || d.GetDay() > 31 {
				return req, apperr.InvalidField("opportunity.expected_close_date", "INVALID_DATE", "a full date is required")
			}
			opp.ExpectedCloseDate = &domain.Date{Year: int(d.GetYear()), Month: int(d.GetMonth()), Day: int(d.GetDay())}
		}
		req.Opportunity = opp
	}
	if o := r.GetOrder(); o != nil {
		order, err := newOrder(o)
		if err != nil {
			return req, err
		}
		req.Order = order
	}
	return req, nil
}

// newOrder returns the domain form of a conversion's order, with its
// currencies and prices checked; the domain checks the rest.
func newOrder(o *leadv1.NewOrder) (*domain.NewOrder, error) {
	var vs apperr.Violations
	if c := o.GetCurrencyCode(); c != "" && !money.ValidCurrency(c) {
		vs.Add("order.currency_code", "UNKNOWN_CURRENCY", "%q is not an ISO 4217 currency code", c)
	}
	out := &domain.NewOrder{DisplayName: o.GetDisplayName(), CurrencyCode: o.GetCurrencyCode(), Lines: make([]domain.OrderLine, len(o.GetLines()))}
	for i, l := range o.GetLines() {
		f := fmt.Sprintf("order.lines[%d].unit_price", i)
		p := l.GetUnitPrice()
		if p == nil {
			vs.Add(f, "UNIT_PRICE_REQUIRED", "a line needs a unit price")
		}
		vs = append(vs, money.Check(f, p, false)...)
		out.Lines[i] = domain.OrderLine{
			ProductCode: l.GetProductCode(), ProductName: l.GetProductName(), Quantity: l.GetQuantity(),
			UnitPrice:       domain.Money{Currency: p.GetCurrencyCode(), Units: p.GetUnits(), Nanos: p.GetNanos()},
			DiscountPercent: l.GetDiscountPercent(), TaxRate: l.GetTaxRate(),
		}
	}
	if d := o.GetExpectedFulfillmentDate(); d != nil {
		out.ExpectedFulfillmentDate = &domain.Date{Year: int(d.GetYear()), Month: int(d.GetMonth()), Day: int(d.GetDay())}
	}
	return out, vs.Err()
}

func leadQualified(meta *eventsv1.EventMeta, l *domain.Lead) (*eventsv1.LeadQualified, error) {
	c := l.Conversion
	if c == nil {
		return nil, errNoConversion
	}
	// The event id is the conversion attempt's id, so that the account
	// service's answer can name the attempt it answers.
	meta.EventId = c.ID.String()
	ev := &eventsv1.LeadQualified{
		Meta: meta, LeadId: l.ID.String(), Lead: Lead(l),
		Account: &eventsv1.ConversionAccount{AccountId: c.AccountID.String(), Create: c.CreateAccount},
		Contact: &eventsv1.ConversionContact{ContactId: c.ContactID.String(), Create: c.CreateContact},
	}
	if c.CreateAccount {
		a := ev.Account
		a.Type = accountv1.AccountType(protoenum.Value(string(c.Account.Type), "ACCOUNT_TYPE_", accountv1.AccountType_value))
		a.DisplayName, a.Industry, a.CurrencyCode, a.Owner = c.Account.DisplayName, c.Account.Industry, c.Account.CurrencyCode, c.Account.Owner
		a.Website, a.Phone, a.Address = l.Website, l.Phone, address(l.Address)
	}
	if c.CreateContact {
		p := ev.Contact
		p.FirstName, p.LastName, p.Title, p.Department = c.Contact.FirstName, c.Contact.LastName, c.Contact.Title, c.Contact.Department
		p.Email, p.Phone, p.Owner = l.Email, l.Phone, l.Owner
	}
	if o := c.Opportunity; o != nil {
		op := &eventsv1.ConversionOpportunity{
			OpportunityId: c.OpportunityID.String(), DisplayName: o.DisplayName, Owner: l.Owner,
			AccountId: c.AccountID.String(), ContactId: c.ContactID.String(),
		}
		if m := o.Amount; m != nil {
			op.Amount = &moneypb.Money{CurrencyCode: m.Currency, Units: m.Units, Nanos: m.Nanos}
		}
		if d := o.ExpectedCloseDate; d != nil {
			op.ExpectedCloseDate = &date.Date{Year: int32(d.Year), Month: int32(d.Month), Day: int32(d.Day)}
		}
		for _, li := range o.Lines {
			op.LineItems = append(op.LineItems, &opportunityv1.LineItem{Product: li.Product, Quantity: li.Quantity,
				UnitPrice: &moneypb.Money{CurrencyCode: li.UnitPrice.Currency, Units: li.UnitPrice.Units, Nanos: li.UnitPrice.Nanos}})
		}
		ev.Opportunity = op
	}
	if o := c.Order; o != nil {
		ev.Order = &eventsv1.ConversionOrder{
			OrderId: c.OrderID.String(), DisplayName: o.DisplayName, CurrencyCode: o.CurrencyCode, Lines: orderLines(o.Lines),
			Owner: o.Owner, AccountId: c.AccountID.String(), ContactId: c.ContactID.String(),
		}
		if d := o.ExpectedFulfillmentDate; d != nil {
			ev.Order.ExpectedFulfillmentDate = &date.Date{Year: int32(d.Year), Month: int32(d.Month), Day: int32(d.Day)}
		}
	}
	return ev, nil
}

func orderLines(lines []domain.OrderLine) []*orderv1.OrderLine {
	out := make([]*orderv1.OrderLine, len(lines))
	for i, l := range lines {
		out[i] = &orderv1.OrderLine{
			ProductCode: l.ProductCode, ProductName: l.ProductName, Quantity: l.Quantity,
			UnitPrice:       &moneypb.Money{CurrencyCode: l.UnitPrice.Currency, Units: l.UnitPrice.Units, Nanos: l.UnitPrice.Nanos},
			DiscountPercent: l.DiscountPercent, TaxRate: l.TaxRate,
		}
	}
	return out
}

package domain

import (
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// ConversionState says whether the other services have finished a
// conversion the lead committed.
type ConversionState string

const (
	ConversionPending  ConversionState = "PENDING"
	ConversionComplete ConversionState = "COMPLETE"
	ConversionFailed   ConversionState = "FAILED"
)

// AccountType of an account a conversion creates.
type AccountType string

const (
	AccountCompany    AccountType = "COMPANY"
	AccountIndividual AccountType = "INDIVIDUAL"
)

// ConversionRequest is what the user asked a conversion to produce. A nil
// ExistingAccount (ExistingContact) asks for a new account (contact) made
// from the lead and the New* fields.
type ConversionRequest struct {
	ExistingAccount uuid.UUID
	NewAccount      NewAccount
	ExistingContact uuid.UUID
	NewContact      NewContact
	Opportunity     *NewOpportunity
	Order           *NewOrder
}

// NewAccount are the account fields a conversion sets; empty ones come from
// the lead.
type NewAccount struct {
	Type         AccountType `json:"type,omitempty"`
	DisplayName  string      `json:"display_name,omitempty"`
	Industry     string      `json:"industry,omitempty"`
	CurrencyCode string      `json:"currency_code,omitempty"`
	Owner        string      `json:"owner,omitempty"`
}

// NewContact are the contact fields a conversion sets; empty ones come from
// the lead.
type NewContact struct {
	FirstName  string `json:"first_name,omitempty"`
	LastName   string `json:"last_name,omitempty"`
	Title      string `json:"title,omitempty"`
	Department string `json:"department,omitempty"`
}

// Money is an exact amount: Units and Nanos (billionths) of Currency.
type Money struct {
	Currency string `json:"currency,omitempty"`
	Units    int64  `json:"units,omitempty"`
	Nanos    int32  `json:"nanos,omitempty"`
}

// Date is a calendar date.
type Date struct {
	Year  int `json:"year"`
	Month int `json:"month"`
	Day   int `json:"day"`
}

// NewOpportunity is the opportunity a conversion opens.
type NewOpportunity struct {
	DisplayName       string `json:"display_name,omitempty"`
	Amount            *Money `json:"amount,omitempty"`
	ExpectedCloseDate *Date  `json:"expected_close_date,omitempty"`
	// WithoutProducts leaves the lead's products of interest out of the
	// opportunity.
	WithoutProducts bool `json:"without_products,omitempty"`
	// CurrencyCode is that of the lines made from unpriced products; Qualify
	// settles it.
	CurrencyCode string `json:"currency_code,omitempty"`
	// Lines are the lead's products of interest as the opportunity's line
	// items, made by Qualify.
	Lines []OpportunityLine `json:"lines,omitempty"`
}

// OpportunityLine is a line item of a conversion's opportunity, made from
// a product of interest (zero-priced when it had no price).
type OpportunityLine struct {
	Product   string `json:"product"`
	Quantity  string `json:"quantity"`
	UnitPrice Money  `json:"unit_price"`
}

// NewOrder is the draft order a conversion makes; the order service
// prices it. Qualify settles its currency, name and owner.
type NewOrder struct {
	DisplayName             string      `json:"display_name,omitempty"`
	CurrencyCode            string      `json:"currency_code,omitempty"`
	Lines                   []OrderLine `json:"lines,omitempty"`
	ExpectedFulfillmentDate *Date       `json:"expected_fulfillment_date,omitempty"`
	Owner                   string      `json:"owner,omitempty"`
}

// OrderLine is a line of a conversion's order as the user gave it: the
// decimals are strings, checked (ConversionRequest.Check) but passed on
// as written.
type OrderLine struct {
	ProductCode     string `json:"product_code,omitempty"`
	ProductName     string `json:"product_name,omitempty"`
	Quantity        string `json:"quantity,omitempty"`
	UnitPrice       Money  `json:"unit_price"`
	DiscountPercent string `json:"discount_percent,omitempty"`
	TaxRate         string `json:"tax_rate,omitempty"`
}

// Conversion is a lead's conversion: the records it produces, with the ids
// the lead service allocated, and how far the other services got.
type Conversion struct {
	// ID identifies this conversion attempt; the LeadQualified event has it
	// as its event id.
	ID            uuid.UUID  `json:"id,omitempty"`
	AccountID     uuid.UUID  `json:"account_id,omitempty"`
	CreateAccount bool       `json:"create_account,omitempty"`
	Account       NewAccount `json:"account,omitempty"`
	ContactID     uuid.UUID  `json:"contact_id,omitempty"`
	CreateContact bool       `json:"create_contact,omitempty"`
	Contact       NewContact `json:"contact,omitempty"`
	// OpportunityID is Nil when no opportunity was asked for.
	OpportunityID uuid.UUID       `json:"opportunity_id,omitempty"`
	Opportunity   *NewOpportunity `json:"opportunity,omitempty"`
	// OrderID is Nil when no order was asked for.
	OrderID uuid.UUID `json:"order_id,omitempty"`
	Order   *NewOrder `json:"order,omitempty"`

	State          ConversionState `json:"state,omitempty"`
	FailureReason  string          `json:"failure_reason,omitempty"`
	FailureMessage string          `json:"failure_message,omitempty"`
	By             string          `json:"by,omitempty"`
	AccountDoneAt  *time.Time      `json:"account_done_at,omitempty"`
	// OpportunityDoneAt is when the opportunity service had opened the
	// opportunity, if one was asked for.
	OpportunityDoneAt *time.Time `json:"opportunity_done_at,omitempty"`
	// OrderDoneAt is when the order service had made the order, if one
	// was asked for.
	OrderDoneAt *time.Time `json:"order_done_at,omitempty"`
	FailedAt    *time.Time `json:"failed_at,omitempty"`
	// RetryCount and LastRetryAt: how often, and when last, a manager sent
	// the conversion again.
	RetryCount  int        `json:"retry_count,omitempty"`
	LastRetryAt *time.Time `json:"last_retry_at,omitempty"`
}

// Qualify converts the lead: it becomes QUALIFIED, with a pending
// conversion whose ids are allocated here. Qualifying a lead whose
// conversion is under way or done changes nothing (the caller gets the
// same ids back); one whose conversion FAILED may be converted again.
func (l *Lead) Qualify(req ConversionRequest, actor string, now time.Time) ([]Event, error) {
	switch l.Status {
	case StatusQualified:
		if l.Conversion != nil && l.Conversion.State != ConversionFailed {
			return nil, nil
		}
	case StatusDisqualified:
		return nil, apperr.FailedPrecondition("LEAD_DISQUALIFIED",
			"lead %s is disqualified: reactivate it before converting it", l.ID)
	case StatusMerged:
		return nil, apperr.FailedPrecondition("LEAD_MERGED",
			"lead %s was merged into %s: convert that lead instead", l.ID, l.MergedInto).
			WithMeta("merged_into", "leads/"+l.MergedInto.String())
	}
	c := &Conversion{
		ID: uuid.Must(uuid.NewV7()), State: ConversionPending, By: actor,
		AccountID: req.ExistingAccount, ContactID: req.ExistingContact,
	}
	var vs apperr.Violations
	if c.AccountID == uuid.Nil {
		c.CreateAccount, c.AccountID = true, uuid.Must(uuid.NewV7())
		c.Account = l.accountFrom(req.NewAccount)
	}
	if c.ContactID == uuid.Nil {
		c.CreateContact, c.ContactID = true, uuid.Must(uuid.NewV7())
		c.Contact = l.contactFrom(req.NewContact)
		if c.Contact.FirstName == "" && c.Contact.LastName == "" {
			vs.Add("new_contact.last_name", "CONTACT_NAME_REQUIRED",
				"the lead has no person's name: give the new contact's name, or choose an existing contact")
		}
	}
	if o := req.Opportunity; o != nil {
		c.OpportunityID = uuid.Must(uuid.NewV7())
		opp := *o
		opp.DisplayName = strings.TrimSpace(opp.DisplayName)
		if opp.DisplayName == "" {
			opp.DisplayName = l.dealName(c)
		}
		vs = append(vs, l.productLines(&opp, c)...)
		c.Opportunity = &opp
	}
	if o, ovs := req.order(); o != nil {
		vs = append(vs, ovs...)
		c.OrderID = uuid.Must(uuid.NewV7())
		if o.DisplayName == "" {
			o.DisplayName = truncate(l.dealName(c), maxOrderName)
		}
		o.Owner = l.Owner
		if c.CreateAccount {
			o.Owner = c.Account.Owner
		}
		c.Order = o
	}
	if err := vs.Err(); err != nil {
		return nil, err
	}
	l.Status = StatusQualified
	l.QualifiedAt = &now
	l.Conversion = c
	l.touch(actor, now)
	return []Event{Qualified{}}, nil
}

// productLines makes the lead's products of interest the opportunity's
// line items, unless it asks not to. Their sum is the opportunity's
// amount, so an amount given besides is refused rather than dropped.
// Unpriced products are priced at zero in the priced ones' currency, or
// the opportunity's, or the new account's.
func (l *Lead) productLines(opp *NewOpportunity, c *Conversion) apperr.Violations {
	opp.Lines = nil
	if opp.WithoutProducts || len(l.Products) == 0 {
		return nil
	}
	var vs apperr.Violations
	if opp.Amount != nil {
		vs.Add("opportunity.amount", "AMOUNT_WITH_PRODUCTS",
			"the lead's %d products of interest become the opportunity's line items, whose sum is its amount: leave the amount out, or set without_products", len(l.Products))
	}
	currency := productsCurrency(l.Products)
	switch {
	case currency != "" && opp.CurrencyCode != "" && opp.CurrencyCode != currency:
		vs.Add("opportunity.currency_code", "CURRENCY_MISMATCH", "the lead's products are priced in %s, not %s", currency, opp.CurrencyCode)
	case currency == "":
		currency = opp.CurrencyCode
	}
	if currency == "" && c.CreateAccount {
		currency = c.Account.CurrencyCode
	}
	if currency == "" {
		vs.Add("opportunity.currency_code", "CURRENCY_REQUIRED",
			"the lead's products of interest have no prices: give the opportunity's currency_code (or the new account's)")
	}
	opp.CurrencyCode = currency
	for _, p := range l.Products {
		price := Money{Currency: currency}
		if p.UnitPrice != nil {
			price = *p.UnitPrice
		}
		opp.Lines = append(opp.Lines, OpportunityLine{Product: p.Product, Quantity: p.Quantity, UnitPrice: price})
	}
	return vs
}

func (l *Lead) personName() string {
	return strings.TrimSpace(l.FirstName + " " + l.LastName)
}

func (l *Lead) accountFrom(in NewAccount) NewAccount {
	a := NewAccount{
		Type: in.Type, DisplayName: strings.TrimSpace(in.DisplayName), Industry: strings.TrimSpace(in.Industry),
		CurrencyCode: in.CurrencyCode, Owner: strings.TrimSpace(in.Owner),
	}
	if a.Type == "" {
		a.Type = AccountCompany
		if l.Company == "" {
			a.Type = AccountIndividual
		}
	}
	if a.DisplayName == "" {
		a.DisplayName = l.Company
		if a.Type == AccountIndividual || a.DisplayName == "" {
			a.DisplayName = l.personName()
		}
	}
	if a.Owner == "" {
		a.Owner = l.Owner
	}
	return a
}

func (l *Lead) contactFrom(in NewContact) NewContact {
	c := NewContact{
		FirstName: strings.TrimSpace(in.FirstName), LastName: strings.TrimSpace(in.LastName),
		Title: strings.TrimSpace(in.Title), Department: strings.TrimSpace(in.Department),
	}
	if c.FirstName == "" && c.LastName == "" {
		c.FirstName, c.LastName = l.FirstName, l.LastName
	}
	if c.Title == "" {
		c.Title = l.Title
	}
	return c
}

// dealName is the default name of the opportunity and the order a
// conversion makes: "<account name> – <campaign or source>".
func (l *Lead) dealName(c *Conversion) string {
	base := c.Account.DisplayName
	if base == "" {
		base = l.Company
	}
	if base == "" {
		base = l.personName()
	}
	what := l.Campaign
	if what == "" {
		what = strings.ReplaceAll(strings.ToLower(string(l.Source)), "_", " ")
	}
	if what == "" {
		return base
	}
	return base + " – " + what
}

// ContactApplied records that the account service created or linked the
// conversion's contact (and so has its account). Confirmations of other or
// settled conversions change nothing.
func (l *Lead) ContactApplied(contactID uuid.UUID, at time.Time, actor string, now time.Time) []Event {
	c := l.Conversion
	if c == nil || c.State != ConversionPending || c.ContactID != contactID || c.AccountDoneAt != nil {
		return nil
	}
	c.AccountDoneAt = &at
	return l.conversionProgressed(actor, now)
}

// OpportunityApplied records that the opportunity service opened the
// conversion's opportunity.
func (l *Lead) OpportunityApplied(opportunityID uuid.UUID, at time.Time, actor string, now time.Time) []Event {
	c := l.Conversion
	if c == nil || c.State != ConversionPending || c.OpportunityID == uuid.Nil || c.OpportunityID != opportunityID || c.OpportunityDoneAt != nil {
		return nil
	}
	c.OpportunityDoneAt = &at
	return l.conversionProgressed(actor, now)
}

// OrderApplied records that the order service made the conversion's
// draft order.
func (l *Lead) OrderApplied(orderID uuid.UUID, at time.Time, actor string, now time.Time) []Event {
	c := l.Conversion
	if c == nil || c.State != ConversionPending || c.OrderID == uuid.Nil || c.OrderID != orderID || c.OrderDoneAt != nil {
		return nil
	}
	c.OrderDoneAt = &at
	return l.conversionProgressed(actor, now)
}

// conversionProgressed completes the conversion once every part is done:
// the account and contact, and the opportunity and the order if they were
// asked for, whatever order the services answered in.
func (l *Lead) conversionProgressed(actor string, now time.Time) []Event {
	c := l.Conversion
	if c.AccountDoneAt != nil && (c.OpportunityID == uuid.Nil || c.OpportunityDoneAt != nil) &&
		(c.OrderID == uuid.Nil || c.OrderDoneAt != nil) {
		c.State = ConversionComplete
	}
	l.touch(actor, now)
	return []Event{ConversionChanged{}}
}

// RetryConversion sends a PENDING conversion again (ConversionResent: the
// same LeadQualified, as a resend the services that applied it skip).
func (l *Lead) RetryConversion(actor string, now time.Time) ([]Event, error) {
	c := l.Conversion
	if c == nil || c.State != ConversionPending {
		state := "not converted"
		if c != nil {
			state = string(c.State)
		}
		return nil, apperr.FailedPrecondition("CONVERSION_NOT_PENDING", "lead %s's conversion is %s: only a PENDING one is sent again (qualify a FAILED one again)", l.ID, state)
	}
	c.RetryCount++
	c.LastRetryAt = &now
	l.touch(actor, now)
	return []Event{ConversionResent{Attempt: c.RetryCount}}, nil
}

// FailConversion records that the account or order service refused
// conversion attempt id, and why.
func (l *Lead) FailConversion(id uuid.UUID, reason, message string, at time.Time, actor string, now time.Time) []Event {
	c := l.Conversion
	if c == nil || c.State != ConversionPending || c.ID != id {
		return nil
	}
	c.State = ConversionFailed
	c.FailureReason, c.FailureMessage = reason, message
	c.FailedAt = &at
	l.touch(actor, now)
	return []Event{ConversionChanged{}}
}

// Limits the order service holds an order to; a conversion asking for
// more would certainly fail there, so it is refused here.
const (
	maxOrderName    = 200  // bytes, as the order service counts them
	maxOrderTaxRate = 1000 // percent
)

// Check refuses, with field violations, a request whose order the order
// service would certainly refuse, so that nothing changes rather than the
// conversion failing later. Qualify checks it again.
func (r ConversionRequest) Check() error {
	_, vs := r.order()
	return vs.Err()
}

// order returns the request's order with its currency settled (the
// request's; else the new account's; else the first line's) and what is
// wrong with it: every line must have a product code, a positive
// quantity, a price in the order's currency, a discount of 0-100 % and a
// tax rate of 0-1000 %, and amounts that fit the order service's money.
func (r ConversionRequest) order() (*NewOrder, apperr.Violations) {
	if r.Order == nil {
		return nil, nil
	}
	o := *r.Order
	o.Lines = append([]OrderLine(nil), r.Order.Lines...)
	o.DisplayName = strings.TrimSpace(o.DisplayName)
	var vs apperr.Violations
	if len(o.DisplayName) > maxOrderName {
		vs.Add("order.display_name", "TOO_LONG", "an order's name has at most %d bytes, not %d", maxOrderName, len(o.DisplayName))
	}
	if o.CurrencyCode == "" && r.ExistingAccount == uuid.Nil {
		o.CurrencyCode = r.NewAccount.CurrencyCode
	}
	if o.CurrencyCode == "" && len(o.Lines) > 0 {
		o.CurrencyCode = o.Lines[0].UnitPrice.Currency
	}
	if o.CurrencyCode == "" {
		vs.Add("order.currency_code", "CURRENCY_REQUIRED", "an order has a currency: give it, or the new account's")
	}
	if len(o.Lines) == 0 {
		vs.Add("order.lines", "LINES_REQUIRED", "an order has at least one line")
	}
	limit := new(big.Rat).SetInt64(math.MaxInt64)
	sum := new(big.Rat)
	for i, line := range o.Lines {
		f := fmt.Sprintf("order.lines[%d]", i)
		ok := true
		if strings.TrimSpace(line.ProductCode) == "" {
			vs.Add(f+".product_code", "PRODUCT_CODE_REQUIRED", "a line names a product code")
		}
		qty, good := decimal(line.Quantity)
		if !good || qty.Sign() <= 0 {
			vs.Add(f+".quantity", "INVALID_QUANTITY", "quantity must be a positive decimal, not %q", line.Quantity)
			ok = false
		}
		disc := new(big.Rat)
		if line.DiscountPercent != "" {
			if disc, good = decimal(line.DiscountPercent); !good || disc.Sign() < 0 || disc.Cmp(big.NewRat(100, 1)) > 0 {
				vs.Add(f+".discount_percent", "INVALID_DISCOUNT", "discount_percent is a decimal from 0 to 100, not %q", line.DiscountPercent)
				ok = false
			}
		}
		tax := new(big.Rat)
		if line.TaxRate != "" {
			if tax, good = decimal(line.TaxRate); !good || tax.Sign() < 0 || tax.Cmp(big.NewRat(maxOrderTaxRate, 1)) > 0 {
				vs.Add(f+".tax_rate", "INVALID_TAX_RATE", "tax_rate is a decimal percent from 0 to %d, not %q", maxOrderTaxRate, line.TaxRate)
				ok = false
			}
		}
		if c := line.UnitPrice.Currency; c != o.CurrencyCode {
			vs.Add(f+".unit_price.currency_code", "CURRENCY_MISMATCH", "every line is in the order's currency %q, not %q", o.CurrencyCode, c)
			ok = false
		}
		if !ok {
			continue
		}
		// subtotal x (1 - discount) x (1 + tax), before the order service
		// rounds it: it must fit int64 units, as must the order's total.
		total := new(big.Rat).Mul(qty, line.UnitPrice.rat())
		sub := new(big.Rat).Set(total)
		total.Mul(total, new(big.Rat).Sub(big.NewRat(1, 1), new(big.Rat).Quo(disc, big.NewRat(100, 1))))
		total.Mul(total, new(big.Rat).Add(big.NewRat(1, 1), new(big.Rat).Quo(tax, big.NewRat(100, 1))))
		if sub.Cmp(limit) >= 0 || total.Cmp(limit) >= 0 {
			vs.Add(f, "AMOUNT_OUT_OF_RANGE", "the line's amount is out of range")
			continue
		}
		sum.Add(sum, total)
	}
	if sum.Cmp(limit) >= 0 {
		vs.Add("order.lines", "AMOUNT_OUT_OF_RANGE", "the order's total is out of range")
	}
	if d := o.ExpectedFulfillmentDate; d != nil && !d.valid() {
		vs.Add("order.expected_fulfillment_date", "INVALID_DATE", "%04d-%02d-%02d is not a calendar date", d.Year, d.Month, d.Day)
	}
	return &o, vs
}

// decimal parses an exact decimal ("2.5"), as the order service does:
// exponents and fractions are refused.
func decimal(s string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 32 || strings.ContainsAny(s, "eE/") {
		return nil, false
	}
	return new(big.Rat).SetString(s)
}

// rat is m's exact amount.
func (m Money) rat() *big.Rat {
	return new(big.Rat).SetFrac(
		new(big.Int).Add(new(big.Int).Mul(big.NewInt(m.Units), big.NewInt(1_000_000_000)), big.NewInt(int64(m.Nanos))),
		big.NewInt(1_000_000_000))
}

// valid reports a real calendar date in years 1 to 9999.
func (d Date) valid() bool {
	if d.Year < 1 || d.Year > 9999 || d.Month < 1 || d.Month > 12 || d.Day < 1 {
		return false
	}
	return d.Day <= time.Date(d.Year, time.Month(d.Month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// truncate cuts s to at most n bytes, at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimSpace(s[:n])
}

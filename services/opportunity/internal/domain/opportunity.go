package domain

import (
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/money"
)

// State of an opportunity: open, or how it closed.
type State string

const (
	StateOpen         State = "OPEN"
	StateWon          State = "WON"
	StateLost         State = "LOST"
	StateDisqualified State = "DISQUALIFIED"
)

// Type of an opportunity. RENEWAL is reserved for the opportunities the
// service opens when a contract's renewal falls due.
type Type string

const (
	TypeNewBusiness Type = "NEW_BUSINESS"
	TypeExpansion   Type = "EXPANSION"
	TypeRenewal     Type = "RENEWAL"
)

// BillingInterval of the contract a recurring deal becomes.
type BillingInterval string

const (
	IntervalMonthly   BillingInterval = "MONTHLY"
	IntervalQuarterly BillingInterval = "QUARTERLY"
	IntervalYearly    BillingInterval = "YEARLY"
)

// Valid reports one of the intervals.
func (i BillingInterval) Valid() bool {
	return i == IntervalMonthly || i == IntervalQuarterly || i == IntervalYearly
}

// MaxTermMonths is the longest first term of a contract (ten years).
const MaxTermMonths = 120

// ContractTerms make a deal recurring: won, it becomes a draft contract
// in the order service instead of a one-off order.
type ContractTerms struct {
	// Interval is MONTHLY when not given.
	Interval BillingInterval
	// TermMonths is the first term's length, 0 for an evergreen contract.
	TermMonths int
	AutoRenew  bool
}

// Date is a calendar date (expected close).
type Date struct{ Year, Month, Day int }

// IsZero reports an unset date.
func (d Date) IsZero() bool { return d == Date{} }

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Valid reports a real calendar date.
func (d Date) Valid() bool {
	t := time.Date(d.Year, time.Month(d.Month), d.Day, 0, 0, 0, 0, time.UTC)
	return d.Year >= 1 && d.Year <= 9999 && t.Year() == d.Year && int(t.Month()) == d.Month && t.Day() == d.Day
}

// LineItem is a product line; Amount is computed.
type LineItem struct {
	Product string
	// Quantity and DiscountPercent are exact decimals ("2.5", "12.5").
	Quantity        string
	UnitPrice       *moneypb.Money
	DiscountPercent string
	Amount          *moneypb.Money
}

// Opportunity is a possible sale to an account.
type Opportunity struct {
	ID          uuid.UUID
	DisplayName string
	AccountID   uuid.UUID
	// ContactID is the primary contact; uuid.Nil when none.
	ContactID  uuid.UUID
	Owner      string
	SourceLead uuid.UUID
	PipelineID uuid.UUID
	Stage      string
	// LastOpenStage is where a reopen goes by default.
	LastOpenStage string
	State         State
	CurrencyCode  string
	// Amount in CurrencyCode; nil when unknown. With line items, their sum.
	Amount                *moneypb.Money
	LineItems             []LineItem
	ExpectedCloseDate     Date
	Probability           int
	ProbabilityOverridden bool
	ForecastCategory      ForecastCategory
	ForecastOverridden    bool
	// Type is NEW_BUSINESS unless given; RENEWAL only by NewRenewal.
	Type Type
	// RenewalContract and RenewalTerm are, for a RENEWAL, the contract
	// and its term that ends; uuid.Nil and 0 otherwise.
	RenewalContract uuid.UUID
	RenewalTerm     int
	// ContractTerms is nil for a one-off deal.
	ContractTerms *ContractTerms
	// BuyingCommittee is who decides the deal, with their roles in it.
	BuyingCommittee []CommitteeMember
	NextStep        string
	Description     string
	LossReason      string
	Competitor      string
	// WinReason is the reason given when won; empty if none was.
	WinReason string
	CloseNote string
	// CloseTime is zero while open.
	CloseTime      time.Time
	StageEnteredAt time.Time
	CreatedAt      time.Time
	CreatedBy      string
	UpdatedAt      time.Time
	UpdatedBy      string
	Version        int64
}

// Field names a settable opportunity field, as in the API.
type Field string

const (
	FieldDisplayName       Field = "display_name"
	FieldAccount           Field = "account"
	FieldPrimaryContact    Field = "primary_contact"
	FieldOwner             Field = "owner"
	FieldPipeline          Field = "pipeline"
	FieldAmount            Field = "amount"
	FieldLineItems         Field = "line_items"
	FieldExpectedCloseDate Field = "expected_close_date"
	FieldProbability       Field = "probability"
	FieldForecastCategory  Field = "forecast_category"
	FieldNextStep          Field = "next_step"
	FieldDescription       Field = "description"
	FieldType              Field = "type"
	FieldContractTerms     Field = "contract_terms"
	FieldBuyingCommittee   Field = "buying_committee"
)

// OpportunityFields can change through UpdateOpportunity; the stage
// changes through the custom methods, the pipeline not at all.
var OpportunityFields = []Field{
	FieldDisplayName, FieldAccount, FieldPrimaryContact, FieldOwner, FieldAmount, FieldLineItems,
	FieldExpectedCloseDate, FieldProbability, FieldForecastCategory, FieldNextStep, FieldDescription,
	FieldType, FieldContractTerms, FieldBuyingCommittee,
}

// Settings are what a caller may set on create besides the fields: the
// probability and forecast category count as overrides only when given.
type Settings struct {
	ProbabilitySet bool
	ForecastSet    bool
}

// NewOpportunity opens an opportunity in stage (or the pipeline's first
// open stage when empty); id may be uuid.Nil for a new one (conversions
// bring their own). Its type is NEW_BUSINESS (when not given) or
// EXPANSION: RENEWAL is INVALID_ARGUMENT on `type`, renewals are opened
// by NewRenewal.
func NewOpportunity(in Opportunity, set Settings, p *Pipeline, stageID string, id uuid.UUID, actor string, now time.Time) (*Opportunity, []Event, error) {
	if in.Type == TypeRenewal {
		return nil, nil, errRenewalReserved()
	}
	if in.Type == "" {
		in.Type = TypeNewBusiness
	}
	in.RenewalContract, in.RenewalTerm = uuid.Nil, 0
	return open(in, set, p, stageID, id, actor, now)
}

// NewRenewal opens the RENEWAL opportunity of term of contract, with id
// (the one both services agree on for the pair), in the pipeline's first
// open stage. It has no contract terms: winning it renews the contract on
// the contract's own.
func NewRenewal(in Opportunity, contract uuid.UUID, term int, p *Pipeline, id uuid.UUID, actor string, now time.Time) (*Opportunity, []Event, error) {
	if contract == uuid.Nil || term < 1 {
		return nil, nil, apperr.InvalidField("renewal_term", "INVALID_RENEWAL", "a renewal renews a term (from 1) of a contract, not term %d of %s", term, contract)
	}
	in.Type, in.RenewalContract, in.RenewalTerm, in.ContractTerms = TypeRenewal, contract, term, nil
	return open(in, Settings{}, p, "", id, actor, now)
}

const renewalReserved = "RENEWAL opportunities are opened by contracts' renewals; an opportunity is NEW_BUSINESS or EXPANSION"

func errRenewalReserved() error {
	return apperr.InvalidField(string(FieldType), "RENEWAL_RESERVED", renewalReserved)
}

func open(in Opportunity, set Settings, p *Pipeline, stageID string, id uuid.UUID, actor string, now time.Time) (*Opportunity, []Event, error) {
	o := in
	o.ID = id
	if o.ID == uuid.Nil {
		o.ID = uuid.Must(uuid.NewV7())
	}
	o.normalize()
	if o.Owner == "" {
		o.Owner = actor
	}
	o.PipelineID = p.ID
	st := p.FirstOpen()
	if stageID != "" {
		s, ok := p.Stage(stageID)
		if !ok || s.Kind != KindOpen || s.Retired {
			return nil, nil, apperr.InvalidField("stage", "STAGE_NOT_OPEN", "stage %q is not an open, active stage of the pipeline", stageID)
		}
		st = s
	}
	o.Stage, o.LastOpenStage, o.State = st.ID, st.ID, StateOpen
	o.ProbabilityOverridden = set.ProbabilitySet && o.Probability != st.Probability
	if !o.ProbabilityOverridden {
		o.Probability = st.Probability
	}
	o.ForecastOverridden = set.ForecastSet && o.ForecastCategory != "" && o.ForecastCategory != st.ForecastCategory
	if !o.ForecastOverridden {
		o.ForecastCategory = st.ForecastCategory
	}
	o.LossReason, o.Competitor, o.CloseNote, o.CloseTime, o.WinReason = "", "", "", time.Time{}, ""
	if err := o.settle(); err != nil {
		return nil, nil, err
	}
	o.StageEnteredAt = now
	o.CreatedAt, o.CreatedBy, o.UpdatedAt, o.UpdatedBy = now, actor, now, actor
	o.Version = 1
	return &o, []Event{
		OpportunityCreated{SourceLead: o.SourceLead},
		StageChanged{Change: StageChange{ID: uuid.Must(uuid.NewV7()), OpportunityID: o.ID, PipelineID: o.PipelineID,
			To: o.Stage, Actor: actor, At: now}},
	}, nil
}

func (o *Opportunity) normalize() {
	for _, s := range []*string{&o.DisplayName, &o.Owner, &o.NextStep, &o.CurrencyCode} {
		*s = strings.TrimSpace(*s)
	}
	if o.LineItems == nil {
		o.LineItems = []LineItem{}
	}
	o.BuyingCommittee = normalizeCommittee(o.BuyingCommittee)
	// A copy: the caller's terms stay as given.
	if t := o.ContractTerms; t != nil {
		c := *t
		if c.Interval == "" {
			c.Interval = IntervalMonthly
		}
		o.ContractTerms = &c
	}
}

// settle derives the currency and amount (the sum of the lines, when
// there are any) and checks the rules every opportunity keeps.
func (o *Opportunity) settle() error {
	var vs apperr.Violations
	if o.DisplayName == "" {
		vs.Add(string(FieldDisplayName), "DISPLAY_NAME_REQUIRED", "an opportunity needs a display name")
	}
	if o.AccountID == uuid.Nil {
		vs.Add(string(FieldAccount), "ACCOUNT_REQUIRED", "an opportunity belongs to an account")
	}
	if o.Probability < 0 || o.Probability > 100 {
		vs.Add(string(FieldProbability), "INVALID_PROBABILITY", "probability is 0 to 100")
	}
	if o.ForecastCategory != "" && !ValidForecast(o.ForecastCategory) {
		vs.Add(string(FieldForecastCategory), "INVALID_FORECAST_CATEGORY", "unknown forecast category")
	}
	switch o.Type {
	case TypeNewBusiness, TypeExpansion:
	case TypeRenewal:
		if o.ContractTerms != nil {
			vs.Add(string(FieldContractTerms), "RENEWAL_HAS_CONTRACT_TERMS", "a renewal renews its contract on the contract's terms; it has none of its own")
		}
	default:
		vs.Add(string(FieldType), "INVALID_TYPE", "type is NEW_BUSINESS or EXPANSION, not %q", o.Type)
	}
	if t := o.ContractTerms; t != nil {
		if !t.Interval.Valid() {
			vs.Add(string(FieldContractTerms)+".billing_interval", "INVALID_BILLING_INTERVAL", "billing interval is MONTHLY, QUARTERLY or YEARLY, not %q", t.Interval)
		}
		if t.TermMonths < 0 || t.TermMonths > MaxTermMonths {
			vs.Add(string(FieldContractTerms)+".term_months", "INVALID_TERM_MONTHS", "term_months is 0 (evergreen) to %d, not %d", MaxTermMonths, t.TermMonths)
		}
	}
	vs = append(vs, checkCommittee(o.BuyingCommittee)...)
	if !o.ExpectedCloseDate.IsZero() && !o.ExpectedCloseDate.Valid() {
		vs.Add(string(FieldExpectedCloseDate), "INVALID_DATE", "%s is not a calendar date", o.ExpectedCloseDate)
	}
	if o.Amount != nil {
		for _, v := range money.Check(string(FieldAmount), o.Amount, false) {
			v.Reason = "INVALID_AMOUNT"
			vs = append(vs, v)
		}
		if o.CurrencyCode == "" {
			o.CurrencyCode = o.Amount.GetCurrencyCode()
		}
	}
	if o.CurrencyCode == "" && len(o.LineItems) > 0 && o.LineItems[0].UnitPrice != nil {
		o.CurrencyCode = o.LineItems[0].UnitPrice.GetCurrencyCode()
	}
	if o.Amount != nil && o.Amount.GetCurrencyCode() != o.CurrencyCode {
		vs.Add(string(FieldAmount)+".currency_code", "CURRENCY_MISMATCH", "the amount must be in %q", o.CurrencyCode)
	}
	if len(o.LineItems) > 200 {
		vs.Add(string(FieldLineItems), "TOO_MANY_LINE_ITEMS", "at most 200 line items")
	}
	total := new(big.Rat)
	linesOK := true
	for i := range o.LineItems {
		li := &o.LineItems[i]
		f := fmt.Sprintf("%s[%d]", FieldLineItems, i)
		li.Product = strings.TrimSpace(li.Product)
		if li.Product == "" {
			vs.Add(f+".product", "PRODUCT_REQUIRED", "a line item names a product")
		}
		qty, ok := decimal(li.Quantity)
		if !ok || qty.Sign() <= 0 {
			vs.Add(f+".quantity", "INVALID_QUANTITY", "quantity must be a positive decimal, not %q", li.Quantity)
			linesOK = false
		}
		disc := new(big.Rat)
		if li.DiscountPercent != "" {
			d, ok := decimal(li.DiscountPercent)
			if !ok || d.Sign() < 0 || d.Cmp(big.NewRat(100, 1)) > 0 {
				vs.Add(f+".discount_percent", "INVALID_DISCOUNT", "discount_percent is a decimal from 0 to 100, not %q", li.DiscountPercent)
				linesOK = false
			} else {
				disc = d
			}
		}
		if li.UnitPrice == nil {
			vs.Add(f+".unit_price", "UNIT_PRICE_REQUIRED", "a line item needs a unit price")
			linesOK = false
			continue
		}
		if pv := money.Check(f+".unit_price", li.UnitPrice, false); len(pv) > 0 {
			for _, v := range pv {
				v.Reason = "INVALID_AMOUNT"
				vs = append(vs, v)
			}
			linesOK = false
			continue
		}
		if c := li.UnitPrice.GetCurrencyCode(); c != o.CurrencyCode {
			vs.Add(f+".unit_price.currency_code", "CURRENCY_MISMATCH", "line items must be in the opportunity's currency %q, not %q", o.CurrencyCode, c)
			linesOK = false
			continue
		}
		if !linesOK {
			continue
		}
		// quantity x unit price x (1 - discount/100), to the nano.
		amt := new(big.Rat).Mul(qty, rat(li.UnitPrice))
		amt.Mul(amt, new(big.Rat).Sub(big.NewRat(1, 1), new(big.Rat).Quo(disc, big.NewRat(100, 1))))
		m, err := toMoney(o.CurrencyCode, amt)
		if err != nil {
			vs.Add(f, "AMOUNT_OUT_OF_RANGE", "the line amount is out of range")
			linesOK = false
			continue
		}
		li.Amount = m
		total.Add(total, rat(m))
	}
	if o.CurrencyCode != "" && !money.ValidCurrency(o.CurrencyCode) {
		vs.Add(string(FieldAmount)+".currency_code", "INVALID_CURRENCY", "%q is not an ISO 4217 currency code", o.CurrencyCode)
	}
	if err := vs.Err(); err != nil {
		return err
	}
	if len(o.LineItems) > 0 && linesOK {
		m, err := toMoney(o.CurrencyCode, total)
		if err != nil {
			return apperr.InvalidField(string(FieldLineItems), "AMOUNT_OUT_OF_RANGE", "the total of the line items is out of range")
		}
		o.Amount = m
	}
	return nil
}

func decimal(s string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "eE/") {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

func rat(m *moneypb.Money) *big.Rat {
	return new(big.Rat).SetFrac(big.NewInt(m.GetUnits()*1_000_000_000+int64(m.GetNanos())), big.NewInt(1_000_000_000))
}

// toMoney rounds r half away from zero to the nano.
func toMoney(code string, r *big.Rat) (*moneypb.Money, error) {
	return money.FromDecimal(code, r.FloatString(9))
}

// Closed reports whether the opportunity was won, lost or disqualified.
func (o *Opportunity) Closed() bool { return o.State != StateOpen }

func (o *Opportunity) errClosed() error {
	e := apperr.FailedPrecondition("OPPORTUNITY_CLOSED", "opportunity %s is %s; reopen it first", o.ID, o.State)
	e.Preconditions = []apperr.PreconditionViolation{{Type: "OPPORTUNITY_CLOSED", Subject: "opportunities/" + o.ID.String(),
		Description: "closed opportunities change only by :reopen"}}
	return e
}

// Update sets the fields in mask to their values in patch; set says
// whether probability and forecast_category were given (not cleared).
func (o *Opportunity) Update(patch Opportunity, mask []Field, p *Pipeline, actor string, now time.Time) ([]Event, error) {
	if o.Closed() {
		return nil, o.errClosed()
	}
	next := *o
	next.LineItems = slices.Clone(o.LineItems)
	patch.normalize()
	st, _ := p.Stage(o.Stage)
	var vs apperr.Violations
	linesGiven := false
	for _, f := range mask {
		switch f {
		case FieldDisplayName:
			next.DisplayName = patch.DisplayName
		case FieldAccount:
			next.AccountID = patch.AccountID
		case FieldPrimaryContact:
			next.ContactID = patch.ContactID
		case FieldOwner:
			next.Owner = patch.Owner
			if next.Owner == "" {
				vs.Add(string(f), "OWNER_REQUIRED", "owner cannot be cleared")
			}
		case FieldAmount:
			next.Amount = patch.Amount
			next.CurrencyCode = ""
		case FieldLineItems:
			linesGiven = true
			next.LineItems = slices.Clone(patch.LineItems)
			for i := range next.LineItems {
				next.LineItems[i].Amount = nil
			}
		case FieldExpectedCloseDate:
			next.ExpectedCloseDate = patch.ExpectedCloseDate
		case FieldProbability:
			// Setting the stage's default ends an override.
			next.Probability = patch.Probability
			next.ProbabilityOverridden = patch.Probability != st.Probability
		case FieldForecastCategory:
			next.ForecastCategory = patch.ForecastCategory
			next.ForecastOverridden = patch.ForecastCategory != "" && patch.ForecastCategory != st.ForecastCategory
			if !next.ForecastOverridden {
				next.ForecastCategory = st.ForecastCategory
			}
		case FieldNextStep:
			next.NextStep = patch.NextStep
		case FieldDescription:
			next.Description = patch.Description
		case FieldType:
			switch {
			case patch.Type == o.Type, patch.Type == "" && o.Type == TypeRenewal:
				// An echo of the type, or none: a renewal stays one.
			case o.Type == TypeRenewal:
				vs.Add(string(f), "RENEWAL_TYPE_FIXED", "a renewal opportunity stays a RENEWAL (of contracts/%s, term %d)", o.RenewalContract, o.RenewalTerm)
			case patch.Type == TypeRenewal:
				vs.Add(string(f), "RENEWAL_RESERVED", renewalReserved)
			case patch.Type == "":
				next.Type = TypeNewBusiness
			default:
				next.Type = patch.Type
			}
		case FieldContractTerms:
			next.ContractTerms = patch.ContractTerms
		case FieldBuyingCommittee:
			next.BuyingCommittee = patch.BuyingCommittee
		case FieldPipeline:
			vs.Add("update_mask", "FIELD_NOT_UPDATABLE", "an opportunity stays in its pipeline")
		default:
			vs.Add("update_mask", "FIELD_NOT_UPDATABLE", "%s cannot be updated", f)
		}
	}
	if err := vs.Err(); err != nil {
		return nil, err
	}
	// With lines the amount is their sum, in the opportunity's currency
	// (or the new amount's, when one is given).
	if linesGiven && !slices.Contains(mask, FieldAmount) && len(next.LineItems) > 0 {
		next.Amount = nil
	}
	next.normalize()
	if err := next.settle(); err != nil {
		return nil, err
	}
	changed := o.diff(&next)
	if len(changed) == 0 {
		return nil, nil
	}
	*o = next
	o.touch(actor, now)
	return []Event{OpportunityUpdated{Changed: changed}}, nil
}

func (o *Opportunity) diff(n *Opportunity) []string {
	var changed []string
	add := func(f Field, differs bool) {
		if differs {
			changed = append(changed, string(f))
		}
	}
	add(FieldDisplayName, o.DisplayName != n.DisplayName)
	add(FieldAccount, o.AccountID != n.AccountID)
	add(FieldPrimaryContact, o.ContactID != n.ContactID)
	add(FieldOwner, o.Owner != n.Owner)
	add(FieldAmount, !proto.Equal(o.Amount, n.Amount) || o.CurrencyCode != n.CurrencyCode)
	add(FieldLineItems, !slices.EqualFunc(o.LineItems, n.LineItems, func(a, b LineItem) bool {
		return a.Product == b.Product && a.Quantity == b.Quantity && a.DiscountPercent == b.DiscountPercent &&
			proto.Equal(a.UnitPrice, b.UnitPrice) && proto.Equal(a.Amount, b.Amount)
	}))
	add(FieldExpectedCloseDate, o.ExpectedCloseDate != n.ExpectedCloseDate)
	add(FieldProbability, o.Probability != n.Probability || o.ProbabilityOverridden != n.ProbabilityOverridden)
	add(FieldForecastCategory, o.ForecastCategory != n.ForecastCategory || o.ForecastOverridden != n.ForecastOverridden)
	add(FieldNextStep, o.NextStep != n.NextStep)
	add(FieldDescription, o.Description != n.Description)
	add(FieldType, o.Type != n.Type)
	add(FieldBuyingCommittee, !slices.EqualFunc(o.BuyingCommittee, n.BuyingCommittee, func(a, b CommitteeMember) bool {
		return a.ContactID == b.ContactID && slices.Equal(a.Roles, b.Roles)
	}))
	add(FieldContractTerms, (o.ContractTerms == nil) != (n.ContractTerms == nil) ||
		o.ContractTerms != nil && *o.ContractTerms != *n.ContractTerms)
	return changed
}

func (o *Opportunity) touch(actor string, now time.Time) {
	o.UpdatedAt, o.UpdatedBy = now, actor
	o.Version++
}

// enter puts the opportunity into stage st and returns the change.
func (o *Opportunity) enter(st Stage, actor string, now time.Time) StageChange {
	c := StageChange{
		ID: uuid.Must(uuid.NewV7()), OpportunityID: o.ID, PipelineID: o.PipelineID,
		From: o.Stage, To: st.ID, Actor: actor, At: now, TimeInPrevious: max(now.Sub(o.StageEnteredAt), 0),
	}
	o.Stage, o.StageEnteredAt = st.ID, now
	if st.Kind == KindOpen {
		o.LastOpenStage = st.ID
	}
	if !o.ProbabilityOverridden || st.Kind != KindOpen {
		o.Probability = st.Probability
	}
	if !o.ForecastOverridden || st.Kind != KindOpen {
		o.ForecastCategory = st.ForecastCategory
	}
	if st.Kind != KindOpen {
		o.ProbabilityOverridden, o.ForecastOverridden = false, false
	}
	o.touch(actor, now)
	return c
}

// Move puts an open opportunity into another open, active stage of its
// pipeline. A stage that is not one is INVALID_ARGUMENT on `stage`.
func (o *Opportunity) Move(p *Pipeline, stageID, actor string, now time.Time) ([]Event, error) {
	if o.Closed() {
		return nil, o.errClosed()
	}
	st, ok := p.Stage(stageID)
	switch {
	case !ok:
		return nil, apperr.InvalidField("stage", "UNKNOWN_STAGE", "stage %q is not a stage of the opportunity's pipeline %q", stageID, p.DisplayName)
	case st.Kind != KindOpen:
		return nil, apperr.InvalidField("stage", "STAGE_NOT_OPEN", "stage %q is %s: use :win, :lose or :disqualify", stageID, st.Kind)
	case st.Retired:
		return nil, apperr.InvalidField("stage", "STAGE_RETIRED", "stage %q is retired", stageID)
	case st.ID == o.Stage:
		return nil, nil
	}
	return []Event{StageChanged{Change: o.enter(st, actor, now)}}, nil
}

// MoveTo puts the opportunity into st whatever its kind: the moves of a
// pipeline update off removed stages.
func (o *Opportunity) MoveTo(st Stage, actor string, now time.Time) []Event {
	return []Event{StageChanged{Change: o.enter(st, actor, now)}}
}

// Win closes an open opportunity as won.
// reason is the offered win reason given, or the zero Reason.
func (o *Opportunity) Win(p *Pipeline, reason WinReason, note, actor string, now time.Time) ([]Event, error) {
	if o.State != StateOpen {
		return nil, o.errClosed()
	}
	st, _ := p.FirstOfKind(KindWon)
	c := o.enter(st, actor, now)
	o.State, o.CloseTime, o.CloseNote, o.WinReason = StateWon, now, strings.TrimSpace(note), reason.ID
	return []Event{StageChanged{Change: c}, OpportunityWon{Note: o.CloseNote, Reason: o.WinReason}}, nil
}

// Lose closes an open opportunity as lost for reason, in stage (the first
// LOST stage when empty).
func (o *Opportunity) Lose(p *Pipeline, reason LossReason, competitor, note, stageID, actor string, now time.Time) ([]Event, error) {
	if o.State != StateOpen {
		return nil, o.errClosed()
	}
	st, _ := p.FirstOfKind(KindLost)
	if stageID != "" {
		s, ok := p.Stage(stageID)
		if !ok || s.Kind != KindLost {
			return nil, apperr.InvalidField("stage", "STAGE_NOT_LOST", "stage %q is not a LOST stage of the pipeline", stageID)
		}
		st = s
	}
	c := o.enter(st, actor, now)
	o.State, o.CloseTime, o.CloseNote = StateLost, now, strings.TrimSpace(note)
	o.LossReason, o.Competitor = reason.ID, strings.TrimSpace(competitor)
	return []Event{StageChanged{Change: c}, OpportunityLost{Reason: o.LossReason, Competitor: o.Competitor, State: StateLost}}, nil
}

// Disqualify closes an open opportunity as disqualified: into the
// pipeline's DISQUALIFIED stage, or, when it has none, its first LOST
// stage with state DISQUALIFIED.
func (o *Opportunity) Disqualify(p *Pipeline, note, actor string, now time.Time) ([]Event, error) {
	if o.State != StateOpen {
		return nil, o.errClosed()
	}
	st, ok := p.FirstOfKind(KindDisqualified)
	if !ok {
		st, _ = p.FirstOfKind(KindLost)
	}
	c := o.enter(st, actor, now)
	o.State, o.CloseTime, o.CloseNote = StateDisqualified, now, strings.TrimSpace(note)
	return []Event{StageChanged{Change: c}, OpportunityLost{State: StateDisqualified}}, nil
}

// Reopen puts a closed opportunity back into an open stage (the last open
// one it was in when empty) and clears what closing set.
func (o *Opportunity) Reopen(p *Pipeline, stageID, actor string, now time.Time) ([]Event, error) {
	if o.State == StateOpen {
		return nil, apperr.FailedPrecondition("OPPORTUNITY_OPEN", "opportunity %s is open", o.ID)
	}
	var st Stage
	if stageID != "" {
		s, ok := p.Stage(stageID)
		if !ok || s.Kind != KindOpen || s.Retired {
			return nil, apperr.InvalidField("stage", "STAGE_NOT_OPEN", "stage %q is not an open, active stage of the pipeline", stageID)
		}
		st = s
	} else if s, ok := p.Stage(o.LastOpenStage); ok && s.Kind == KindOpen && !s.Retired {
		st = s
	} else {
		st = p.FirstOpen()
	}
	prev := o.State
	c := o.enter(st, actor, now)
	o.State, o.CloseTime, o.CloseNote, o.LossReason, o.Competitor, o.WinReason = StateOpen, time.Time{}, "", "", "", ""
	return []Event{StageChanged{Change: c}, OpportunityReopened{Previous: prev}}, nil
}

// ErrOpportunityNotFound is returned for an opportunity that does not
// exist.
func ErrOpportunityNotFound(id uuid.UUID) error {
	return apperr.NotFound("OPPORTUNITY_NOT_FOUND", "opportunity %s not found", id)
}

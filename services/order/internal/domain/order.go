package domain

import (
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/money"
)

// Status of an order.
type Status string

const (
	StatusDraft     Status = "DRAFT"
	StatusConfirmed Status = "CONFIRMED"
	StatusOnHold    Status = "ON_HOLD"
	StatusFulfilled Status = "FULFILLED"
	StatusClosed    Status = "CLOSED"
	StatusCancelled Status = "CANCELLED"
)

// countsTowardsExposure: the open value of these orders is what the
// customer may owe.
func (s Status) countsTowardsExposure() bool {
	return s == StatusConfirmed || s == StatusFulfilled
}

// countsAsRevenue: the orders the revenue forecast and performance count.
func (s Status) countsAsRevenue() bool {
	return s == StatusConfirmed || s == StatusOnHold || s == StatusFulfilled || s == StatusClosed
}

// Order is a one-off order of an account.
type Order struct {
	ID          uuid.UUID
	DisplayName string
	AccountID   uuid.UUID
	// ContactID is uuid.Nil when none.
	ContactID   uuid.UUID
	Owner       string
	Currency    string
	Lines       []Line
	Totals      Totals
	Status      Status
	Expected    Date
	Description string

	SourceOpportunity uuid.UUID
	// FromWin marks the one order a won opportunity made by itself.
	FromWin    bool
	SourceLead uuid.UUID

	Credit       *CreditCheck
	PaymentTerms string
	// Exposure is what the order adds to its account's exposure now (zero
	// unless CONFIRMED or FULFILLED); released exactly when it stops.
	Exposure *big.Rat
	// ClosedFrom is the status a CLOSED order reopens into.
	ClosedFrom   Status
	HoldReason   string
	CancelReason string

	ConfirmedAt, FulfilledAt, ClosedAt, CancelledAt time.Time
	CreatedAt                                       time.Time
	CreatedBy                                       string
	UpdatedAt                                       time.Time
	UpdatedBy                                       string
	Version                                         int64
	// LastLineID is the highest line id given out.
	LastLineID int
}

// Field names a settable order field, as in the API.
type Field string

const (
	FieldDisplayName Field = "display_name"
	FieldContact     Field = "contact"
	FieldOwner       Field = "owner"
	FieldCurrency    Field = "currency_code"
	FieldLines       Field = "lines"
	FieldExpected    Field = "expected_fulfillment_date"
	FieldDescription Field = "description"
	FieldAccount     Field = "account"
)

// OrderFields can change through UpdateOrder (of a draft).
var OrderFields = []Field{FieldDisplayName, FieldContact, FieldOwner, FieldCurrency, FieldLines, FieldExpected, FieldDescription}

// NewOrder makes a draft order; id may be uuid.Nil for a new one (won
// opportunities and conversions bring their own).
func NewOrder(in Order, id uuid.UUID, actor string, now time.Time) (*Order, []Event, error) {
	o := in
	o.ID = id
	if o.ID == uuid.Nil {
		o.ID = uuid.Must(uuid.NewV7())
	}
	o.normalize()
	if o.Owner == "" {
		o.Owner = actor
	}
	if o.DisplayName == "" {
		o.DisplayName = "Order"
	}
	o.Status, o.Exposure = StatusDraft, new(big.Rat)
	o.Lines = cloneLines(o.Lines)
	for i := range o.Lines {
		o.Lines[i].ID, o.Lines[i].Fulfilled = "", "0"
	}
	o.LastLineID = numberLines(o.Lines, 0)
	if err := o.settle(); err != nil {
		return nil, nil, err
	}
	o.CreatedAt, o.CreatedBy, o.UpdatedAt, o.UpdatedBy, o.Version = now, actor, now, actor, 1
	return &o, []Event{OrderCreated{}}, nil
}

func (o *Order) normalize() {
	for _, s := range []*string{&o.DisplayName, &o.Owner, &o.Currency, &o.Description} {
		*s = strings.TrimSpace(*s)
	}
	o.Currency = strings.ToUpper(o.Currency)
	if o.Lines == nil {
		o.Lines = []Line{}
	}
}

// settle checks what every order keeps and prices its lines.
func (o *Order) settle() error {
	var vs apperr.Violations
	if o.AccountID == uuid.Nil {
		vs.Add(string(FieldAccount), "ACCOUNT_REQUIRED", "an order is for an account")
	}
	if o.Currency == "" {
		vs.Add(string(FieldCurrency), "CURRENCY_REQUIRED", "an order has a currency")
	}
	if len(o.Lines) > MaxOrderLines {
		vs.Add(string(FieldLines), "TOO_MANY_LINES", "an order has at most %d lines, not %d", MaxOrderLines, len(o.Lines))
		return vs.Err()
	}
	if !o.Expected.IsZero() && !o.Expected.Valid() {
		vs.Add(string(FieldExpected), "INVALID_DATE", "%s is not a calendar date", o.Expected)
	}
	if utf8.RuneCountInString(o.DisplayName) > 200 {
		vs.Add(string(FieldDisplayName), "TOO_LONG", "at most 200 characters")
	}
	if o.Currency != "" {
		t, lvs := PriceLines(string(FieldLines), o.Currency, o.Lines, 0)
		vs = append(vs, lvs...)
		o.Totals = t
	}
	return vs.Err()
}

// Update sets the fields in mask of a draft order to their values in
// patch.
func (o *Order) Update(patch Order, mask []Field, actor string, now time.Time) ([]Event, error) {
	if o.Status != StatusDraft {
		return nil, o.wrongStatus("updated", "only DRAFT orders change by UpdateOrder; a confirmed one through its custom methods (:addLines, :hold, ...)", StatusDraft)
	}
	next := *o
	next.Lines = cloneLines(o.Lines)
	patch.normalize()
	var vs apperr.Violations
	for _, f := range mask {
		switch f {
		case FieldDisplayName:
			next.DisplayName = patch.DisplayName
		case FieldContact:
			next.ContactID = patch.ContactID
		case FieldOwner:
			if patch.Owner == "" {
				vs.Add(string(f), "OWNER_REQUIRED", "owner cannot be cleared")
			}
			next.Owner = patch.Owner
		case FieldCurrency:
			next.Currency = patch.Currency
		case FieldLines:
			next.Lines = cloneLines(patch.Lines)
			for i := range next.Lines {
				next.Lines[i].ID, next.Lines[i].Fulfilled = "", "0"
			}
			next.LastLineID = numberLines(next.Lines, 0)
		case FieldExpected:
			next.Expected = patch.Expected
		case FieldDescription:
			next.Description = patch.Description
		case FieldAccount:
			// An order stays with its account; an echoed one is fine.
			if patch.AccountID != o.AccountID {
				vs.Add("update_mask", "FIELD_NOT_UPDATABLE", "an order stays with its account: cancel it and create one for the other account")
			}
		default:
			vs.Add("update_mask", "FIELD_NOT_UPDATABLE", "%s cannot be updated", f)
		}
	}
	if err := vs.Err(); err != nil {
		return nil, err
	}
	next.normalize()
	if next.DisplayName == "" {
		next.DisplayName = "Order"
	}
	if err := next.settle(); err != nil {
		return nil, err
	}
	changed := o.diff(&next)
	if len(changed) == 0 {
		return nil, nil
	}
	*o = next
	o.touch(actor, now)
	return []Event{OrderUpdated{Changed: changed}}, nil
}

func (o *Order) diff(n *Order) []string {
	var changed []string
	add := func(f Field, differs bool) {
		if differs {
			changed = append(changed, string(f))
		}
	}
	add(FieldDisplayName, o.DisplayName != n.DisplayName)
	add(FieldContact, o.ContactID != n.ContactID)
	add(FieldOwner, o.Owner != n.Owner)
	add(FieldCurrency, o.Currency != n.Currency)
	add(FieldLines, !linesEqual(o.Lines, n.Lines))
	add(FieldExpected, o.Expected != n.Expected)
	add(FieldDescription, o.Description != n.Description)
	return changed
}

func linesEqual(a, b []Line) bool {
	return slices.EqualFunc(a, b, func(x, y Line) bool {
		return x.ID == y.ID && x.ProductCode == y.ProductCode && x.ProductName == y.ProductName && x.Quantity == y.Quantity &&
			x.DiscountPercent == y.DiscountPercent && x.TaxRate == y.TaxRate && x.Fulfilled == y.Fulfilled &&
			proto.Equal(x.UnitPrice, y.UnitPrice) && proto.Equal(x.Total, y.Total)
	})
}

func (o *Order) touch(actor string, now time.Time) {
	o.UpdatedAt, o.UpdatedBy = now, actor
	o.Version++
}

// wrongStatus is the refusal of a transition the order's status does not
// allow; it names the current status.
func (o *Order) wrongStatus(what, hint string, allowed ...Status) *apperr.Error {
	names := make([]string, len(allowed))
	for i, s := range allowed {
		names[i] = string(s)
	}
	e := apperr.FailedPrecondition("INVALID_ORDER_STATUS", "order %s is %s and cannot be %s (only from %s): %s",
		o.ID, o.Status, what, strings.Join(names, ", "), hint)
	e.Preconditions = []apperr.PreconditionViolation{{Type: "INVALID_ORDER_STATUS", Subject: "orders/" + o.ID.String(),
		Description: "the order is " + string(o.Status)}}
	return e.WithMeta("status", string(o.Status))
}

// ExposureStep is a change of an order's contribution to its account's
// exposure that a transition asks for: Delta is added to the exposure;
// Check says it raises the exposure and must pass the credit check.
type ExposureStep struct {
	Delta *big.Rat
	Check bool
}

// Transition is what a status method asks the use case to do besides
// saving the order: its events, the exposure step and a status history
// entry.
type Transition struct {
	Events   []Event
	Exposure ExposureStep
	History  *StatusChange
}

// StatusChange is an entry of an order's status history; From == To is a
// note on something that did not change it.
type StatusChange struct {
	ID       uuid.UUID
	OrderID  uuid.UUID
	From, To Status
	Reason   string
	Actor    string
	At       time.Time
}

func (o *Order) move(to Status, reason, actor string, now time.Time) *StatusChange {
	c := &StatusChange{ID: uuid.Must(uuid.NewV7()), OrderID: o.ID, From: o.Status, To: to, Reason: reason, Actor: actor, At: now}
	o.Status = to
	o.touch(actor, now)
	return c
}

// total is the order's total as an exact value.
func (o *Order) total() *big.Rat { return money.Rat(o.Totals.Total) }

// Confirm asks DRAFT -> CONFIRMED; the order's total joins the exposure,
// checked.
func (o *Order) Confirm() (ExposureStep, error) {
	if o.Status != StatusDraft {
		return ExposureStep{}, o.wrongStatus("confirmed", "only DRAFT orders are confirmed", StatusDraft)
	}
	if len(o.Lines) == 0 {
		e := apperr.FailedPrecondition("ORDER_HAS_NO_LINES", "order %s has no lines: add lines before confirming it", o.ID)
		e.Preconditions = []apperr.PreconditionViolation{{Type: "ORDER_HAS_NO_LINES", Subject: "orders/" + o.ID.String(), Description: "an order needs lines to be confirmed"}}
		return ExposureStep{}, e
	}
	return ExposureStep{Delta: o.total(), Check: true}, nil
}

// Confirmed records a confirm that passed its credit check.
func (o *Order) Confirmed(check CreditCheck, paymentTerms, actor string, now time.Time) Transition {
	o.Credit, o.PaymentTerms = &check, paymentTerms
	o.Exposure = new(big.Rat).Add(o.Exposure, money.Rat(check.Amount))
	o.ConfirmedAt = now
	h := o.move(StatusConfirmed, check.OverrideReason, actor, now)
	return Transition{Events: []Event{OrderConfirmed{}}, History: h}
}

// Hold pauses a confirmed order; its value leaves the exposure.
func (o *Order) Hold(reason, actor string, now time.Time) (Transition, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Transition{}, apperr.InvalidField("reason", "REASON_REQUIRED", "say why the order is held")
	}
	if o.Status != StatusConfirmed {
		return Transition{}, o.wrongStatus("held", "only CONFIRMED orders are held", StatusConfirmed)
	}
	release := new(big.Rat).Neg(o.Exposure)
	o.Exposure, o.HoldReason = new(big.Rat), reason
	h := o.move(StatusOnHold, reason, actor, now)
	return Transition{Events: []Event{OrderUpdated{Changed: []string{"status", "hold_reason"}}}, Exposure: ExposureStep{Delta: release}, History: h}, nil
}

// Resume asks ON_HOLD -> CONFIRMED; the total rejoins the exposure,
// checked.
func (o *Order) Resume() (ExposureStep, error) {
	if o.Status != StatusOnHold {
		return ExposureStep{}, o.wrongStatus("resumed", "only ON_HOLD orders are resumed", StatusOnHold)
	}
	return ExposureStep{Delta: o.total(), Check: true}, nil
}

// Resumed records a resume that passed its credit check.
func (o *Order) Resumed(check CreditCheck, actor string, now time.Time) Transition {
	o.Credit, o.HoldReason = &check, ""
	o.Exposure = new(big.Rat).Add(o.Exposure, money.Rat(check.Amount))
	h := o.move(StatusConfirmed, check.OverrideReason, actor, now)
	return Transition{Events: []Event{OrderUpdated{Changed: []string{"status", "hold_reason", "credit_check"}}}, History: h}
}

// Reopen asks CLOSED -> the status it was closed from; the total rejoins
// the exposure, checked.
func (o *Order) Reopen() (ExposureStep, error) {
	if o.Status != StatusClosed {
		return ExposureStep{}, o.wrongStatus("reopened", "only CLOSED orders are reopened", StatusClosed)
	}
	return ExposureStep{Delta: o.total(), Check: true}, nil
}

// Reopened records a reopen that passed its credit check.
func (o *Order) Reopened(check CreditCheck, actor string, now time.Time) Transition {
	o.Credit = &check
	o.Exposure = new(big.Rat).Add(o.Exposure, money.Rat(check.Amount))
	to := o.ClosedFrom
	if to == "" {
		to = StatusConfirmed
	}
	o.ClosedAt, o.ClosedFrom = time.Time{}, ""
	h := o.move(to, check.OverrideReason, actor, now)
	return Transition{Events: []Event{OrderReopened{}}, History: h}
}

// Close closes a confirmed (short-closed) or fulfilled order; its value
// leaves the exposure.
func (o *Order) Close(actor string, now time.Time) (Transition, error) {
	if o.Status != StatusConfirmed && o.Status != StatusFulfilled {
		return Transition{}, o.wrongStatus("closed", "only CONFIRMED or FULFILLED orders are closed", StatusConfirmed, StatusFulfilled)
	}
	release := new(big.Rat).Neg(o.Exposure)
	o.Exposure, o.ClosedFrom, o.ClosedAt = new(big.Rat), o.Status, now
	h := o.move(StatusClosed, "", actor, now)
	return Transition{Events: []Event{OrderClosed{}}, Exposure: ExposureStep{Delta: release}, History: h}, nil
}

// Cancel cancels a draft, confirmed or held order, with a reason.
func (o *Order) Cancel(reason, actor string, now time.Time) (Transition, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Transition{}, apperr.InvalidField("reason", "REASON_REQUIRED", "say why the order is cancelled")
	}
	if o.Status != StatusDraft && o.Status != StatusConfirmed && o.Status != StatusOnHold {
		return Transition{}, o.wrongStatus("cancelled", "fulfilled or closed orders are not cancelled", StatusDraft, StatusConfirmed, StatusOnHold)
	}
	prev := o.Status
	release := new(big.Rat).Neg(o.Exposure)
	o.Exposure, o.CancelReason, o.CancelledAt = new(big.Rat), reason, now
	h := o.move(StatusCancelled, reason, actor, now)
	return Transition{Events: []Event{OrderCancelled{Reason: reason, Previous: prev}}, Exposure: ExposureStep{Delta: release}, History: h}, nil
}

// AddLines adds lines to a draft or confirmed order. On a confirmed one
// the added total joins the exposure, checked (the step is returned for
// the use case to check before it saves).
func (o *Order) AddLines(lines []Line, actor string, now time.Time) (ExposureStep, []Event, error) {
	if o.Status != StatusDraft && o.Status != StatusConfirmed {
		return ExposureStep{}, nil, o.wrongStatus("given lines", "lines are added to DRAFT or CONFIRMED orders", StatusDraft, StatusConfirmed)
	}
	if n := len(o.Lines) + len(lines); n > MaxOrderLines {
		return ExposureStep{}, nil, apperr.InvalidField("lines", "TOO_MANY_LINES", "an order has at most %d lines; it would have %d", MaxOrderLines, n)
	}
	added := cloneLines(lines)
	for i := range added {
		added[i].ID, added[i].Fulfilled = "", "0"
	}
	if _, vs := PriceLines("lines", o.Currency, added, 0); len(vs) > 0 {
		return ExposureStep{}, nil, vs.Err()
	}
	before := o.total()
	o.LastLineID = numberLines(added, o.LastLineID)
	o.Lines = append(cloneLines(o.Lines), added...)
	if err := o.settle(); err != nil {
		return ExposureStep{}, nil, err
	}
	o.touch(actor, now)
	step := ExposureStep{}
	if o.Status == StatusConfirmed {
		step = ExposureStep{Delta: new(big.Rat).Sub(o.total(), before), Check: true}
	}
	return step, []Event{OrderUpdated{Changed: []string{"lines"}}}, nil
}

// LinesAdded records the exposure an added-lines step took on a confirmed
// order.
func (o *Order) LinesAdded(check CreditCheck) {
	o.Credit = &check
	o.Exposure = new(big.Rat).Add(o.Exposure, money.Rat(check.Amount))
}

// Delivery is a quantity of one line delivered now.
type Delivery struct {
	LineID   string
	Quantity string
}

// Fulfill records deliveries (all that is open when none is given); the
// order is FULFILLED once every line is delivered in full.
func (o *Order) Fulfill(ds []Delivery, actor string, now time.Time) (Transition, error) {
	if o.Status != StatusConfirmed {
		return Transition{}, o.wrongStatus("fulfilled", "only CONFIRMED orders are delivered", StatusConfirmed)
	}
	lines := cloneLines(o.Lines)
	index := make(map[string]int, len(lines))
	for i, l := range lines {
		index[l.ID] = i
	}
	var vs apperr.Violations
	if len(ds) == 0 {
		for i := range lines {
			lines[i].Fulfilled = lines[i].Quantity
		}
	}
	for k, d := range ds {
		f := "lines[" + itoa(k) + "]"
		i, ok := index[d.LineID]
		if !ok {
			vs.Add(f+".line_id", "UNKNOWN_LINE", "the order has no line %q", d.LineID)
			continue
		}
		q, good := Decimal(d.Quantity)
		if !good || q.Sign() <= 0 {
			vs.Add(f+".quantity", "INVALID_QUANTITY", "quantity must be a positive decimal, not %q", d.Quantity)
			continue
		}
		done, _ := Decimal(lines[i].Fulfilled)
		ordered, _ := Decimal(lines[i].Quantity)
		sum := new(big.Rat).Add(done, q)
		if sum.Cmp(ordered) > 0 {
			vs.Add(f+".quantity", "OVER_DELIVERY", "line %s has %s of %s left to deliver, not %s",
				d.LineID, DecimalString(new(big.Rat).Sub(ordered, done)), lines[i].Quantity, d.Quantity)
			continue
		}
		lines[i].Fulfilled = DecimalString(sum)
	}
	if err := vs.Err(); err != nil {
		return Transition{}, err
	}
	o.Lines = lines
	complete := true
	for _, l := range lines {
		done, _ := Decimal(l.Fulfilled)
		ordered, _ := Decimal(l.Quantity)
		if done.Cmp(ordered) < 0 {
			complete = false
		}
	}
	if !complete {
		o.touch(actor, now)
		return Transition{Events: []Event{OrderUpdated{Changed: []string{"lines"}}}}, nil
	}
	o.FulfilledAt = now
	h := o.move(StatusFulfilled, "", actor, now)
	return Transition{Events: []Event{OrderFulfilled{}}, History: h}, nil
}

// Won is what a won opportunity asks of its order.
type Won struct {
	OpportunityID uuid.UUID
	DisplayName   string
	ContactID     uuid.UUID
	Owner         string
	Currency      string
	Lines         []Line
	Expected      Date
}

// Rewon applies a won-again opportunity to its order: a DRAFT takes the
// opportunity's new lines and details; any other status changes nothing
// and the history records why.
func (o *Order) Rewon(w Won, actor string, now time.Time) ([]Event, *StatusChange, error) {
	if o.Status != StatusDraft {
		note := &StatusChange{ID: uuid.Must(uuid.NewV7()), OrderID: o.ID, From: o.Status, To: o.Status,
			Reason: "OPPORTUNITY_WON_AGAIN: the opportunity was won again; the order is " + string(o.Status) + ", so it keeps its lines",
			Actor:  actor, At: now}
		return nil, note, nil
	}
	patch := Order{DisplayName: w.DisplayName, ContactID: w.ContactID, Owner: w.Owner, Currency: w.Currency, Lines: w.Lines, Expected: w.Expected}
	evs, err := o.Update(patch, []Field{FieldDisplayName, FieldContact, FieldOwner, FieldCurrency, FieldLines, FieldExpected}, actor, now)
	return evs, nil, err
}

// RevenueContribution is where an order counts in the revenue forecast:
// its month, owner, currency and net amount; ok is false when it does not
// count.
func (o *Order) RevenueContribution() (month Date, owner, currency string, amount *big.Rat, ok bool) {
	if !o.Status.countsAsRevenue() || o.Totals.Total == nil {
		return Date{}, "", "", nil, false
	}
	d := o.Expected
	if d.IsZero() {
		d = DateOf(o.ConfirmedAt.UTC())
	}
	return Date{Year: d.Year, Month: d.Month, Day: 1}, o.Owner, o.Currency, o.Totals.Net(), true
}

// ErrOrderNotFound is returned for an order that does not exist.
func ErrOrderNotFound(id uuid.UUID) error {
	return apperr.NotFound("ORDER_NOT_FOUND", "order %s not found", id)
}

// MoneyOf turns an exact value into Money of currency, rounded to its
// minor unit.
func MoneyOf(currency string, r *big.Rat) *moneypb.Money {
	m, err := money.Round(currency, r)
	if err != nil {
		return zero(currency)
	}
	return m
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

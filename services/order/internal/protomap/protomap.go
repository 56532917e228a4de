// Package protomap converts between the order domain and its protobuf
// forms: the API resources (crm.order.v1) and the events (crm.events.v1).
// The gRPC port, the outbox and the event consumers all use it, so a
// record looks the same whichever way it travels.
package protomap

import (
	"fmt"
	"math/big"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/type/date"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/protoenum"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/order/internal/domain"
)

// OrderName, ContractName: the resource names.
func OrderName(id uuid.UUID) string    { return resname.Format("orders", id) }
func ContractName(id uuid.UUID) string { return resname.Format("contracts", id) }

func idString(id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	return id.String()
}

// Status and the other enums both ways.
func Status(s domain.Status) orderv1.OrderStatus {
	return orderv1.OrderStatus(protoenum.Value(string(s), "ORDER_STATUS_", orderv1.OrderStatus_value))
}

func ContractStatus(s domain.ContractStatus) orderv1.ContractStatus {
	return orderv1.ContractStatus(protoenum.Value(string(s), "CONTRACT_STATUS_", orderv1.ContractStatus_value))
}

func Interval(i domain.BillingInterval) orderv1.BillingInterval {
	return orderv1.BillingInterval(protoenum.Value(string(i), "BILLING_INTERVAL_", orderv1.BillingInterval_value))
}

// IntervalFromProto is "" for UNSPECIFIED (the default applies).
func IntervalFromProto(i orderv1.BillingInterval) domain.BillingInterval {
	if i == orderv1.BillingInterval_BILLING_INTERVAL_UNSPECIFIED {
		return ""
	}
	return domain.BillingInterval(protoenum.Name(i.String(), "BILLING_INTERVAL_"))
}

func termOutcome(o domain.TermOutcome) orderv1.ContractTermOutcome {
	return orderv1.ContractTermOutcome(protoenum.Value(string(o), "CONTRACT_TERM_OUTCOME_", orderv1.ContractTermOutcome_value))
}

func creditResult(r domain.CreditResult) orderv1.CreditCheckResult {
	return orderv1.CreditCheckResult(protoenum.Value(string(r), "CREDIT_CHECK_RESULT_", orderv1.CreditCheckResult_value))
}

// Date and back.
func Date(d domain.Date) *date.Date {
	if d.IsZero() {
		return nil
	}
	return &date.Date{Year: int32(d.Year), Month: int32(d.Month), Day: int32(d.Day)}
}

func DateFromProto(d *date.Date) domain.Date {
	if d == nil {
		return domain.Date{}
	}
	return domain.Date{Year: int(d.GetYear()), Month: int(d.GetMonth()), Day: int(d.GetDay())}
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func clone(m *moneypb.Money) *moneypb.Money {
	if m == nil {
		return nil
	}
	return proto.CloneOf(m)
}

// Lines returns the API form of lines; orders show fulfilment.
func Lines(lines []domain.Line, fulfilment bool) []*orderv1.OrderLine {
	out := make([]*orderv1.OrderLine, len(lines))
	for i, l := range lines {
		out[i] = &orderv1.OrderLine{
			Id: l.ID, ProductCode: l.ProductCode, ProductName: l.ProductName, Quantity: l.Quantity,
			UnitPrice: clone(l.UnitPrice), DiscountPercent: l.DiscountPercent, TaxRate: l.TaxRate,
			Subtotal: clone(l.Subtotal), Discount: clone(l.Discount), Tax: clone(l.Tax), Total: clone(l.Total),
		}
		if fulfilment {
			out[i].FulfilledQuantity = l.Fulfilled
		}
	}
	return out
}

// LinesFromProto returns the settable fields of lines.
func LinesFromProto(lines []*orderv1.OrderLine) []domain.Line {
	out := make([]domain.Line, len(lines))
	for i, l := range lines {
		out[i] = domain.Line{
			ProductCode: l.GetProductCode(), ProductName: l.GetProductName(), Quantity: l.GetQuantity(),
			UnitPrice: clone(l.GetUnitPrice()), DiscountPercent: l.GetDiscountPercent(), TaxRate: l.GetTaxRate(),
		}
	}
	return out
}

// CreditCheck returns the API form of c.
func CreditCheck(c *domain.CreditCheck) *orderv1.CreditCheck {
	if c == nil {
		return nil
	}
	return &orderv1.CreditCheck{
		Result: creditResult(c.Result), CreditLimit: clone(c.Limit), Exposure: clone(c.Exposure), Amount: clone(c.Amount),
		OverrideReason: c.OverrideReason, CheckedBy: c.By, CheckTime: ts(c.At),
	}
}

// Order returns the API form of o.
func Order(o *domain.Order) *orderv1.Order {
	return &orderv1.Order{
		Name: OrderName(o.ID), DisplayName: o.DisplayName, Account: resname.Format("accounts", o.AccountID),
		Contact: resname.FormatOptional("contacts", o.ContactID), Owner: o.Owner, CurrencyCode: o.Currency,
		Lines: Lines(o.Lines, true), Subtotal: clone(o.Totals.Subtotal), Discount: clone(o.Totals.Discount),
		Tax: clone(o.Totals.Tax), Total: clone(o.Totals.Total), Status: Status(o.Status),
		ExpectedFulfillmentDate: Date(o.Expected), Description: o.Description,
		SourceOpportunity: resname.FormatOptional("opportunities", o.SourceOpportunity),
		SourceLead:        resname.FormatOptional("leads", o.SourceLead),
		CreditCheck:       CreditCheck(o.Credit), PaymentTerms: o.PaymentTerms, HoldReason: o.HoldReason, CancelReason: o.CancelReason,
		ConfirmTime: ts(o.ConfirmedAt), FulfillTime: ts(o.FulfilledAt), CloseTime: ts(o.ClosedAt), CancelTime: ts(o.CancelledAt),
		CreateTime: ts(o.CreatedAt), CreatedBy: o.CreatedBy, UpdateTime: ts(o.UpdatedAt), UpdatedBy: o.UpdatedBy,
		Etag: etag.Format(o.Version),
	}
}

// OrderFromProto returns the domain form of the settable fields of p;
// badField names a reference that is not a resource name.
func OrderFromProto(p *orderv1.Order) (o domain.Order, badField string) {
	o = domain.Order{
		DisplayName: p.GetDisplayName(), Owner: p.GetOwner(), Currency: p.GetCurrencyCode(), Lines: LinesFromProto(p.GetLines()),
		Expected: DateFromProto(p.GetExpectedFulfillmentDate()), Description: p.GetDescription(),
	}
	var ok bool
	if a := p.GetAccount(); a != "" {
		if o.AccountID, ok = resname.Parse(a, "accounts"); !ok {
			return o, "account"
		}
	}
	if c := p.GetContact(); c != "" {
		if o.ContactID, ok = resname.Parse(c, "contacts"); !ok {
			return o, "contact"
		}
	}
	return o, ""
}

// StatusChange returns the API form of c.
func StatusChange(c domain.StatusChange) *orderv1.OrderStatusChange {
	return &orderv1.OrderStatusChange{
		Name:       OrderName(c.OrderID) + "/statusChanges/" + c.ID.String(),
		FromStatus: Status(c.From), ToStatus: Status(c.To), Reason: c.Reason, Actor: c.Actor, ChangeTime: timestamppb.New(c.At),
	}
}

// Contract returns the API form of c.
func Contract(c *domain.Contract) *orderv1.Contract {
	p := &orderv1.Contract{
		Name: ContractName(c.ID), DisplayName: c.DisplayName, Account: resname.Format("accounts", c.AccountID),
		Contact: resname.FormatOptional("contacts", c.ContactID), Owner: c.Owner, CurrencyCode: c.Currency,
		Lines: Lines(c.Lines(), false), RecurringAmount: clone(c.Recurring()), Status: ContractStatus(c.Status),
		StartDate: Date(c.Start), TermMonths: int32(c.TermMonths), Evergreen: c.Evergreen, BillingInterval: Interval(c.Interval),
		BillingAnchorDay: proto.Int32(int32(c.AnchorDay)), AutoRenew: c.AutoRenew, RenewalTermMonths: int32(c.RenewalTermMonths),
		NoticePeriodDays: int32(c.NoticeDays), RenewalLeadDays: int32(c.RenewalLeadDays),
		NoticeDate: Date(c.NoticeDate), CancelReason: c.CancelReason, CancelEffectiveDate: Date(c.CancelEffective),
		SourceOpportunity: resname.FormatOptional("opportunities", c.SourceOpportunity), Description: c.Description,
		ActivateTime: ts(c.ActivatedAt), CreateTime: ts(c.CreatedAt), CreatedBy: c.CreatedBy, UpdateTime: ts(c.UpdatedAt),
		UpdatedBy: c.UpdatedBy, Etag: etag.Format(c.Version),
	}
	for _, t := range c.Terms {
		p.Terms = append(p.Terms, &orderv1.ContractTerm{
			Number: int32(t.Number), StartDate: Date(t.Start), EndDate: Date(t.End), Outcome: termOutcome(t.Outcome),
			RenewalOpportunity: resname.FormatOptional("opportunities", t.RenewalOpportunity), RenewalDueTime: ts(t.RenewalDueAt),
			EndTime: ts(t.EndedAt),
		})
	}
	if t, ok := c.Term(); ok {
		p.TermNumber, p.TermStartDate, p.TermEndDate = int32(t.Number), Date(t.Start), Date(t.End)
		p.RenewalOpportunity = resname.FormatOptional("opportunities", t.RenewalOpportunity)
		if t.Outcome == domain.TermCurrent && t.RenewalDueAt.IsZero() && !c.Evergreen &&
			(c.Status == domain.ContractStatusActive || c.Status == domain.ContractStatusRenewed) {
			p.RenewalDueTime = ts(t.End.Time().AddDate(0, 0, -c.RenewalLeadDays))
		}
	}
	for i, r := range c.Rates[1:] {
		p.Amendments = append(p.Amendments, &orderv1.ContractAmendment{
			EffectiveDate: Date(r.From), RecurringAmount: clone(r.Amount), PreviousRecurringAmount: clone(c.Rates[i].Amount),
			Actor: r.Actor, CreateTime: ts(r.At),
		})
	}
	return p
}

// ContractFromProto returns the domain form of the settable fields of p.
func ContractFromProto(p *orderv1.Contract) (in domain.ContractInput, badField string) {
	in = domain.ContractInput{
		Contract: domain.Contract{
			DisplayName: p.GetDisplayName(), Owner: p.GetOwner(), Currency: p.GetCurrencyCode(),
			Start: DateFromProto(p.GetStartDate()), TermMonths: int(p.GetTermMonths()), Evergreen: p.GetEvergreen(),
			Interval: IntervalFromProto(p.GetBillingInterval()), AnchorDay: int(p.GetBillingAnchorDay()), AutoRenew: p.GetAutoRenew(),
			RenewalTermMonths: int(p.GetRenewalTermMonths()), NoticeDays: int(p.GetNoticePeriodDays()),
			RenewalLeadDays: int(p.GetRenewalLeadDays()), Description: p.GetDescription(),
		},
		Lines:     LinesFromProto(p.GetLines()),
		AnchorSet: p.BillingAnchorDay != nil,
	}
	var ok bool
	if a := p.GetAccount(); a != "" {
		if in.AccountID, ok = resname.Parse(a, "accounts"); !ok {
			return in, "account"
		}
	}
	if c := p.GetContact(); c != "" {
		if in.ContactID, ok = resname.Parse(c, "contacts"); !ok {
			return in, "contact"
		}
	}
	return in, ""
}

// BillingPeriod returns the API form of a period of c.
func BillingPeriod(c *domain.Contract, p domain.Period) *orderv1.BillingPeriod {
	return &orderv1.BillingPeriod{
		Number: int32(p.Number), StartDate: Date(p.Start), EndDate: Date(p.End), Amount: clone(p.Amount),
		Prorated: p.Prorated, Days: int32(p.Days), PeriodDays: int32(p.NominalDays), TermNumber: int32(c.TermOf(p.Start)),
	}
}

// Monthly is MRR as Money.
func monthly(c *domain.Contract) *moneypb.Money {
	return domain.MoneyOf(c.Currency, c.Monthly(c.Recurring()))
}

// OrderEvent returns the event message for ev about o (as it is after
// the change).
func OrderEvent(meta *eventsv1.EventMeta, o *domain.Order, ev domain.Event) (proto.Message, error) {
	id, res := o.ID.String(), Order(o)
	switch e := ev.(type) {
	case domain.OrderCreated:
		return &eventsv1.OrderCreated{Meta: meta, OrderId: id, Order: res, SourceOpportunityId: idString(o.SourceOpportunity),
			SourceLeadId: idString(o.SourceLead)}, nil
	case domain.OrderUpdated:
		return &eventsv1.OrderUpdated{Meta: meta, OrderId: id, Order: res, ChangedFields: e.Changed}, nil
	case domain.OrderConfirmed:
		return &eventsv1.OrderConfirmed{Meta: meta, OrderId: id, Order: res, AccountId: o.AccountID.String(), CreditCheck: res.GetCreditCheck()}, nil
	case domain.OrderFulfilled:
		return &eventsv1.OrderFulfilled{Meta: meta, OrderId: id, Order: res}, nil
	case domain.OrderClosed:
		return &eventsv1.OrderClosed{Meta: meta, OrderId: id, Order: res}, nil
	case domain.OrderReopened:
		return &eventsv1.OrderReopened{Meta: meta, OrderId: id, Order: res}, nil
	case domain.OrderCancelled:
		return &eventsv1.OrderCancelled{Meta: meta, OrderId: id, Order: res, Reason: e.Reason, PreviousStatus: Status(e.Previous)}, nil
	}
	return nil, fmt.Errorf("protomap: unknown order event %T", ev)
}

// ContractEvent returns the event message for ev about c.
func ContractEvent(meta *eventsv1.EventMeta, c *domain.Contract, ev domain.Event) (proto.Message, error) {
	id, res := c.ID.String(), Contract(c)
	switch e := ev.(type) {
	case domain.ContractCreated:
		return &eventsv1.ContractCreated{Meta: meta, ContractId: id, Contract: res, SourceOpportunityId: idString(c.SourceOpportunity)}, nil
	case domain.ContractUpdated:
		return &eventsv1.ContractUpdated{Meta: meta, ContractId: id, Contract: res, ChangedFields: e.Changed}, nil
	case domain.ContractActivated:
		return &eventsv1.ContractActivated{Meta: meta, ContractId: id, Contract: res, AccountId: c.AccountID.String(), MonthlyAmount: monthly(c)}, nil
	case domain.ContractAmended:
		return &eventsv1.ContractAmended{Meta: meta, ContractId: id, Contract: res, EffectiveDate: Date(e.Effective),
			PreviousRecurringAmount: clone(e.Previous), RecurringAmount: clone(e.Recurring)}, nil
	case domain.ContractNoticeGiven:
		return &eventsv1.ContractNoticeGiven{Meta: meta, ContractId: id, Contract: res, NoticeDate: Date(e.Date)}, nil
	case domain.ContractRenewalDue:
		var end domain.Date
		for _, t := range c.Terms {
			if t.Number == e.Term {
				end = t.End
			}
		}
		// The renewal term's net value at today's amount: MRR x its months.
		value := domain.MoneyOf(c.Currency, new(big.Rat).Mul(c.Monthly(c.Recurring()), big.NewRat(int64(c.RenewalTermMonths), 1)))
		return &eventsv1.ContractRenewalDue{Meta: meta, ContractId: id, Contract: res, AccountId: c.AccountID.String(),
			ContactId: idString(c.ContactID), Owner: c.Owner, TermNumber: int32(e.Term), TermEndDate: Date(end),
			RenewalTermMonths: int32(c.RenewalTermMonths), RenewalValue: value, MonthlyAmount: monthly(c), AutoRenew: c.AutoRenew,
			AccountOwner: e.AccountOwner}, nil
	case domain.ContractRenewed:
		t, _ := c.Term()
		return &eventsv1.ContractRenewed{Meta: meta, ContractId: id, Contract: res, TermNumber: int32(e.Term),
			TermStartDate: Date(t.Start), TermEndDate: Date(t.End), RenewalOpportunityId: idString(e.Opportunity)}, nil
	case domain.ContractExpired:
		return &eventsv1.ContractExpired{Meta: meta, ContractId: id, Contract: res, TermNumber: int32(e.Term)}, nil
	case domain.ContractCancelled:
		return &eventsv1.ContractCancelled{Meta: meta, ContractId: id, Contract: res, Reason: e.Reason, EffectiveDate: Date(e.Effective)}, nil
	}
	return nil, fmt.Errorf("protomap: unknown contract event %T", ev)
}

// ExchangeRateName is `exchangeRates/{id}`.
func ExchangeRateName(id uuid.UUID) string { return resname.Format("exchangeRates", id) }

func ExchangeRate(r *domain.ExchangeRate) *orderv1.ExchangeRate {
	return &orderv1.ExchangeRate{
		Name: ExchangeRateName(r.ID), BaseCurrency: r.Base, QuoteCurrency: r.Quote, Rate: r.Rate,
		EffectiveDate: Date(r.EffectiveDate), Source: r.Source,
		CreateTime: ts(r.CreatedAt), CreatedBy: r.CreatedBy, UpdateTime: ts(r.UpdatedAt), UpdatedBy: r.UpdatedBy,
		Etag: etag.Format(r.Version),
	}
}

func ExchangeRateFromProto(r *orderv1.ExchangeRate) domain.ExchangeRate {
	return domain.ExchangeRate{
		Base: r.GetBaseCurrency(), Quote: r.GetQuoteCurrency(), Rate: r.GetRate(),
		EffectiveDate: DateFromProto(r.GetEffectiveDate()), Source: r.GetSource(),
	}
}

// ExchangeRateEvent is ExchangeRateChanged, or ExchangeRateDeleted when
// deleted, of r at revision r.Version.
func ExchangeRateEvent(meta *eventsv1.EventMeta, r *domain.ExchangeRate, deleted bool) proto.Message {
	if deleted {
		return &eventsv1.ExchangeRateDeleted{Meta: meta, ExchangeRateId: r.ID.String(), ExchangeRate: ExchangeRate(r), Revision: r.Version}
	}
	return &eventsv1.ExchangeRateChanged{Meta: meta, ExchangeRateId: r.ID.String(), ExchangeRate: ExchangeRate(r), Revision: r.Version}
}

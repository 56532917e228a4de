// Package grpc is the order service's gRPC API: it maps requests to use
// cases and results back, makes create and custom methods idempotent by
// request_id, and names the request fields in every validation error.
package grpc

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/google/uuid"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/crmsuite/crm/gen/go/crm/audit/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/idempotency"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/order/internal/app"
	"github.com/crmsuite/crm/services/order/internal/domain"
	"github.com/crmsuite/crm/services/order/internal/protomap"
)

// Server implements orderv1.OrderServiceServer.
type Server struct {
	orderv1.UnimplementedOrderServiceServer
	app   *app.Service
	idem  *idempotency.Store
	pages *paging.Codec
	// published is called after every successful change, to wake the
	// outbox relay.
	published func()
}

// New returns the gRPC API over the use cases.
func New(a *app.Service, idem *idempotency.Store, pages *paging.Codec, published func()) *Server {
	return &Server{app: a, idem: idem, pages: pages, published: published}
}

// wakeRelay tells the outbox relay there is something to publish, when
// the call that changed something succeeded.
func (s *Server) wakeRelay(err *error) {
	if *err == nil && s.published != nil {
		s.published()
	}
}

func badPageSize(n int32) error {
	if n < 0 {
		return apperr.InvalidField("page_size", "NEGATIVE_PAGE_SIZE", "page_size must not be negative")
	}
	return nil
}

func scheduleError(err error) error {
	if errors.Is(err, domain.ErrInvalidSchedule) || errors.Is(err, domain.ErrTooManyPeriods) {
		return apperr.FailedPrecondition("INVALID_BILLING_SCHEDULE", "%v", err)
	}
	return err
}

// ---- orders ----

func (s *Server) CreateOrder(ctx context.Context, req *orderv1.CreateOrderRequest) (_ *orderv1.Order, err error) {
	defer s.wakeRelay(&err)
	in, bad := protomap.OrderFromProto(req.GetOrder())
	if bad != "" {
		return nil, resname.Invalid("order."+bad, bad+"s", "")
	}
	source := uuid.Nil
	if p := req.GetSourceOpportunity(); p != "" {
		if source, err = resname.ParseField(p, "opportunities", "source_opportunity"); err != nil {
			return nil, err
		}
	}
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "CreateOrder", req, func(ctx context.Context) (*orderv1.Order, error) {
		o, err := s.app.CreateOrder(ctx, in, source, req.GetRequestId())
		if err != nil {
			return nil, apperr.PrefixResourceFields(err, "order.", "source_opportunity")
		}
		return protomap.Order(o), nil
	})
}

func (s *Server) GetOrder(ctx context.Context, req *orderv1.GetOrderRequest) (*orderv1.Order, error) {
	id, err := resname.ParseField(req.GetName(), "orders", "name")
	if err != nil {
		return nil, err
	}
	o, err := s.app.GetOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	return protomap.Order(o), nil
}

func (s *Server) ListOrders(ctx context.Context, req *orderv1.ListOrdersRequest) (*orderv1.ListOrdersResponse, error) {
	if err := badPageSize(req.GetPageSize()); err != nil {
		return nil, err
	}
	os, next, err := s.app.ListOrders(ctx, app.ListQuery{
		Filter: req.GetFilter(), OrderBy: req.GetOrderBy(), PageSize: paging.Size(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	resp := &orderv1.ListOrdersResponse{Orders: make([]*orderv1.Order, len(os)), NextPageToken: next}
	for i, o := range os {
		resp.Orders[i] = protomap.Order(o)
	}
	return resp, nil
}

// Output-only fields may appear in a mask (grpc-gateway derives masks from
// PATCH bodies that echo a whole resource) and are ignored.
var orderOutputOnly = map[string]bool{
	"name": true, "etag": true, "subtotal": true, "discount": true, "tax": true, "total": true, "status": true,
	"source_opportunity": true, "source_lead": true, "credit_check": true, "payment_terms": true, "hold_reason": true,
	"cancel_reason": true, "confirm_time": true, "fulfill_time": true, "close_time": true, "cancel_time": true,
	"create_time": true, "created_by": true, "update_time": true, "updated_by": true,
}

func fieldNames(fs []domain.Field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}

func fields(paths []string) []domain.Field {
	out := make([]domain.Field, len(paths))
	for i, p := range paths {
		out[i] = domain.Field(p)
	}
	return out
}

func (s *Server) UpdateOrder(ctx context.Context, req *orderv1.UpdateOrderRequest) (_ *orderv1.Order, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetOrder().GetName(), "orders", "order.name")
	if err != nil {
		return nil, err
	}
	// A resource echoed without a mask names its account, which stays.
	paths, err := grpcx.UpdateMask(req.GetUpdateMask(), req.GetOrder(), orderOutputOnly, nil, append(fieldNames(domain.OrderFields), "account"))
	if err != nil {
		return nil, err
	}
	in, bad := protomap.OrderFromProto(req.GetOrder())
	if bad != "" {
		return nil, resname.Invalid("order."+bad, bad+"s", "")
	}
	o, err := s.app.UpdateOrder(ctx, id, in, fields(paths), req.GetOrder().GetEtag())
	if err != nil {
		return nil, apperr.PrefixResourceFields(err, "order.", "update_mask")
	}
	return protomap.Order(o), nil
}

// custom runs an idempotent custom method on one order.
func (s *Server) custom(ctx context.Context, name, requestID, method string, req proto.Message,
	fn func(ctx context.Context, id uuid.UUID) (*domain.Order, error)) (_ *orderv1.Order, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(name, "orders", "name")
	if err != nil {
		return nil, err
	}
	return idempotency.Do(ctx, s.idem, requestID, method, req, func(ctx context.Context) (*orderv1.Order, error) {
		o, err := fn(ctx, id)
		if err != nil {
			return nil, err
		}
		return protomap.Order(o), nil
	})
}

func (s *Server) ConfirmOrder(ctx context.Context, req *orderv1.ConfirmOrderRequest) (*orderv1.Order, error) {
	return s.custom(ctx, req.GetName(), req.GetRequestId(), "ConfirmOrder", req, func(ctx context.Context, id uuid.UUID) (*domain.Order, error) {
		return s.app.ConfirmOrder(ctx, id, req.GetEtag(), req.GetRequestId(), req.GetCreditOverrideReason(), app.Override{Override: req.GetOverrideProcess(), Reason: req.GetProcessOverrideReason()})
	})
}

func (s *Server) HoldOrder(ctx context.Context, req *orderv1.HoldOrderRequest) (*orderv1.Order, error) {
	return s.custom(ctx, req.GetName(), req.GetRequestId(), "HoldOrder", req, func(ctx context.Context, id uuid.UUID) (*domain.Order, error) {
		return s.app.HoldOrder(ctx, id, req.GetReason(), req.GetEtag(), req.GetRequestId())
	})
}

func (s *Server) ResumeOrder(ctx context.Context, req *orderv1.ResumeOrderRequest) (*orderv1.Order, error) {
	return s.custom(ctx, req.GetName(), req.GetRequestId(), "ResumeOrder", req, func(ctx context.Context, id uuid.UUID) (*domain.Order, error) {
		return s.app.ResumeOrder(ctx, id, req.GetEtag(), req.GetRequestId(), req.GetCreditOverrideReason())
	})
}

func (s *Server) FulfillOrder(ctx context.Context, req *orderv1.FulfillOrderRequest) (*orderv1.Order, error) {
	ds := make([]domain.Delivery, len(req.GetLines()))
	for i, l := range req.GetLines() {
		ds[i] = domain.Delivery{LineID: l.GetLineId(), Quantity: l.GetQuantity()}
	}
	return s.custom(ctx, req.GetName(), req.GetRequestId(), "FulfillOrder", req, func(ctx context.Context, id uuid.UUID) (*domain.Order, error) {
		return s.app.FulfillOrder(ctx, id, ds, req.GetEtag(), req.GetRequestId(), app.Override{Override: req.GetOverrideProcess(), Reason: req.GetProcessOverrideReason()})
	})
}

func (s *Server) CloseOrder(ctx context.Context, req *orderv1.CloseOrderRequest) (*orderv1.Order, error) {
	return s.custom(ctx, req.GetName(), req.GetRequestId(), "CloseOrder", req, func(ctx context.Context, id uuid.UUID) (*domain.Order, error) {
		return s.app.CloseOrder(ctx, id, req.GetEtag(), req.GetRequestId())
	})
}

func (s *Server) ReopenOrder(ctx context.Context, req *orderv1.ReopenOrderRequest) (*orderv1.Order, error) {
	return s.custom(ctx, req.GetName(), req.GetRequestId(), "ReopenOrder", req, func(ctx context.Context, id uuid.UUID) (*domain.Order, error) {
		return s.app.ReopenOrder(ctx, id, req.GetEtag(), req.GetRequestId(), req.GetCreditOverrideReason())
	})
}

func (s *Server) CancelOrder(ctx context.Context, req *orderv1.CancelOrderRequest) (*orderv1.Order, error) {
	return s.custom(ctx, req.GetName(), req.GetRequestId(), "CancelOrder", req, func(ctx context.Context, id uuid.UUID) (*domain.Order, error) {
		return s.app.CancelOrder(ctx, id, req.GetReason(), req.GetEtag(), req.GetRequestId())
	})
}

func (s *Server) AddOrderLines(ctx context.Context, req *orderv1.AddOrderLinesRequest) (*orderv1.Order, error) {
	lines := protomap.LinesFromProto(req.GetLines())
	return s.custom(ctx, req.GetName(), req.GetRequestId(), "AddOrderLines", req, func(ctx context.Context, id uuid.UUID) (*domain.Order, error) {
		return s.app.AddOrderLines(ctx, id, lines, req.GetEtag(), req.GetRequestId(), req.GetCreditOverrideReason())
	})
}

func (s *Server) ListOrderStatusChanges(ctx context.Context, req *orderv1.ListOrderStatusChangesRequest) (*orderv1.ListOrderStatusChangesResponse, error) {
	if err := badPageSize(req.GetPageSize()); err != nil {
		return nil, err
	}
	id, err := resname.ParseField(req.GetParent(), "orders", "parent")
	if err != nil {
		return nil, err
	}
	cs, next, err := s.app.ListStatusChanges(ctx, id, paging.Size(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &orderv1.ListOrderStatusChangesResponse{NextPageToken: next}
	for _, c := range cs {
		resp.StatusChanges = append(resp.StatusChanges, protomap.StatusChange(c))
	}
	return resp, nil
}

// ---- contracts ----

func (s *Server) CreateContract(ctx context.Context, req *orderv1.CreateContractRequest) (_ *orderv1.Contract, err error) {
	defer s.wakeRelay(&err)
	in, bad := protomap.ContractFromProto(req.GetContract())
	if bad != "" {
		return nil, resname.Invalid("contract."+bad, bad+"s", "")
	}
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "CreateContract", req, func(ctx context.Context) (*orderv1.Contract, error) {
		c, err := s.app.CreateContract(ctx, in, req.GetRequestId())
		if err != nil {
			return nil, apperr.PrefixFields(err, "contract.")
		}
		return protomap.Contract(c), nil
	})
}

func (s *Server) GetContract(ctx context.Context, req *orderv1.GetContractRequest) (*orderv1.Contract, error) {
	id, err := resname.ParseField(req.GetName(), "contracts", "name")
	if err != nil {
		return nil, err
	}
	c, err := s.app.GetContract(ctx, id)
	if err != nil {
		return nil, err
	}
	return protomap.Contract(c), nil
}

func (s *Server) ListContracts(ctx context.Context, req *orderv1.ListContractsRequest) (*orderv1.ListContractsResponse, error) {
	if err := badPageSize(req.GetPageSize()); err != nil {
		return nil, err
	}
	cs, next, err := s.app.ListContracts(ctx, app.ListQuery{
		Filter: req.GetFilter(), OrderBy: req.GetOrderBy(), PageSize: paging.Size(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	resp := &orderv1.ListContractsResponse{Contracts: make([]*orderv1.Contract, len(cs)), NextPageToken: next}
	for i, c := range cs {
		resp.Contracts[i] = protomap.Contract(c)
	}
	return resp, nil
}

var contractOutputOnly = map[string]bool{
	"name": true, "etag": true, "recurring_amount": true, "status": true, "term_number": true, "term_start_date": true,
	"term_end_date": true, "renewal_due_time": true, "renewal_opportunity": true, "notice_date": true, "cancel_reason": true,
	"cancel_effective_date": true, "terms": true, "amendments": true, "source_opportunity": true, "activate_time": true,
	"create_time": true, "created_by": true, "update_time": true, "updated_by": true,
}

func (s *Server) UpdateContract(ctx context.Context, req *orderv1.UpdateContractRequest) (_ *orderv1.Contract, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetContract().GetName(), "contracts", "contract.name")
	if err != nil {
		return nil, err
	}
	paths, err := grpcx.UpdateMask(req.GetUpdateMask(), req.GetContract(), contractOutputOnly, nil, append(fieldNames(domain.ContractFields), "account"))
	if err != nil {
		return nil, err
	}
	in, bad := protomap.ContractFromProto(req.GetContract())
	if bad != "" {
		return nil, resname.Invalid("contract."+bad, bad+"s", "")
	}
	c, err := s.app.UpdateContract(ctx, id, in, fields(paths), req.GetContract().GetEtag())
	if err != nil {
		return nil, apperr.PrefixResourceFields(err, "contract.", "update_mask")
	}
	return protomap.Contract(c), nil
}

// customContract runs an idempotent custom method on one contract.
func (s *Server) customContract(ctx context.Context, name, requestID, method string, req proto.Message,
	fn func(ctx context.Context, id uuid.UUID) (*domain.Contract, error)) (_ *orderv1.Contract, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(name, "contracts", "name")
	if err != nil {
		return nil, err
	}
	return idempotency.Do(ctx, s.idem, requestID, method, req, func(ctx context.Context) (*orderv1.Contract, error) {
		c, err := fn(ctx, id)
		if err != nil {
			return nil, scheduleError(err)
		}
		return protomap.Contract(c), nil
	})
}

func (s *Server) ActivateContract(ctx context.Context, req *orderv1.ActivateContractRequest) (*orderv1.Contract, error) {
	return s.customContract(ctx, req.GetName(), req.GetRequestId(), "ActivateContract", req, func(ctx context.Context, id uuid.UUID) (*domain.Contract, error) {
		return s.app.ActivateContract(ctx, id, req.GetEtag(), req.GetRequestId())
	})
}

func (s *Server) AmendContract(ctx context.Context, req *orderv1.AmendContractRequest) (*orderv1.Contract, error) {
	lines := protomap.LinesFromProto(req.GetLines())
	return s.customContract(ctx, req.GetName(), req.GetRequestId(), "AmendContract", req, func(ctx context.Context, id uuid.UUID) (*domain.Contract, error) {
		return s.app.AmendContract(ctx, id, lines, protomap.DateFromProto(req.GetEffectiveDate()), req.GetEtag(), req.GetRequestId())
	})
}

func (s *Server) GiveContractNotice(ctx context.Context, req *orderv1.GiveContractNoticeRequest) (*orderv1.Contract, error) {
	return s.customContract(ctx, req.GetName(), req.GetRequestId(), "GiveContractNotice", req, func(ctx context.Context, id uuid.UUID) (*domain.Contract, error) {
		return s.app.GiveContractNotice(ctx, id, protomap.DateFromProto(req.GetNoticeDate()), req.GetEtag(), req.GetRequestId())
	})
}

func (s *Server) RenewContract(ctx context.Context, req *orderv1.RenewContractRequest) (*orderv1.Contract, error) {
	return s.customContract(ctx, req.GetName(), req.GetRequestId(), "RenewContract", req, func(ctx context.Context, id uuid.UUID) (*domain.Contract, error) {
		return s.app.RenewContract(ctx, id, req.GetEtag(), req.GetRequestId())
	})
}

func (s *Server) CancelContract(ctx context.Context, req *orderv1.CancelContractRequest) (*orderv1.Contract, error) {
	return s.customContract(ctx, req.GetName(), req.GetRequestId(), "CancelContract", req, func(ctx context.Context, id uuid.UUID) (*domain.Contract, error) {
		return s.app.CancelContract(ctx, id, req.GetReason(), protomap.DateFromProto(req.GetEffectiveDate()), req.GetEtag(), req.GetRequestId())
	})
}

// periodCursor is where the next page of billing periods starts.
type periodCursor struct {
	Next int `json:"n"`
}

func (s *Server) ListBillingPeriods(ctx context.Context, req *orderv1.ListBillingPeriodsRequest) (*orderv1.ListBillingPeriodsResponse, error) {
	if err := badPageSize(req.GetPageSize()); err != nil {
		return nil, err
	}
	id, err := resname.ParseField(req.GetParent(), "contracts", "parent")
	if err != nil {
		return nil, err
	}
	until := protomap.DateFromProto(req.GetUntil())
	if !until.IsZero() && !until.Valid() {
		return nil, apperr.InvalidField("until", "INVALID_DATE", "%s is not a calendar date", until)
	}
	c, ps, err := s.app.BillingPeriods(ctx, id, until)
	if err != nil {
		return nil, scheduleError(err)
	}
	// The schedule is computed, not stored: a page token is a position in
	// it, bound to the contract and its version.
	size, start := paging.Size(req.GetPageSize()), 0
	key := "billing_periods\x00" + c.ID.String() + "\x00" + until.String()
	if t := req.GetPageToken(); t != "" {
		var cur periodCursor
		if err := s.pages.Decode(t, key, &cur); err != nil {
			return nil, err
		}
		start = min(cur.Next, len(ps))
	}
	end := min(start+size, len(ps))
	resp := &orderv1.ListBillingPeriodsResponse{}
	for _, p := range ps[start:end] {
		resp.BillingPeriods = append(resp.BillingPeriods, protomap.BillingPeriod(c, p))
	}
	if end < len(ps) {
		if resp.NextPageToken, err = s.pages.Encode(key, periodCursor{Next: end}); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// ---- reports ----

// amount is a report's exact decimal as Money.
func amount(currency, decimal string) (*moneypb.Money, error) {
	r, ok := new(big.Rat).SetString(decimal)
	if !ok {
		return nil, fmt.Errorf("report amount %q is not a decimal", decimal)
	}
	return money.Round(currency, r)
}

func (s *Server) GetOrderPipeline(ctx context.Context, req *orderv1.GetOrderPipelineRequest) (*orderv1.OrderPipeline, error) {
	os, cs, err := s.app.Pipeline(ctx, req.GetOwner())
	if err != nil {
		return nil, err
	}
	out := &orderv1.OrderPipeline{}
	for _, r := range os {
		amount, err := amount(r.Currency, r.Amount)
		if err != nil {
			return nil, err
		}
		out.Orders = append(out.Orders, &orderv1.OrderPipelineRow{Status: protomap.Status(r.Status), CurrencyCode: r.Currency, Count: r.Count, Amount: amount})
	}
	for _, r := range cs {
		amount, err := amount(r.Currency, r.Monthly)
		if err != nil {
			return nil, err
		}
		out.Contracts = append(out.Contracts, &orderv1.ContractPipelineRow{Status: protomap.ContractStatus(r.Status), CurrencyCode: r.Currency, Count: r.Count, MonthlyAmount: amount})
	}
	return out, nil
}

func (s *Server) GetRevenueForecast(ctx context.Context, req *orderv1.GetRevenueForecastRequest) (*orderv1.RevenueForecast, error) {
	q := app.ForecastQuery{Period: app.PeriodQuarter, Start: protomap.DateFromProto(req.GetStartDate()), End: protomap.DateFromProto(req.GetEndDate()),
		GroupByOwner: req.GetGroupByOwner(), Owners: req.GetOwners(),
		Reporting: app.ReportingQuery{Currency: req.GetReportingCurrency(), RateDate: protomap.DateFromProto(req.GetRateDate())}}
	if req.GetPeriod() == orderv1.ReportPeriod_REPORT_PERIOD_MONTH {
		q.Period = app.PeriodMonth
	}
	rows, rep, err := s.app.RevenueForecast(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &orderv1.RevenueForecast{ReportingCurrency: rep.Currency, RateDate: protomap.Date(rep.RateDate)}
	for _, r := range rows {
		orders, err1 := amount(r.Currency, r.OrderAmount)
		contracts, err2 := amount(r.Currency, r.ContractAmount)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		total, _ := money.Round(r.Currency, new(big.Rat).Add(money.Rat(orders), money.Rat(contracts)))
		out.Rows = append(out.Rows, &orderv1.RevenueForecastRow{
			PeriodStart: protomap.Date(r.PeriodStart), Owner: r.Owner, CurrencyCode: r.Currency, OrderCount: r.OrderCount,
			OrderAmount: orders, BillingPeriodCount: r.PeriodCount, ContractAmount: contracts, Total: total,
			Conversions: money.Protos(r.Conversions),
		})
	}
	return out, nil
}

func (s *Server) GetRecurringRevenue(ctx context.Context, req *orderv1.GetRecurringRevenueRequest) (*orderv1.RecurringRevenue, error) {
	rows, rep, err := s.app.RecurringRevenue(ctx, app.RecurringQuery{
		AsOf: protomap.DateFromProto(req.GetAsOfDate()), Start: protomap.DateFromProto(req.GetStartDate()),
		End: protomap.DateFromProto(req.GetEndDate()), Owner: req.GetOwner(),
		Reporting: app.ReportingQuery{Currency: req.GetReportingCurrency(), RateDate: protomap.DateFromProto(req.GetRateDate())},
	})
	if err != nil {
		return nil, err
	}
	out := &orderv1.RecurringRevenue{ReportingCurrency: rep.Currency, RateDate: protomap.Date(rep.RateDate)}
	for _, r := range rows {
		row := &orderv1.RecurringRevenueRow{CurrencyCode: r.Currency, Renewals: r.Renewals, Conversions: money.Protos(r.Conversions)}
		net := new(big.Rat)
		for _, f := range []struct {
			dst **moneypb.Money
			v   string
			sum bool
		}{{&row.Mrr, r.MRR, false}, {&row.NewMrr, r.New, true}, {&row.ExpansionMrr, r.Expansion, true},
			{&row.ContractionMrr, r.Contraction, true}, {&row.ChurnedMrr, r.Churn, true}, {&row.RenewalMrr, r.RenewalDelta, true}} {
			rat, ok := new(big.Rat).SetString(f.v)
			if !ok {
				return nil, fmt.Errorf("report amount %q is not a decimal", f.v)
			}
			if f.sum {
				net.Add(net, rat)
			}
			if *f.dst, err = money.Round(r.Currency, rat); err != nil {
				return nil, err
			}
		}
		row.Arr, _ = money.Round(r.Currency, new(big.Rat).Mul(money.Rat(row.Mrr), big.NewRat(12, 1)))
		row.NetChange, _ = money.Round(r.Currency, net)
		out.Currencies = append(out.Currencies, row)
	}
	return out, nil
}

func (s *Server) GetOrderPerformance(ctx context.Context, req *orderv1.GetOrderPerformanceRequest) (*orderv1.OrderPerformance, error) {
	q := app.PerformanceQuery{Owner: req.GetOwner()}
	if req.GetStartTime() != nil {
		q.Start = req.GetStartTime().AsTime()
	}
	if req.GetEndTime() != nil {
		q.End = req.GetEndTime().AsTime()
	}
	ps, err := s.app.Performance(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &orderv1.OrderPerformance{}
	for _, p := range ps {
		revenue, err1 := amount(p.Currency, p.Revenue)
		avg, err2 := amount(p.Currency, p.AverageValue)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		out.Owners = append(out.Owners, &orderv1.OwnerOrderPerformance{
			Owner: p.Owner, CurrencyCode: p.Currency, OrderCount: p.Orders, Revenue: revenue, AverageOrderValue: avg,
			FulfilledCount: p.Fulfilled, AverageDaysToFulfill: p.AverageDaysToFulfill, CancelledCount: p.Cancelled,
		})
	}
	return out, nil
}

func (s *Server) ListAuditEntries(ctx context.Context, req *orderv1.ListAuditEntriesRequest) (*auditv1.ListAuditEntriesResponse, error) {
	q, collection, id, err := audit.ParseRequest(req, "orders", "contracts")
	if err != nil {
		return nil, err
	}
	entries, next, err := s.app.ListAuditEntries(ctx, collection, id, q)
	if err != nil {
		return nil, err
	}
	return audit.Response(entries, next)
}

package grpc

import (
	"context"

	"google.golang.org/protobuf/types/known/emptypb"

	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/idempotency"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/order/internal/app"
	"github.com/crmsuite/crm/services/order/internal/protomap"
)

// ExchangeRates implements orderv1.ExchangeRateServiceServer.
type ExchangeRates struct {
	orderv1.UnimplementedExchangeRateServiceServer
	*Server
}

// NewExchangeRates returns the exchange rate API over the use cases.
func NewExchangeRates(s *Server) *ExchangeRates { return &ExchangeRates{Server: s} }

var rateOutputOnly = map[string]bool{"name": true, "etag": true, "create_time": true, "created_by": true, "update_time": true, "updated_by": true}

var rateFields = []string{"base_currency", "quote_currency", "rate", "effective_date", "source"}

func (s *ExchangeRates) CreateExchangeRate(ctx context.Context, req *orderv1.CreateExchangeRateRequest) (_ *orderv1.ExchangeRate, err error) {
	defer s.wakeRelay(&err)
	in := protomap.ExchangeRateFromProto(req.GetExchangeRate())
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "CreateExchangeRate", req, func(ctx context.Context) (*orderv1.ExchangeRate, error) {
		r, err := s.app.CreateExchangeRate(ctx, in, req.GetRequestId())
		if err != nil {
			return nil, apperr.PrefixResourceFields(err, "exchange_rate.")
		}
		return protomap.ExchangeRate(r), nil
	})
}

func (s *ExchangeRates) GetExchangeRate(ctx context.Context, req *orderv1.GetExchangeRateRequest) (*orderv1.ExchangeRate, error) {
	id, err := resname.ParseField(req.GetName(), "exchangeRates", "name")
	if err != nil {
		return nil, err
	}
	r, err := s.app.GetExchangeRate(ctx, id)
	if err != nil {
		return nil, err
	}
	return protomap.ExchangeRate(r), nil
}

func (s *ExchangeRates) ListExchangeRates(ctx context.Context, req *orderv1.ListExchangeRatesRequest) (*orderv1.ListExchangeRatesResponse, error) {
	if err := badPageSize(req.GetPageSize()); err != nil {
		return nil, err
	}
	rs, next, err := s.app.ListExchangeRates(ctx, app.RateQuery{
		Base: req.GetBaseCurrency(), Quote: req.GetQuoteCurrency(), PageSize: paging.Size(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	resp := &orderv1.ListExchangeRatesResponse{ExchangeRates: make([]*orderv1.ExchangeRate, len(rs)), NextPageToken: next}
	for i, r := range rs {
		resp.ExchangeRates[i] = protomap.ExchangeRate(r)
	}
	return resp, nil
}

func (s *ExchangeRates) UpdateExchangeRate(ctx context.Context, req *orderv1.UpdateExchangeRateRequest) (_ *orderv1.ExchangeRate, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetExchangeRate().GetName(), "exchangeRates", "exchange_rate.name")
	if err != nil {
		return nil, err
	}
	paths, err := grpcx.UpdateMask(req.GetUpdateMask(), req.GetExchangeRate(), rateOutputOnly, nil, rateFields)
	if err != nil {
		return nil, err
	}
	r, err := s.app.UpdateExchangeRate(ctx, id, protomap.ExchangeRateFromProto(req.GetExchangeRate()), paths, req.GetExchangeRate().GetEtag())
	if err != nil {
		return nil, apperr.PrefixResourceFields(err, "exchange_rate.", "update_mask")
	}
	return protomap.ExchangeRate(r), nil
}

func (s *ExchangeRates) DeleteExchangeRate(ctx context.Context, req *orderv1.DeleteExchangeRateRequest) (_ *emptypb.Empty, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetName(), "exchangeRates", "name")
	if err != nil {
		return nil, err
	}
	if err := s.app.DeleteExchangeRate(ctx, id, req.GetEtag()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

package app

import (
	"context"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/processgate"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/order/internal/domain"
)

// Override is a manager's decision to move an order past the missing
// steps of its process.
type Override = processgate.Override

// WithProcessGate makes confirming and fulfilling an order ask the order
// process first; snapshot is an order's API form, which step conditions
// read.
func (s *Service) WithProcessGate(g processgate.Checker, snapshot func(*domain.Order) proto.Message) *Service {
	s.gate, s.snapshot = g, snapshot
	return s
}

// checkProcess asks whether order cur (as read) may enter status to.
func (s *Service) checkProcess(ctx context.Context, gates processgate.Gates, cur *domain.Order, to domain.Status, ov Override, requestID string) (*processgate.Passed, error) {
	return s.gate.Check(ctx, gates, processgate.Transition{
		Record: resname.Format("orders", cur.ID), RecordType: "ORDER", ToStage: string(to), Snapshot: s.snapshot(cur),
		Override: ov, RequestID: requestID,
	})
}

// gateFor checks the order's process for a step that takes it to status
// to, reading the order as the caller may.
func (s *Service) gateFor(ctx context.Context, id uuid.UUID, to func(cur *domain.Order) (domain.Status, error), ov Override, requestID string) (*processgate.Passed, error) {
	if s.gate == nil {
		return nil, nil
	}
	gates, err := s.gate.Gated(ctx, "ORDER")
	if err != nil || len(gates) == 0 {
		return nil, err
	}
	cur, err := s.GetOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	st, err := to(cur)
	if err != nil || st == "" {
		return nil, err
	}
	return s.checkProcess(ctx, gates, cur, st, ov, requestID)
}

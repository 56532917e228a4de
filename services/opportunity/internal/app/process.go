package app

import (
	"context"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/processgate"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
)

// Override is a manager's decision to move an opportunity past the
// missing steps of its process.
type Override = processgate.Override

// WithProcessGate makes stage moves and wins ask the workflow service's
// process first; snapshot is an opportunity's API form, which step
// conditions read.
func (s *Service) WithProcessGate(g processgate.Checker, snapshot func(*domain.Opportunity) proto.Message) *Service {
	s.gate, s.snapshot = g, snapshot
	return s
}

// checkProcess asks whether the opportunity may enter stage (its
// pipeline's WON stage when "").
func (s *Service) checkProcess(ctx context.Context, id uuid.UUID, stage string, ov Override, requestID string) (*processgate.Passed, error) {
	if s.gate == nil {
		return nil, nil
	}
	gates, err := s.gate.Gated(ctx, "OPPORTUNITY")
	if err != nil || len(gates) == 0 {
		return nil, err
	}
	o, err := s.GetOpportunity(ctx, id)
	if err != nil {
		return nil, err
	}
	if stage == "" {
		p, err := s.repo.GetPipeline(ctx, o.PipelineID)
		if err != nil {
			return nil, err
		}
		won, _ := p.FirstOfKind(domain.KindWon)
		stage = won.ID
	}
	return s.gate.Check(ctx, gates, processgate.Transition{
		Record: resname.Format("opportunities", id), RecordType: "OPPORTUNITY", Pipeline: resname.Format("pipelines", o.PipelineID),
		ToStage: stage, Snapshot: s.snapshot(o), Override: ov, RequestID: requestID,
	})
}

// audited audits a pass with the transition's events, in its
// transaction, when the transition changed something.
func audited(ctx context.Context, pass *processgate.Passed, evs []domain.Event, err error) ([]domain.Event, error) {
	if err != nil || len(evs) == 0 {
		return evs, err
	}
	return evs, pass.Audit(ctx)
}

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

// Gate checks a transition against the record's process
// (platform/processgate).
type Gate interface {
	Gated(ctx context.Context, recordType string) (processgate.Gates, error)
	Check(ctx context.Context, gates processgate.Gates, t processgate.Transition) (*processgate.Passed, error)
}

// WithProcessGate makes stage moves and wins ask the workflow service's
// process first; snapshot is an opportunity's API form, which step
// conditions read.
func (s *Service) WithProcessGate(g Gate, snapshot func(*domain.Opportunity) proto.Message) *Service {
	s.gate, s.snapshot = g, snapshot
	return s
}

// checkProcess asks whether the opportunity may enter stage (its
// pipeline's WON stage when "").
func (s *Service) checkProcess(ctx context.Context, id uuid.UUID, stage string, ov Override, requestID string) (passed, error) {
	if s.gate == nil {
		return passed{}, nil
	}
	gates, err := s.gate.Gated(ctx, "OPPORTUNITY")
	if err != nil || len(gates) == 0 {
		return passed{}, err
	}
	o, err := s.GetOpportunity(ctx, id)
	if err != nil {
		return passed{}, err
	}
	if stage == "" {
		p, err := s.repo.GetPipeline(ctx, o.PipelineID)
		if err != nil {
			return passed{}, err
		}
		won, _ := p.FirstOfKind(domain.KindWon)
		stage = won.ID
	}
	pass, err := s.gate.Check(ctx, gates, processgate.Transition{
		Record: resname.Format("opportunities", id), RecordType: "OPPORTUNITY", Pipeline: resname.Format("pipelines", o.PipelineID),
		ToStage: stage, Snapshot: s.snapshot(o), Override: ov, RequestID: requestID,
	})
	return passed{pass}, err
}

// passed is a transition its process let through.
type passed struct{ p *processgate.Passed }

// then audits the pass along with the transition's events, in its
// transaction, when the transition changes something.
func (g passed) then(ctx context.Context) func([]domain.Event, error) ([]domain.Event, error) {
	return func(evs []domain.Event, err error) ([]domain.Event, error) {
		if err != nil || len(evs) == 0 {
			return evs, err
		}
		return evs, g.p.Audit(ctx)
	}
}

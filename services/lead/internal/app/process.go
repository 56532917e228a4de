package app

import (
	"context"
	"slices"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/processgate"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

// Override is a manager's decision to move a lead past the missing steps
// of its process.
type Override = processgate.Override

// WithProcessGate makes every status change of a lead (and its
// qualification) ask the lead process first; snapshot is a lead's API
// form, which step conditions read.
func (s *Service) WithProcessGate(g processgate.Checker, snapshot func(*domain.Lead) proto.Message) *Service {
	s.gate, s.snapshot = g, snapshot
	return s
}

// checkProcess asks whether the lead may enter status to; the entry it
// returns (nil when there is nothing to record) goes into the lead's
// audit trail with the change.
func (s *Service) checkProcess(ctx context.Context, id uuid.UUID, to func(*domain.Lead) domain.Status, ov Override, requestID string) (*audit.Entry, error) {
	if s.gate == nil {
		return nil, nil
	}
	gates, err := s.gate.Gated(ctx, "LEAD")
	if err != nil || len(gates) == 0 {
		return nil, err
	}
	l, err := s.GetLead(ctx, id)
	if err != nil {
		return nil, err
	}
	stage := to(l)
	if stage == "" || stage == l.Status && !ov.Override {
		return nil, nil
	}
	passed, err := s.gate.Check(ctx, gates, processgate.Transition{
		Record: resname.Format("leads", id), RecordType: "LEAD", ToStage: string(stage), Snapshot: s.snapshot(l),
		Override: ov, RequestID: requestID,
	})
	if err != nil {
		return nil, err
	}
	return passed.Entry(ctx)
}

// statusIn is the status an update sets, "" when its mask leaves the
// status alone.
func statusIn(patch domain.Lead, mask []domain.Field) func(*domain.Lead) domain.Status {
	return func(*domain.Lead) domain.Status {
		if slices.Contains(mask, domain.FieldStatus) {
			return patch.Status
		}
		return ""
	}
}

// reactivatedTo is the status reactivating a lead returns it to.
func reactivatedTo(l *domain.Lead) domain.Status {
	if l.Disqualification != nil && l.Disqualification.PreviousStatus.Open() {
		return l.Disqualification.PreviousStatus
	}
	return domain.StatusNew
}

package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
)

// Conversion is the opportunity a LeadQualified event asks for.
type Conversion struct {
	// EventID of the LeadQualified event: the request id of the events
	// the conversion raises.
	EventID string
	LeadID  uuid.UUID
	// Actor who converted the lead.
	Actor string
	// Opportunity carries the pre-allocated id, account, contact, name,
	// amount, expected close date and owner.
	Opportunity domain.Opportunity
}

// Rejection is a conversion that cannot be applied, whatever the retries.
type Rejection struct {
	Reason, Message string
}

func (r *Rejection) Error() string { return r.Reason + ": " + r.Message }

// ApplyConversion opens the opportunity of a converted lead in the default
// pipeline's first open stage, in the caller's transaction (the inbox's).
// The account is not checked: the account service creates it from the
// same event, maybe later. An opportunity with the id that exists already
// was opened by an earlier delivery: done.
func (s *Service) ApplyConversion(ctx context.Context, conv Conversion) error {
	actor := conv.Actor
	if actor == "" {
		actor = auth.Anonymous
	}
	ctx = auth.WithPrincipal(ctx, auth.Principal{Subject: actor})
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.repo.GetOpportunity(ctx, conv.Opportunity.ID); err == nil {
			return nil
		}
		p, err := s.repo.SharePipeline(ctx, uuid.Nil)
		if err != nil {
			return err
		}
		in := conv.Opportunity
		in.SourceLead = conv.LeadID
		o, evs, err := domain.NewOpportunity(in, domain.Settings{}, p, "", conv.Opportunity.ID, actor, s.now())
		if err != nil {
			return &Rejection{Reason: "INVALID_OPPORTUNITY", Message: fmt.Sprintf("the converted opportunity is not valid: %v", err)}
		}
		_, err = s.repo.InsertOpportunity(ctx, o, Change{Events: evs, RequestID: conv.EventID})
		return err
	})
}

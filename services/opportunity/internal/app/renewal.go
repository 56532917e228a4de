package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
)

// Renewal is the opportunity a ContractRenewalDue event asks for: the
// renewal of term Term of contract ContractID.
type Renewal struct {
	// EventID of the ContractRenewalDue event: the request id of the
	// events the renewal raises.
	EventID string
	// Actor who raised it (the order service's renewal timer).
	Actor      string
	ContractID uuid.UUID
	Term       int
	// AccountOwner is the account's owner as the order service knows it;
	// "" when it does not, and the account service is asked.
	AccountOwner string
	// ContractOwner owns the renewal when the account service does not
	// know the account.
	ContractOwner string
	// Opportunity carries the name, account, contact, amount and expected
	// close date.
	Opportunity domain.Opportunity
}

// ApplyRenewal opens the RENEWAL opportunity of a contract's term in the
// default pipeline's first open stage, in the caller's transaction (the
// inbox's). Its id is events.RenewalOpportunityID(contract, term), which
// the order service computes too and shows on the contract; one with that
// id (a redelivery, or another event for the same term) means done, and
// nothing is written. It is owned by the account's owner: the one the
// event carries (the order service's projection of the account events),
// else asked of the account service; by the contract's owner when the
// account service does not know the account. The account service not
// answering is an error like any other, so the inbox redelivers the event
// later.
func (s *Service) ApplyRenewal(ctx context.Context, r Renewal) error {
	actor := r.Actor
	if actor == "" {
		actor = auth.Anonymous
	}
	ctx = auth.WithPrincipal(ctx, auth.Principal{Subject: actor})
	id := events.RenewalOpportunityID(r.ContractID, r.Term)
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		in := r.Opportunity
		owner := r.AccountOwner
		if owner != "" {
			return s.openRenewal(ctx, r, in, owner, id, actor)
		}
		// The order service did not know the account's owner: ask the
		// account service, unless a delivery before this one was done.
		if _, err := s.repo.GetOpportunity(ctx, id); err == nil {
			return nil
		} else if !apperr.IsKind(err, apperr.KindNotFound) {
			return err
		}
		owner, err := s.accounts.AccountOwner(ctx, in.AccountID)
		switch {
		case apperr.IsKind(err, apperr.KindNotFound):
			owner = r.ContractOwner
		case err != nil:
			return err
		case owner == "":
			owner = r.ContractOwner
		}
		return s.openRenewal(ctx, r, in, owner, id, actor)
	})
}

// openRenewal inserts the renewal opportunity unless one of its id, or of
// its contract term, exists.
func (s *Service) openRenewal(ctx context.Context, r Renewal, in domain.Opportunity, owner string, id uuid.UUID, actor string) error {
	in.Owner = owner
	p, err := s.repo.SharePipeline(ctx, uuid.Nil)
	if err != nil {
		return err
	}
	o, evs, err := domain.NewRenewal(in, r.ContractID, r.Term, p, id, actor, s.now())
	if err != nil {
		return &Rejection{Reason: "INVALID_OPPORTUNITY", Message: fmt.Sprintf("the renewal opportunity is not valid: %v", err)}
	}
	// A delivery before this one, or another event for the same term, may
	// have opened it: then this inserts nothing.
	_, err = s.repo.InsertRenewal(ctx, o, Change{Events: evs, RequestID: r.EventID})
	return err
}

// ApplyRenewals opens the renewal opportunities of several events at once
// (an inbox batch), each as ApplyRenewal would: those whose event carries
// the account's owner in one go (one pipeline read, one round trip of
// inserts and one of their events and trail), the others one by one.
// cause gives each renewal the context of its own event.
func (s *Service) ApplyRenewals(ctx context.Context, rs []Renewal, cause func(ctx context.Context, i int) context.Context) error {
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		var batch []NewRecord
		var p *domain.Pipeline
		for i, r := range rs {
			if r.AccountOwner == "" {
				if err := s.ApplyRenewal(cause(ctx, i), r); err != nil {
					return err
				}
				continue
			}
			if p == nil {
				var err error
				if p, err = s.repo.SharePipeline(ctx, uuid.Nil); err != nil {
					return err
				}
			}
			actor := r.Actor
			if actor == "" {
				actor = auth.Anonymous
			}
			in := r.Opportunity
			in.Owner = r.AccountOwner
			id := events.RenewalOpportunityID(r.ContractID, r.Term)
			o, evs, err := domain.NewRenewal(in, r.ContractID, r.Term, p, id, actor, s.now())
			if err != nil {
				return &Rejection{Reason: "INVALID_OPPORTUNITY", Message: fmt.Sprintf("the renewal opportunity is not valid: %v", err)}
			}
			batch = append(batch, NewRecord{Opportunity: o, Change: Change{Events: evs, RequestID: r.EventID},
				Ctx: func(ctx context.Context) context.Context {
					return auth.WithPrincipal(cause(ctx, i), auth.Principal{Subject: actor})
				}})
		}
		if len(batch) == 0 {
			return nil
		}
		return s.repo.InsertRenewals(ctx, batch)
	})
}

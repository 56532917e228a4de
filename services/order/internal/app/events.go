package app

import (
	"context"
	"fmt"
	"github.com/crmsuite/crm/platform/recordmerge"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/services/order/internal/domain"
)

// Rejection is an event that cannot be applied, whatever the retries: the
// consumer dead-letters it with the reason.
type Rejection struct {
	Reason, Message string
}

func (r *Rejection) Error() string { return r.Reason + ": " + r.Message }

// WonOpportunity is what an OpportunityWon event asks of the order
// service.
type WonOpportunity struct {
	EventID string
	// Actor who won it.
	Actor   string
	Won     domain.Won
	Account uuid.UUID
	// Contract, when set, makes a draft contract instead of an order.
	Contract *ContractTerms
	// RenewalContract and RenewalTerm are set for a RENEWAL opportunity:
	// winning it renews that term of the contract.
	RenewalContract uuid.UUID
	RenewalTerm     int
}

// ContractTerms are a recurring deal's terms.
type ContractTerms struct {
	Interval   domain.BillingInterval
	TermMonths int
	AutoRenew  bool
}

// ApplyWin applies a won opportunity, in the caller's (the inbox's)
// transaction: a renewal renews its contract; any other makes exactly one
// draft order (or contract) for its account, which must exist (else the
// event is rejected). Won again, it updates that draft, or, if the record
// has moved on, only notes why not.
func (s *Service) ApplyWin(ctx context.Context, w WonOpportunity) error {
	actor := w.Actor
	if actor == "" {
		actor = auth.Anonymous
	}
	ctx = auth.WithPrincipal(ctx, auth.Principal{Subject: actor})
	if w.RenewalContract == uuid.Nil {
		_, err := s.accounts.CreditTerms(ctx, w.Account)
		if into, ok := recordmerge.MergedInto(err); ok {
			// Won for an account merged meanwhile: the order is the
			// survivor's (the merge's re-pointing may have run already).
			w.Account = into
			_, err = s.accounts.CreditTerms(ctx, w.Account)
		}
		if err != nil {
			if apperr.IsKind(err, apperr.KindNotFound) {
				return &Rejection{Reason: "ACCOUNT_NOT_FOUND", Message: fmt.Sprintf("opportunity %s was won for account %s, which the account service does not know", w.Won.OpportunityID, w.Account)}
			}
			return err
		}
	}
	if err := s.repo.RecordWin(ctx, Win{OpportunityID: w.Won.OpportunityID, AccountID: w.Account, Owner: w.Won.Owner, Won: true}); err != nil {
		return err
	}
	if w.RenewalContract != uuid.Nil {
		return s.renewFromOpportunity(ctx, w, actor)
	}
	now := s.now()
	if w.Contract != nil {
		return s.contractFromWin(ctx, w, actor)
	}
	o, err := s.repo.LockOrderOfOpportunity(ctx, w.Won.OpportunityID)
	switch {
	case err == nil:
		evs, note, err := o.Rewon(w.Won, actor, now)
		if err != nil {
			return &Rejection{Reason: "INVALID_ORDER", Message: fmt.Sprintf("the won opportunity's order is not valid: %v", err)}
		}
		if note != nil {
			return s.repo.AddOrderNotes(ctx, note)
		}
		if len(evs) == 0 {
			return nil
		}
		return s.repo.SaveOrder(ctx, o, Change{Events: evs, RequestID: w.EventID})
	case !apperr.IsKind(err, apperr.KindNotFound):
		return err
	}
	in := domain.Order{
		DisplayName: w.Won.DisplayName, AccountID: w.Account, ContactID: w.Won.ContactID, Owner: w.Won.Owner,
		Currency: w.Won.Currency, Lines: w.Won.Lines, Expected: w.Won.Expected,
		SourceOpportunity: w.Won.OpportunityID, FromWin: true,
	}
	o, evs, err := domain.NewOrder(in, uuid.Nil, actor, now)
	if err != nil {
		return &Rejection{Reason: "INVALID_ORDER", Message: fmt.Sprintf("the won opportunity does not make a valid order: %v", err)}
	}
	_, err = s.repo.InsertOrder(ctx, o, Change{Events: evs, RequestID: w.EventID})
	return err
}

func (s *Service) contractFromWin(ctx context.Context, w WonOpportunity, actor string) error {
	now := s.now()
	c, err := s.repo.LockContractOfOpportunity(ctx, w.Won.OpportunityID)
	if err == nil {
		if c.Status != domain.ContractStatusDraft {
			return nil // live contracts change by amendment, not by a re-won deal
		}
		evs, err := c.Update(domain.ContractInput{Contract: domain.Contract{DisplayName: w.Won.DisplayName, ContactID: w.Won.ContactID,
			Owner: w.Won.Owner, Currency: w.Won.Currency}, Lines: w.Won.Lines},
			[]domain.Field{domain.FieldDisplayName, domain.FieldContact, domain.FieldOwner, domain.FieldCurrency, domain.FieldLines}, actor, now)
		if err != nil {
			return &Rejection{Reason: "INVALID_CONTRACT", Message: fmt.Sprintf("the won opportunity's contract is not valid: %v", err)}
		}
		if len(evs) == 0 {
			return nil
		}
		return s.repo.SaveContract(ctx, c, ContractSave{ContractChange: domain.ContractChange{Events: evs}, RequestID: w.EventID})
	}
	if !apperr.IsKind(err, apperr.KindNotFound) {
		return err
	}
	start := w.Won.Expected
	if start.IsZero() || start.Before(domain.DateOf(now)) {
		start = domain.DateOf(now)
	}
	in := domain.ContractInput{Contract: domain.Contract{
		DisplayName: w.Won.DisplayName, AccountID: w.Account, ContactID: w.Won.ContactID, Owner: w.Won.Owner, Currency: w.Won.Currency,
		Start: start, TermMonths: w.Contract.TermMonths, Evergreen: w.Contract.TermMonths == 0, Interval: w.Contract.Interval,
		AutoRenew: w.Contract.AutoRenew, SourceOpportunity: w.Won.OpportunityID,
	}, Lines: w.Won.Lines}
	c, evs, err := domain.NewContract(in, uuid.Nil, actor, now)
	if err != nil {
		return &Rejection{Reason: "INVALID_CONTRACT", Message: fmt.Sprintf("the won opportunity does not make a valid contract: %v", err)}
	}
	_, err = s.repo.InsertContract(ctx, c, ContractSave{ContractChange: domain.ContractChange{Events: evs}, RequestID: w.EventID})
	return err
}

func (s *Service) renewFromOpportunity(ctx context.Context, w WonOpportunity, actor string) error {
	c, err := s.repo.LockContract(ctx, w.RenewalContract)
	if apperr.IsKind(err, apperr.KindNotFound) {
		return &Rejection{Reason: "CONTRACT_NOT_FOUND", Message: fmt.Sprintf("renewal opportunity %s renews contract %s, which does not exist", w.Won.OpportunityID, w.RenewalContract)}
	}
	if err != nil {
		return err
	}
	ch, ok, err := c.Renew(w.RenewalTerm, w.Won.OpportunityID, actor, s.now())
	if err != nil {
		return &Rejection{Reason: "CONTRACT_NOT_RENEWABLE", Message: err.Error()}
	}
	if !ok {
		return nil // that term was renewed already
	}
	return s.repo.SaveContract(ctx, c, ContractSave{ContractChange: ch, RequestID: w.EventID})
}

// ApplyLoss records a lost (or reopened) opportunity: it is no longer a
// won one, and a lost renewal is noted on its contract's term.
func (s *Service) ApplyLoss(ctx context.Context, eventID string, opportunity, account uuid.UUID, owner string, renewalContract uuid.UUID, renewalTerm int, lost bool) error {
	if err := s.repo.RecordWin(ctx, Win{OpportunityID: opportunity, AccountID: account, Owner: owner, Won: false}); err != nil {
		return err
	}
	if renewalContract == uuid.Nil || !lost {
		return nil
	}
	c, err := s.repo.LockContract(ctx, renewalContract)
	if apperr.IsKind(err, apperr.KindNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	evs := c.RenewalLost(renewalTerm, "service:opportunity", s.now())
	if len(evs) == 0 {
		return nil
	}
	return s.repo.SaveContract(ctx, c, ContractSave{ContractChange: domain.ContractChange{Events: evs}, RequestID: eventID})
}

// Conversion is the draft order a LeadQualified event asks for.
type Conversion struct {
	EventID string
	LeadID  uuid.UUID
	Actor   string
	// Order carries the pre-allocated id, account, contact, owner, lines.
	Order domain.Order
}

// ApplyConversion makes the draft order of a converted lead. The account
// is not checked: the account service creates it from the same event,
// maybe later. An order with the id that exists already was made by an
// earlier delivery: done.
func (s *Service) ApplyConversion(ctx context.Context, conv Conversion) error {
	actor := conv.Actor
	if actor == "" {
		actor = auth.Anonymous
	}
	ctx = auth.WithPrincipal(ctx, auth.Principal{Subject: actor})
	in := conv.Order
	in.SourceLead = conv.LeadID
	o, evs, err := domain.NewOrder(in, conv.Order.ID, actor, s.now())
	if err != nil {
		return &Rejection{Reason: "INVALID_ORDER", Message: fmt.Sprintf("the converted order is not valid: %v", err)}
	}
	_, err = s.repo.InsertOrder(ctx, o, Change{Events: evs, RequestID: conv.EventID})
	return err
}

// SetAccountOwner follows the account service's account events.
func (s *Service) SetAccountOwner(ctx context.Context, account uuid.UUID, owner string, seq uint64) error {
	return s.repo.SetAccountOwner(ctx, account, owner, seq)
}

// RecordsMerged re-points the orders and contracts of merged accounts or
// contacts at the survivor (AccountsMerged, ContactsMerged), in the
// inbox's transaction. Applying it twice changes nothing more.
func (s *Service) RecordsMerged(ctx context.Context, m recordmerge.Merge) error {
	_, err := s.repo.Repoint(ctx, m)
	return err
}

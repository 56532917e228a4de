package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/services/account/internal/domain"
)

// Conversion is what a LeadQualified event asks of this service.
type Conversion struct {
	// EventID of the LeadQualified event: the request id of the events
	// the conversion raises.
	EventID string
	LeadID  uuid.UUID
	// Actor who converted the lead.
	Actor string
	// AccountID to create (CreateAccount) or to use.
	AccountID     uuid.UUID
	CreateAccount bool
	Account       domain.Account
	// ContactID to create (CreateContact) or to link.
	ContactID     uuid.UUID
	CreateContact bool
	Contact       domain.Contact
}

// Rejection is a conversion that cannot be applied, whatever the retries:
// Reason is UPPER_SNAKE (ACCOUNT_NOT_FOUND, ...).
type Rejection struct {
	Reason, Message string
}

func (r *Rejection) Error() string { return r.Reason + ": " + r.Message }

func reject(reason, format string, args ...any) error {
	return &Rejection{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// ApplyConversion creates or finds the account and creates or links the
// contact of a converted lead, raising AccountCreated (when created) and
// exactly one ContactCreated or ContactLinked. It runs in the caller's
// transaction (the inbox's). An account that exists already when asked to
// create it was created by an earlier delivery of the same conversion.
func (s *Service) ApplyConversion(ctx context.Context, conv Conversion) error {
	actor := conv.Actor
	if actor == "" {
		actor = auth.Anonymous
	}
	ctx = auth.WithPrincipal(ctx, auth.Principal{Subject: actor})
	now := s.now()
	ch := func(ev domain.Event) Change { return Change{Events: []domain.Event{ev}, RequestID: conv.EventID} }
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		if conv.CreateAccount {
			in := conv.Account
			in.SourceLead = conv.LeadID
			if in.Relationship == "" {
				// A qualified lead has not bought yet.
				in.Relationship = domain.RelationshipProspect
			}
			a, evs, err := domain.NewAccount(in, conv.AccountID, actor, now)
			if err != nil {
				return reject("INVALID_ACCOUNT", "the converted account is not valid: %v", err)
			}
			if _, err := s.repo.InsertAccount(ctx, a, Change{Events: evs, RequestID: conv.EventID}); err != nil {
				return err
			}
		}
		a, err := s.repo.LockAccount(ctx, conv.AccountID)
		if apperr.IsKind(err, apperr.KindNotFound) {
			return reject("ACCOUNT_NOT_FOUND", "account %s does not exist", conv.AccountID)
		}
		if err != nil {
			return err
		}
		if a.State == domain.StateMerged {
			return reject("ACCOUNT_MERGED", "account %s was merged into %s: convert into that account", a.ID, a.MergedInto)
		}
		region := a.PhoneRegion(s.phoneRegion)
		existing, err := s.repo.LockContact(ctx, conv.ContactID)
		if apperr.IsKind(err, apperr.KindNotFound) {
			existing, err = nil, nil
		}
		if err != nil {
			return err
		}
		cur, err := s.repo.PrimaryContact(ctx, a.ID)
		if err != nil {
			return err
		}
		if conv.CreateContact && existing == nil {
			in := conv.Contact
			in.AccountID, in.SourceLead = a.ID, conv.LeadID
			c, err := domain.NewContact(in, conv.ContactID, actor, now)
			if err != nil {
				return reject("INVALID_CONTACT", "the converted contact is not valid: %v", err)
			}
			c.Primary = cur == nil
			return s.repo.InsertContact(ctx, c, region, ch(domain.ContactCreated{SourceLead: conv.LeadID}))
		}
		switch {
		case existing == nil:
			return reject("CONTACT_NOT_FOUND", "contact %s does not exist", conv.ContactID)
		case existing.MergedInto != uuid.Nil && existing.SourceLead != conv.LeadID:
			return reject("CONTACT_MERGED", "contact %s was merged into %s: convert into that contact", existing.ID, existing.MergedInto)
		case existing.AccountID != uuid.Nil && existing.AccountID != a.ID:
			return reject("CONTACT_OF_ANOTHER_ACCOUNT", "contact %s belongs to account %s, not %s", existing.ID, existing.AccountID, a.ID)
		case conv.CreateContact && existing.SourceLead == conv.LeadID:
			// Created by an earlier delivery, whose events went out then.
			return nil
		}
		existing.AccountID, existing.SourceLead = a.ID, conv.LeadID
		if cur == nil {
			existing.Primary = true
		}
		existing.Touch(actor, now)
		return s.repo.SaveContact(ctx, existing, region, ch(domain.ContactLinked{SourceLead: conv.LeadID}))
	})
}

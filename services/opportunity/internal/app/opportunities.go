package app

import (
	"context"
	"slices"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
)

// NewOpportunity is what CreateOpportunity is asked for.
type NewOpportunity struct {
	Opportunity domain.Opportunity
	Settings    domain.Settings
	// PipelineID is uuid.Nil for the default pipeline.
	PipelineID uuid.UUID
}

// CreateOpportunity opens an opportunity for an existing account. The
// account (and the contact's membership of it) is checked with the
// account service before anything is written.
//
// A salesperson opens opportunities it owns only.
func (s *Service) CreateOpportunity(ctx context.Context, in NewOpportunity, requestID string) (*domain.Opportunity, error) {
	actor, now := auth.Actor(ctx), s.now()
	if in.Opportunity.Owner != "" {
		if err := authz.ScopeOf(ctx).CheckOwner(in.Opportunity.Owner); err != nil {
			return nil, err
		}
	}
	// The rules first: a bad request costs no call.
	probe := &domain.Pipeline{Stages: []domain.Stage{{ID: "probe", Kind: domain.KindOpen}}}
	if _, _, err := domain.NewOpportunity(in.Opportunity, in.Settings, probe, "", uuid.Nil, actor, now); err != nil {
		return nil, err
	}
	if err := s.checkCustomer(ctx, in.Opportunity.AccountID, in.Opportunity.ContactID); err != nil {
		return nil, err
	}
	if err := s.checkCommittee(ctx, nil, in.Opportunity.BuyingCommittee); err != nil {
		return nil, err
	}
	var out *domain.Opportunity
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		p, err := s.repo.SharePipeline(ctx, in.PipelineID)
		if apperr.IsKind(err, apperr.KindNotFound) {
			e := apperr.FailedPrecondition("PIPELINE_NOT_FOUND", "pipeline %s does not exist", in.PipelineID)
			return e
		}
		if err != nil {
			return err
		}
		o, evs, err := domain.NewOpportunity(in.Opportunity, in.Settings, p, "", uuid.Nil, actor, now)
		if err != nil {
			return err
		}
		out = o
		_, err = s.repo.InsertOpportunity(ctx, o, Change{Events: evs, RequestID: requestID})
		return err
	})
	return out, err
}

// checkCustomer asks the account service whether the account exists and
// the contact (if any) belongs to it.
func (s *Service) checkCustomer(ctx context.Context, accountID, contactID uuid.UUID) error {
	if err := s.accounts.AccountExists(ctx, accountID); err != nil {
		if apperr.IsKind(err, apperr.KindNotFound) {
			return precondition("ACCOUNT_NOT_FOUND", "accounts/"+accountID.String(), "account %s does not exist", accountID)
		}
		return err
	}
	if contactID == uuid.Nil {
		return nil
	}
	of, err := s.accounts.ContactAccount(ctx, contactID)
	if apperr.IsKind(err, apperr.KindNotFound) {
		return precondition("CONTACT_NOT_FOUND", "contacts/"+contactID.String(), "contact %s does not exist", contactID)
	}
	if err != nil {
		return err
	}
	if of != accountID {
		return precondition("CONTACT_OF_ANOTHER_ACCOUNT", "contacts/"+contactID.String(),
			"contact %s is not a contact of account %s", contactID, accountID)
	}
	return nil
}

// checkCommittee asks the account service about what a buying committee
// names anew (against prev): its contacts exist, its roles are offered
// contact roles. Members and roles kept from prev are not asked about
// again, so a contact deleted or a role retired since does not block
// other changes.
func (s *Service) checkCommittee(ctx context.Context, prev, next []domain.CommitteeMember) error {
	newContacts, newRoles := domain.NewCommitteeEntries(prev, next)
	if len(newRoles) > 0 {
		offered, err := s.accounts.ContactRoles(ctx)
		if err != nil {
			return err
		}
		if err := domain.CheckCommitteeRoles(next, newRoles, offered); err != nil {
			return err
		}
	}
	for _, i := range newContacts {
		id := next[i].ContactID
		if _, err := s.accounts.ContactAccount(ctx, id); err != nil {
			if apperr.IsKind(err, apperr.KindNotFound) {
				e := precondition("CONTACT_NOT_FOUND", "contacts/"+id.String(), "buying committee member %d: contact %s does not exist", i, id)
				return e
			}
			return err
		}
	}
	return nil
}

func precondition(reason, subject, format string, args ...any) error {
	e := apperr.FailedPrecondition(reason, format, args...)
	e.Preconditions = []apperr.PreconditionViolation{{Type: reason, Subject: subject, Description: e.Message}}
	return e
}

// GetOpportunity returns an opportunity the caller may read: a salesperson
// reads those it owns, ops won ones.
func (s *Service) GetOpportunity(ctx context.Context, id uuid.UUID) (*domain.Opportunity, error) {
	scope := authz.ScopeOf(ctx)
	o, err := s.repo.GetOpportunity(ctx, id)
	if err != nil {
		return nil, scope.Hide(err)
	}
	if !readable(scope, o) {
		return nil, authz.Denied()
	}
	return o, nil
}

func readable(scope authz.Scope, o *domain.Opportunity) bool {
	return scope.Owns(o.Owner) || scope.Has(authz.Ops) && o.State == domain.StateWon
}

// ListAuditEntries lists the audit trail of opportunity id, or of every
// opportunity when q.All(); the caller's access is audit.Authorize's,
// through GetOpportunity.
func (s *Service) ListAuditEntries(ctx context.Context, id uuid.UUID, q audit.Query) ([]audit.Entry, string, error) {
	err := audit.Authorize(ctx, q, func(ctx context.Context) error {
		_, err := s.GetOpportunity(ctx, id)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return s.repo.ListAudit(ctx, q)
}

// ListOpportunities lists the opportunities the caller may read.
func (s *Service) ListOpportunities(ctx context.Context, q ListQuery) ([]*domain.Opportunity, string, error) {
	if scope := authz.ScopeOf(ctx); !scope.All {
		q.Visible = &Visibility{Owner: scope.Owner, Won: scope.Has(authz.Ops)}
	}
	return s.repo.ListOpportunities(ctx, q)
}

// UpdateOpportunity sets the fields in mask of an open opportunity; a new
// account or contact is checked with the account service first.
func (s *Service) UpdateOpportunity(ctx context.Context, id uuid.UUID, patch domain.Opportunity, mask []domain.Field, ifMatch string) (*domain.Opportunity, error) {
	if slices.Contains(mask, domain.FieldAccount) || slices.Contains(mask, domain.FieldPrimaryContact) {
		cur, err := s.GetOpportunity(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := etag.Check(ifMatch, cur.Version); err != nil {
			return nil, err
		}
		account, contact := cur.AccountID, cur.ContactID
		if slices.Contains(mask, domain.FieldAccount) {
			account = patch.AccountID
		}
		if slices.Contains(mask, domain.FieldPrimaryContact) {
			contact = patch.ContactID
		}
		if (account != cur.AccountID || contact != cur.ContactID) && account != uuid.Nil {
			if err := s.checkCustomer(ctx, account, contact); err != nil {
				return nil, err
			}
		}
	}
	if slices.Contains(mask, domain.FieldBuyingCommittee) {
		cur, err := s.GetOpportunity(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := etag.Check(ifMatch, cur.Version); err != nil {
			return nil, err
		}
		if err := s.checkCommittee(ctx, cur.BuyingCommittee, patch.BuyingCommittee); err != nil {
			return nil, err
		}
	}
	return s.mutate(ctx, id, ifMatch, "", func(ctx context.Context, o *domain.Opportunity, p *domain.Pipeline) ([]domain.Event, error) {
		// Handing an opportunity to someone else is a manager's call.
		if slices.Contains(mask, domain.FieldOwner) && patch.Owner != "" && patch.Owner != o.Owner {
			if err := authz.ScopeOf(ctx).CheckOwner(patch.Owner); err != nil {
				return nil, err
			}
		}
		return o.Update(patch, mask, p, auth.Actor(ctx), s.now())
	})
}

// DeleteOpportunity deletes an opportunity; its stage history stays.
func (s *Service) DeleteOpportunity(ctx context.Context, id uuid.UUID, ifMatch string) error {
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		o, err := s.repo.LockOpportunity(ctx, id)
		if err != nil {
			return err
		}
		if err := etag.Check(ifMatch, o.Version); err != nil {
			return err
		}
		o.UpdatedAt, o.UpdatedBy = s.now(), auth.Actor(ctx)
		return s.repo.DeleteOpportunity(ctx, o, Change{Events: []domain.Event{domain.OpportunityDeleted{}}})
	})
}

// MoveOpportunity moves an open opportunity to a stage, once its process
// (if one gates the pipeline) lets it.
func (s *Service) MoveOpportunity(ctx context.Context, id uuid.UUID, stage, ifMatch, requestID string, ov Override) (*domain.Opportunity, error) {
	pass, err := s.checkProcess(ctx, id, stage, ov, requestID)
	if err != nil {
		return nil, err
	}
	return s.mutate(ctx, id, ifMatch, requestID, func(ctx context.Context, o *domain.Opportunity, p *domain.Pipeline) ([]domain.Event, error) {
		evs, err := o.Move(p, stage, auth.Actor(ctx), s.now())
		return audited(ctx, pass, evs, err)
	})
}

// WinOpportunity wins an open opportunity (into its pipeline's WON
// stage), once its process lets it. reason is optional; given, it must be
// an offered win reason.
func (s *Service) WinOpportunity(ctx context.Context, id uuid.UUID, reason, note, ifMatch, requestID string, ov Override) (*domain.Opportunity, error) {
	var r domain.WinReason
	if reason != "" {
		var err error
		if r, err = s.offeredReason(ctx, s.repo.WinReasons, reason, "UNKNOWN_WIN_REASON", "win reason", "ListWinReasons"); err != nil {
			return nil, err
		}
	}
	pass, err := s.checkProcess(ctx, id, "", ov, requestID)
	if err != nil {
		return nil, err
	}
	return s.mutate(ctx, id, ifMatch, requestID, func(ctx context.Context, o *domain.Opportunity, p *domain.Pipeline) ([]domain.Event, error) {
		evs, err := o.Win(p, r, note, auth.Actor(ctx), s.now())
		return audited(ctx, pass, evs, err)
	})
}

// LoseOpportunity closes an opportunity as lost for an offered reason.
func (s *Service) LoseOpportunity(ctx context.Context, id uuid.UUID, reason, competitor, note, stage, ifMatch, requestID string) (*domain.Opportunity, error) {
	if reason == "" {
		return nil, apperr.InvalidField("reason", "REASON_REQUIRED", "say why it was lost: a loss reason id from ListLossReasons")
	}
	r, err := s.offeredReason(ctx, s.repo.LossReasons, reason, "UNKNOWN_LOSS_REASON", "loss reason", "ListLossReasons")
	if err != nil {
		return nil, err
	}
	return s.mutate(ctx, id, ifMatch, requestID, func(ctx context.Context, o *domain.Opportunity, p *domain.Pipeline) ([]domain.Event, error) {
		return o.Lose(p, r, competitor, note, stage, auth.Actor(ctx), s.now())
	})
}

func (s *Service) DisqualifyOpportunity(ctx context.Context, id uuid.UUID, note, ifMatch, requestID string) (*domain.Opportunity, error) {
	return s.mutate(ctx, id, ifMatch, requestID, func(ctx context.Context, o *domain.Opportunity, p *domain.Pipeline) ([]domain.Event, error) {
		return o.Disqualify(p, note, auth.Actor(ctx), s.now())
	})
}

func (s *Service) ReopenOpportunity(ctx context.Context, id uuid.UUID, stage, ifMatch, requestID string) (*domain.Opportunity, error) {
	return s.mutate(ctx, id, ifMatch, requestID, func(ctx context.Context, o *domain.Opportunity, p *domain.Pipeline) ([]domain.Event, error) {
		return o.Reopen(p, stage, auth.Actor(ctx), s.now())
	})
}

// mutate shares the opportunity's pipeline, locks the opportunity, checks
// that the caller may change it (a salesperson changes those it owns;
// others' are PermissionDenied and stay as they are) and the etag, and
// saves what fn changed; a no-op writes nothing. The pipeline
// comes first, as in UpdatePipeline (which locks it, then the
// opportunities it moves), so the two never wait on each other in a
// circle.
func (s *Service) mutate(ctx context.Context, id uuid.UUID, ifMatch, requestID string, fn func(ctx context.Context, o *domain.Opportunity, p *domain.Pipeline) ([]domain.Event, error)) (*domain.Opportunity, error) {
	var out *domain.Opportunity
	scope := authz.ScopeOf(ctx)
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		p, err := s.repo.SharePipelineOf(ctx, id)
		if err != nil {
			return err
		}
		o, err := s.repo.LockOpportunity(ctx, id)
		if err != nil {
			return err
		}
		if err := scope.CheckOwner(o.Owner); err != nil {
			return err
		}
		if err := etag.Check(ifMatch, o.Version); err != nil {
			return err
		}
		evs, err := fn(ctx, o, p)
		if err != nil {
			return err
		}
		out = o
		if len(evs) == 0 {
			return nil
		}
		return s.repo.SaveOpportunity(ctx, o, Change{Events: evs, RequestID: requestID})
	})
	return out, scope.Hide(err)
}

func (s *Service) ListStageChanges(ctx context.Context, id uuid.UUID, pageSize int, pageToken string) ([]domain.StageChange, string, error) {
	if _, err := s.GetOpportunity(ctx, id); err != nil {
		return nil, "", err
	}
	return s.repo.ListStageChanges(ctx, id, pageSize, pageToken)
}

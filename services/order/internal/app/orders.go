package app

import (
	"context"
	"math/big"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/processgate"
	"github.com/crmsuite/crm/services/order/internal/domain"
)

// CreateOrder makes a draft order by hand. A salesperson makes orders
// only from its own won opportunities (sourceOpportunity); the account
// (and the contact's membership of it) is checked with the account
// service before anything is written.
func (s *Service) CreateOrder(ctx context.Context, in domain.Order, sourceOpportunity uuid.UUID, requestID string) (*domain.Order, error) {
	actor, now := auth.Actor(ctx), s.now()
	scope := authz.ScopeOf(ctx)
	if sourceOpportunity != uuid.Nil || !readsAll(scope) {
		w, ok, err := s.repo.GetWin(ctx, sourceOpportunity)
		if err != nil {
			return nil, err
		}
		switch {
		case sourceOpportunity == uuid.Nil:
			return nil, apperr.InvalidField("source_opportunity", "SOURCE_OPPORTUNITY_REQUIRED",
				"salespeople make orders from their own won opportunities: name one")
		case !ok || !w.Won:
			return nil, precondition("OPPORTUNITY_NOT_WON", "opportunities/"+sourceOpportunity.String(),
				"opportunity %s is not won (or not known here yet)", sourceOpportunity)
		case !readsAll(scope) && !scope.Owns(w.Owner):
			return nil, authz.Denied()
		case in.AccountID == uuid.Nil:
			in.AccountID = w.AccountID
		case in.AccountID != w.AccountID:
			return nil, apperr.InvalidField("order.account", "ACCOUNT_MISMATCH", "opportunity %s is for account %s", sourceOpportunity, w.AccountID)
		}
		in.SourceOpportunity = sourceOpportunity
		if !readsAll(scope) {
			in.Owner = actor
		}
	}
	// The rules first: a bad request costs no call.
	if _, _, err := domain.NewOrder(in, uuid.Nil, actor, now); err != nil {
		return nil, err
	}
	if err := s.checkCustomer(ctx, in.AccountID, in.ContactID); err != nil {
		return nil, err
	}
	o, evs, err := domain.NewOrder(in, uuid.Nil, actor, now)
	if err != nil {
		return nil, err
	}
	_, err = s.repo.InsertOrder(ctx, o, Change{Events: evs, RequestID: requestID})
	return o, err
}

// checkCustomer asks the account service whether the account exists and
// the contact (if any) belongs to it.
func (s *Service) checkCustomer(ctx context.Context, account, contact uuid.UUID) error {
	if _, err := s.creditTerms(ctx, account); err != nil {
		return err
	}
	if contact == uuid.Nil {
		return nil
	}
	of, err := s.accounts.ContactAccount(ctx, contact)
	if apperr.IsKind(err, apperr.KindNotFound) {
		return precondition("CONTACT_NOT_FOUND", "contacts/"+contact.String(), "contact %s does not exist", contact)
	}
	if err != nil {
		return err
	}
	if of != account {
		return precondition("CONTACT_OF_ANOTHER_ACCOUNT", "contacts/"+contact.String(), "contact %s is not a contact of account %s", contact, account)
	}
	return nil
}

func (s *Service) creditTerms(ctx context.Context, account uuid.UUID) (domain.CreditTerms, error) {
	t, err := s.accounts.CreditTerms(ctx, account)
	if apperr.IsKind(err, apperr.KindNotFound) {
		return t, precondition("ACCOUNT_NOT_FOUND", "accounts/"+account.String(), "account %s does not exist", account)
	}
	return t, err
}

func precondition(reason, subject, format string, args ...any) error {
	e := apperr.FailedPrecondition(reason, format, args...)
	e.Preconditions = []apperr.PreconditionViolation{{Type: reason, Subject: subject, Description: e.Message}}
	return e
}

// GetOrder returns an order the caller may read.
func (s *Service) GetOrder(ctx context.Context, id uuid.UUID) (*domain.Order, error) {
	scope := authz.ScopeOf(ctx)
	o, err := s.repo.GetOrder(ctx, id)
	if err != nil {
		return nil, hide(scope, err)
	}
	ok, err := s.mayRead(ctx, o.AccountID, o.Owner)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, authz.Denied()
	}
	return o, nil
}

// ListOrders lists the orders the caller may read.
func (s *Service) ListOrders(ctx context.Context, q ListQuery) ([]*domain.Order, string, error) {
	q, err := visible(ctx, q)
	if err != nil {
		return nil, "", err
	}
	return s.repo.ListOrders(ctx, q)
}

// ListStatusChanges lists an order's history.
func (s *Service) ListStatusChanges(ctx context.Context, id uuid.UUID, pageSize int, pageToken string) ([]domain.StatusChange, string, error) {
	if _, err := s.GetOrder(ctx, id); err != nil {
		return nil, "", err
	}
	return s.repo.ListStatusChanges(ctx, id, pageSize, pageToken)
}

// ListAuditEntries lists the audit trail of order or contract id (or of
// all of them when q.All()); access is audit.Authorize's, through the
// record's Get.
func (s *Service) ListAuditEntries(ctx context.Context, collection string, id uuid.UUID, q audit.Query) ([]audit.Entry, string, error) {
	err := audit.Authorize(ctx, q, func(ctx context.Context) error {
		if collection == "contracts" {
			_, err := s.GetContract(ctx, id)
			return err
		}
		_, err := s.GetOrder(ctx, id)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return s.repo.ListAudit(ctx, q)
}

// UpdateOrder changes a draft order; a new contact is checked with the
// account service first.
func (s *Service) UpdateOrder(ctx context.Context, id uuid.UUID, patch domain.Order, mask []domain.Field, ifMatch string) (*domain.Order, error) {
	cur, err := s.repo.GetOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := etag.Check(ifMatch, cur.Version); err != nil {
		return nil, err
	}
	for _, f := range mask {
		if f == domain.FieldContact && patch.ContactID != uuid.Nil && patch.ContactID != cur.ContactID {
			if err := s.checkCustomer(ctx, cur.AccountID, patch.ContactID); err != nil {
				return nil, err
			}
		}
	}
	return s.mutate(ctx, id, ifMatch, "", func(_ context.Context, o *domain.Order) (Change, error) {
		evs, err := o.Update(patch, mask, auth.Actor(ctx), s.now())
		return Change{Events: evs}, err
	})
}

// mutate locks the order, checks the etag and saves what fn changed; a
// change without events writes nothing.
func (s *Service) mutate(ctx context.Context, id uuid.UUID, ifMatch, requestID string, fn func(ctx context.Context, o *domain.Order) (Change, error)) (*domain.Order, error) {
	var out *domain.Order
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		o, err := s.repo.LockOrder(ctx, id)
		if err != nil {
			return err
		}
		if err := etag.Check(ifMatch, o.Version); err != nil {
			return err
		}
		before := cloneOrder(o)
		ch, err := fn(ctx, o)
		if err != nil {
			return err
		}
		out = o
		if len(ch.Events) == 0 {
			return nil
		}
		ch.RequestID, ch.Before = requestID, before
		return s.repo.SaveOrder(ctx, o, ch)
	})
	return out, err
}

// transition runs a status method that may release exposure.
func (s *Service) transition(ctx context.Context, id uuid.UUID, ifMatch, requestID string, fn func(o *domain.Order) (domain.Transition, error)) (*domain.Order, error) {
	return s.gatedTransition(ctx, id, ifMatch, requestID, nil, fn)
}

// gatedTransition is transition after its process let it through: the
// pass is audited with the change.
func (s *Service) gatedTransition(ctx context.Context, id uuid.UUID, ifMatch, requestID string, gate *processgate.Passed, fn func(o *domain.Order) (domain.Transition, error)) (*domain.Order, error) {
	return s.mutate(ctx, id, ifMatch, requestID, func(ctx context.Context, o *domain.Order) (Change, error) {
		t, err := fn(o)
		if err != nil {
			return Change{}, err
		}
		if len(t.Events) > 0 {
			if err := gate.Audit(ctx); err != nil {
				return Change{}, err
			}
		}
		if d := t.Exposure.Delta; d != nil && d.Sign() != 0 {
			if _, err := s.repo.LockExposure(ctx, o.AccountID, o.Currency); err != nil {
				return Change{}, err
			}
			if err := s.repo.AddExposure(ctx, o.AccountID, o.Currency, o.ID, d, "ORDER_"+string(o.Status)); err != nil {
				return Change{}, err
			}
		}
		return change(t), nil
	})
}

func change(t domain.Transition) Change {
	ch := Change{Events: t.Events}
	if t.History != nil {
		ch.History = []*domain.StatusChange{t.History}
	}
	return ch
}

// raise runs a step that raises the account's exposure (confirm, resume,
// reopen, lines added to a confirmed order): it asks the account service
// for the credit terms first (UNAVAILABLE, and nothing changed, when it
// does not answer), then, locking the order and the account's exposure
// so that racing steps on one account take turns, checks the step
// against the limit and saves it with its ledger entry. step decides on
// the locked order what it asks for; done records the passed check.
func (s *Service) raise(ctx context.Context, id uuid.UUID, ifMatch, requestID, override string, gate *processgate.Passed,
	step func(o *domain.Order) (domain.ExposureStep, []domain.Event, error),
	done func(o *domain.Order, c domain.CreditCheck, terms domain.CreditTerms) Change) (*domain.Order, error) {
	scope := authz.ScopeOf(ctx)
	cur, err := s.repo.GetOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	// A step the order refuses is refused without asking anyone.
	if err := etag.Check(ifMatch, cur.Version); err != nil {
		return nil, err
	}
	pre, _, err := step(cloneOrder(cur))
	if err != nil {
		return nil, err
	}
	// Lines added to a draft raise nothing: no account service needed.
	var terms domain.CreditTerms
	if pre.Check {
		if terms, err = s.creditTerms(ctx, cur.AccountID); err != nil {
			return nil, err
		}
	}
	actor := auth.Actor(ctx)
	return s.mutate(ctx, id, ifMatch, requestID, func(ctx context.Context, o *domain.Order) (Change, error) {
		st, evs, err := step(o)
		if err != nil {
			return Change{}, err
		}
		if !st.Check {
			return Change{Events: evs}, nil
		}
		if !pre.Check {
			return Change{}, apperr.Aborted("ORDER_CHANGED", "order %s changed meanwhile; read it and retry", o.ID)
		}
		exposure, err := s.repo.LockExposure(ctx, o.AccountID, o.Currency)
		if err != nil {
			return Change{}, err
		}
		delta := st.Delta
		if delta == nil {
			delta = new(big.Rat)
		}
		check, err := domain.CheckCredit(domain.CreditRequest{
			AccountID: o.AccountID, OrderID: o.ID, Currency: o.Currency, Exposure: exposure, Amount: delta, Terms: terms,
			OverrideReason: override, CanOverride: canOverride(scope), Actor: actor, Now: s.now(),
		})
		if err != nil {
			return Change{}, err
		}
		if delta.Sign() != 0 {
			if err := s.repo.AddExposure(ctx, o.AccountID, o.Currency, o.ID, delta, "ORDER_"+string(o.Status)); err != nil {
				return Change{}, err
			}
		}
		if err := gate.Audit(ctx); err != nil {
			return Change{}, err
		}
		ch := done(o, check, terms)
		ch.Events = append(evs, ch.Events...)
		return ch, nil
	})
}

func cloneOrder(o *domain.Order) *domain.Order {
	c := *o
	c.Lines = append([]domain.Line(nil), o.Lines...)
	return &c
}

func noEvents(step func(o *domain.Order) (domain.ExposureStep, error)) func(o *domain.Order) (domain.ExposureStep, []domain.Event, error) {
	return func(o *domain.Order) (domain.ExposureStep, []domain.Event, error) {
		st, err := step(o)
		return st, nil, err
	}
}

// ConfirmOrder confirms a draft after a credit check.
func (s *Service) ConfirmOrder(ctx context.Context, id uuid.UUID, ifMatch, requestID, override string, ov Override) (*domain.Order, error) {
	gate, err := s.gateFor(ctx, id, func(*domain.Order) (domain.Status, error) { return domain.StatusConfirmed, nil }, ov, requestID)
	if err != nil {
		return nil, err
	}
	return s.raise(ctx, id, ifMatch, requestID, override, gate, noEvents((*domain.Order).Confirm),
		func(o *domain.Order, c domain.CreditCheck, t domain.CreditTerms) Change {
			return change(o.Confirmed(c, t.PaymentTerms, auth.Actor(ctx), s.now()))
		})
}

// ResumeOrder resumes a held order after a credit check.
func (s *Service) ResumeOrder(ctx context.Context, id uuid.UUID, ifMatch, requestID, override string) (*domain.Order, error) {
	return s.raise(ctx, id, ifMatch, requestID, override, nil, noEvents((*domain.Order).Resume),
		func(o *domain.Order, c domain.CreditCheck, _ domain.CreditTerms) Change {
			return change(o.Resumed(c, auth.Actor(ctx), s.now()))
		})
}

// ReopenOrder reopens a closed order after a credit check.
func (s *Service) ReopenOrder(ctx context.Context, id uuid.UUID, ifMatch, requestID, override string) (*domain.Order, error) {
	return s.raise(ctx, id, ifMatch, requestID, override, nil, noEvents((*domain.Order).Reopen),
		func(o *domain.Order, c domain.CreditCheck, _ domain.CreditTerms) Change {
			return change(o.Reopened(c, auth.Actor(ctx), s.now()))
		})
}

// AddOrderLines adds lines; on a confirmed order after a credit check of
// the added value.
func (s *Service) AddOrderLines(ctx context.Context, id uuid.UUID, lines []domain.Line, ifMatch, requestID, override string) (*domain.Order, error) {
	actor := auth.Actor(ctx)
	return s.raise(ctx, id, ifMatch, requestID, override, nil,
		func(o *domain.Order) (domain.ExposureStep, []domain.Event, error) {
			return o.AddLines(lines, actor, s.now())
		},
		func(o *domain.Order, c domain.CreditCheck, _ domain.CreditTerms) Change {
			if o.Status == domain.StatusConfirmed {
				o.LinesAdded(c)
			}
			return Change{}
		})
}

// HoldOrder holds a confirmed order.
func (s *Service) HoldOrder(ctx context.Context, id uuid.UUID, reason, ifMatch, requestID string) (*domain.Order, error) {
	return s.transition(ctx, id, ifMatch, requestID, func(o *domain.Order) (domain.Transition, error) {
		return o.Hold(reason, auth.Actor(ctx), s.now())
	})
}

// FulfillOrder records deliveries.
// FulfillOrder records deliveries; the one that completes the order is
// gated by the order's process.
func (s *Service) FulfillOrder(ctx context.Context, id uuid.UUID, ds []domain.Delivery, ifMatch, requestID string, ov Override) (*domain.Order, error) {
	gate, err := s.gateFor(ctx, id, func(cur *domain.Order) (domain.Status, error) {
		o := cloneOrder(cur)
		if _, err := o.Fulfill(ds, auth.Actor(ctx), s.now()); err != nil || o.Status != domain.StatusFulfilled {
			return "", err
		}
		return domain.StatusFulfilled, nil
	}, ov, requestID)
	if err != nil {
		return nil, err
	}
	return s.gatedTransition(ctx, id, ifMatch, requestID, gate, func(o *domain.Order) (domain.Transition, error) {
		return o.Fulfill(ds, auth.Actor(ctx), s.now())
	})
}

// CloseOrder closes an order.
func (s *Service) CloseOrder(ctx context.Context, id uuid.UUID, ifMatch, requestID string) (*domain.Order, error) {
	return s.transition(ctx, id, ifMatch, requestID, func(o *domain.Order) (domain.Transition, error) {
		return o.Close(auth.Actor(ctx), s.now())
	})
}

// CancelOrder cancels an order with a reason.
func (s *Service) CancelOrder(ctx context.Context, id uuid.UUID, reason, ifMatch, requestID string) (*domain.Order, error) {
	return s.transition(ctx, id, ifMatch, requestID, func(o *domain.Order) (domain.Transition, error) {
		return o.Cancel(reason, auth.Actor(ctx), s.now())
	})
}

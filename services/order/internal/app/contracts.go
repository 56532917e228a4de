package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/services/order/internal/domain"
)

// CreateContract makes a draft contract for an existing account.
func (s *Service) CreateContract(ctx context.Context, in domain.ContractInput, requestID string) (*domain.Contract, error) {
	actor, now := auth.Actor(ctx), s.now()
	if _, _, err := domain.NewContract(in, uuid.Nil, actor, now); err != nil {
		return nil, err
	}
	if err := s.checkCustomer(ctx, in.AccountID, in.ContactID); err != nil {
		return nil, err
	}
	c, evs, err := domain.NewContract(in, uuid.Nil, actor, now)
	if err != nil {
		return nil, err
	}
	_, err = s.repo.InsertContract(ctx, c, ContractSave{ContractChange: domain.ContractChange{Events: evs}, RequestID: requestID})
	return c, err
}

// GetContract returns a contract the caller may read.
func (s *Service) GetContract(ctx context.Context, id uuid.UUID) (*domain.Contract, error) {
	scope := authz.ScopeOf(ctx)
	c, err := s.repo.GetContract(ctx, id)
	if err != nil {
		return nil, hide(scope, err)
	}
	ok, err := s.mayRead(ctx, c.AccountID, c.Owner)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, authz.Denied()
	}
	return c, nil
}

// ListContracts lists the contracts the caller may read.
func (s *Service) ListContracts(ctx context.Context, q ListQuery) ([]*domain.Contract, string, error) {
	q, err := visible(ctx, q)
	if err != nil {
		return nil, "", err
	}
	return s.repo.ListContracts(ctx, q)
}

// UpdateContract changes a draft contract.
func (s *Service) UpdateContract(ctx context.Context, id uuid.UUID, patch domain.ContractInput, mask []domain.Field, ifMatch string) (*domain.Contract, error) {
	cur, err := s.repo.GetContract(ctx, id)
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
	return s.mutateContract(ctx, id, ifMatch, "", func(c *domain.Contract) (domain.ContractChange, error) {
		evs, err := c.Update(patch, mask, auth.Actor(ctx), s.now())
		return domain.ContractChange{Events: evs}, err
	})
}

// mutateContract locks the contract, checks the etag and saves what fn
// changed; a change without events writes nothing.
func (s *Service) mutateContract(ctx context.Context, id uuid.UUID, ifMatch, requestID string, fn func(c *domain.Contract) (domain.ContractChange, error)) (*domain.Contract, error) {
	var out *domain.Contract
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		c, err := s.repo.LockContract(ctx, id)
		if err != nil {
			return err
		}
		if err := etag.Check(ifMatch, c.Version); err != nil {
			return err
		}
		before := cloneContract(c)
		ch, err := fn(c)
		if err != nil {
			return err
		}
		out = c
		if len(ch.Events) == 0 {
			return nil
		}
		return s.repo.SaveContract(ctx, c, ContractSave{ContractChange: ch, RequestID: requestID, Before: before})
	})
	return out, err
}

func (s *Service) ActivateContract(ctx context.Context, id uuid.UUID, ifMatch, requestID string) (*domain.Contract, error) {
	return s.mutateContract(ctx, id, ifMatch, requestID, func(c *domain.Contract) (domain.ContractChange, error) {
		return c.Activate(auth.Actor(ctx), s.now())
	})
}

func (s *Service) AmendContract(ctx context.Context, id uuid.UUID, lines []domain.Line, effective domain.Date, ifMatch, requestID string) (*domain.Contract, error) {
	return s.mutateContract(ctx, id, ifMatch, requestID, func(c *domain.Contract) (domain.ContractChange, error) {
		return c.Amend(lines, effective, s.today(), auth.Actor(ctx), s.now())
	})
}

func (s *Service) GiveContractNotice(ctx context.Context, id uuid.UUID, date domain.Date, ifMatch, requestID string) (*domain.Contract, error) {
	return s.mutateContract(ctx, id, ifMatch, requestID, func(c *domain.Contract) (domain.ContractChange, error) {
		return c.GiveNotice(date, s.today(), auth.Actor(ctx), s.now())
	})
}

func (s *Service) RenewContract(ctx context.Context, id uuid.UUID, ifMatch, requestID string) (*domain.Contract, error) {
	return s.mutateContract(ctx, id, ifMatch, requestID, func(c *domain.Contract) (domain.ContractChange, error) {
		ch, _, err := c.Renew(0, uuid.Nil, auth.Actor(ctx), s.now())
		return ch, err
	})
}

func (s *Service) CancelContract(ctx context.Context, id uuid.UUID, reason string, effective domain.Date, ifMatch, requestID string) (*domain.Contract, error) {
	return s.mutateContract(ctx, id, ifMatch, requestID, func(c *domain.Contract) (domain.ContractChange, error) {
		return c.Cancel(reason, effective, s.today(), auth.Actor(ctx), s.now())
	})
}

// BillingPeriods is a contract's schedule, through until for an evergreen
// one (default two years from today), each period with its term.
func (s *Service) BillingPeriods(ctx context.Context, id uuid.UUID, until domain.Date) (*domain.Contract, []domain.Period, error) {
	c, err := s.GetContract(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if until.IsZero() {
		t := s.now().AddDate(2, 0, 0)
		until = domain.DateOf(t)
	}
	ps, err := domain.Schedule(c.ScheduleInput(until))
	if err != nil {
		return nil, nil, err
	}
	return c, ps, nil
}

// ---- timers ----

// Due is a contract timer firing for a term.
type Due struct {
	Contract uuid.UUID
	Term     int
}

// ContractsRenewalDue fires contracts' renewal timers, in the timers'
// transaction, all at once: each contract raises ContractRenewalDue once,
// naming the renewal opportunity the opportunity service opens (its id
// derives from the contract and term, so both services agree without a
// call) and the account's owner as the account events said.
func (s *Service) ContractsRenewalDue(ctx context.Context, due []Due) error {
	ids := make([]uuid.UUID, len(due))
	terms := make(map[uuid.UUID]int, len(due))
	for i, d := range due {
		ids[i], terms[d.Contract] = d.Contract, d.Term
	}
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		cs, err := s.repo.LockContracts(ctx, ids)
		if err != nil {
			return err
		}
		accounts := make([]uuid.UUID, len(cs))
		for i, c := range cs {
			accounts[i] = c.AccountID
		}
		owners, err := s.repo.AccountOwners(ctx, accounts)
		if err != nil {
			return err
		}
		var ws []ContractWrite
		for _, c := range cs {
			before := cloneContract(c)
			evs := c.RenewalDue(terms[c.ID], events.RenewalOpportunityID(c.ID, terms[c.ID]), owners[c.AccountID], s.now())
			if len(evs) > 0 {
				ws = append(ws, ContractWrite{Contract: c, Save: ContractSave{ContractChange: domain.ContractChange{Events: evs}, Before: before}})
			}
		}
		if len(ws) == 0 {
			return nil
		}
		return s.repo.SaveContracts(ctx, ws)
	})
}

// ContractTermEnded fires a contract's term-end timer: it renews or
// expires.
func (s *Service) ContractTermEnded(ctx context.Context, id uuid.UUID, term int) error {
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		c, err := s.repo.LockContract(ctx, id)
		if err != nil {
			return err
		}
		before := cloneContract(c)
		ch, err := c.TermEnded(term, s.now())
		if err != nil || len(ch.Events) == 0 {
			return err
		}
		return s.repo.SaveContract(ctx, c, ContractSave{ContractChange: ch, Before: before})
	})
}

// RefreshContractRevenue rewrites an evergreen contract's billing in the
// revenue forecast through a new horizon (its forecast-horizon timer).
func (s *Service) RefreshContractRevenue(ctx context.Context, id uuid.UUID) error {
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		c, err := s.repo.LockContract(ctx, id)
		if err != nil {
			return err
		}
		return s.repo.SaveContract(ctx, c, ContractSave{ContractChange: domain.ContractChange{Rebill: true}, Before: cloneContract(c)})
	})
}

// cloneContract copies what a change may replace in place.
func cloneContract(c *domain.Contract) *domain.Contract {
	x := *c
	x.Rates = append([]domain.RateChange(nil), c.Rates...)
	x.Terms = append([]domain.Term(nil), c.Terms...)
	return &x
}

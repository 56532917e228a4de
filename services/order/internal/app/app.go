// Package app holds the order service's use cases: it loads orders and
// contracts through the Repository, asks the account service for credit
// terms, lets the domain decide, and has the change, its events, timers,
// exposure and MRR ledger entries saved in one transaction.
package app

import (
	"context"
	"github.com/crmsuite/crm/platform/recordmerge"
	"math/big"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/processgate"
	"github.com/crmsuite/crm/services/order/internal/domain"
)

// Change is what a use case asks the repository to save with an order.
type Change struct {
	Events []domain.Event
	// History entries (status changes and notes) to record.
	History []*domain.StatusChange
	// RequestID of the request (or event) that caused the change.
	RequestID string
	// Before is the order as it was locked, for the audit trail (nil: the
	// repository reads it).
	Before *domain.Order
}

// ContractSave is what a use case asks the repository to save with a
// contract: its events, timers and MRR movements.
type ContractSave struct {
	domain.ContractChange
	RequestID string
	// Before is the contract as it was locked (nil: the repository reads
	// it).
	Before *domain.Contract
}

// ContractWrite is one contract of SaveContracts.
type ContractWrite struct {
	Contract *domain.Contract
	Save     ContractSave
}

// ListQuery is a page request of a List method.
type ListQuery struct {
	Filter    string
	OrderBy   string
	PageSize  int
	PageToken string
	// VisibleTo, when set, restricts the list to the records of accounts
	// it owns and the records it owns: what a salesperson reads.
	VisibleTo string
}

// Win is a won opportunity as the order service keeps it (a projection of
// OpportunityWon/Lost/Reopened), so that a salesperson's order from it
// can be checked without calling the opportunity service.
type Win struct {
	OpportunityID uuid.UUID
	AccountID     uuid.UUID
	Owner         string
	Won           bool
}

// Repository stores orders, contracts, their history and the ledgers.
// Methods run in the transaction ctx carries, if any (InTx).
type Repository interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// Repoint moves the references to merged accounts (orders,
	// contracts, credit exposure and its ledger, won opportunities) or
	// merged contacts (orders, contracts) to the survivor, in the caller's
	// transaction; it returns how many orders and contracts it moved.
	Repoint(ctx context.Context, m recordmerge.Merge) (int, error)
	ListAudit(ctx context.Context, q audit.Query) ([]audit.Entry, string, error)

	// InsertOrder inserts o with its events; created is false (and nothing
	// is written) when an order with o's id, or of o's source
	// opportunity, exists.
	InsertOrder(ctx context.Context, o *domain.Order, ch Change) (created bool, err error)
	GetOrder(ctx context.Context, id uuid.UUID) (*domain.Order, error)
	LockOrder(ctx context.Context, id uuid.UUID) (*domain.Order, error)
	// LockOrderOfOpportunity locks the order made from a won opportunity;
	// NotFound when there is none.
	LockOrderOfOpportunity(ctx context.Context, opportunityID uuid.UUID) (*domain.Order, error)
	SaveOrder(ctx context.Context, o *domain.Order, ch Change) error
	// AddOrderNotes records history entries of an order that did not change.
	AddOrderNotes(ctx context.Context, notes ...*domain.StatusChange) error
	ListOrders(ctx context.Context, q ListQuery) ([]*domain.Order, string, error)
	ListStatusChanges(ctx context.Context, id uuid.UUID, pageSize int, pageToken string) ([]domain.StatusChange, string, error)

	// LockExposure returns the account's exposure in currency, locked for
	// the transaction: exposure-raising steps on one account take turns.
	LockExposure(ctx context.Context, account uuid.UUID, currency string) (*big.Rat, error)
	// AddExposure adds delta to the locked exposure and records it in the
	// credit ledger.
	AddExposure(ctx context.Context, account uuid.UUID, currency string, order uuid.UUID, delta *big.Rat, reason string) error

	InsertContract(ctx context.Context, c *domain.Contract, ch ContractSave) (created bool, err error)
	GetContract(ctx context.Context, id uuid.UUID) (*domain.Contract, error)
	LockContract(ctx context.Context, id uuid.UUID) (*domain.Contract, error)
	LockContractOfOpportunity(ctx context.Context, opportunityID uuid.UUID) (*domain.Contract, error)
	// SaveContract saves c, its events, timers and movements, and its
	// billing schedule as the revenue forecast sees it.
	SaveContract(ctx context.Context, c *domain.Contract, ch ContractSave) error
	// SaveContracts saves several in one round trip.
	SaveContracts(ctx context.Context, ws []ContractWrite) error
	// LockContracts locks the contracts of ids (those that exist).
	LockContracts(ctx context.Context, ids []uuid.UUID) ([]*domain.Contract, error)
	ListContracts(ctx context.Context, q ListQuery) ([]*domain.Contract, string, error)

	// AccountOwner is the owner of an account as the account events said
	// ("" when unknown).
	AccountOwner(ctx context.Context, account uuid.UUID) (string, error)
	// AccountOwners are the known owners of accounts.
	AccountOwners(ctx context.Context, accounts []uuid.UUID) (map[uuid.UUID]string, error)
	// SetAccountOwner records an account's owner from the event at stream
	// position seq; an older event changes nothing.
	SetAccountOwner(ctx context.Context, account uuid.UUID, owner string, seq uint64) error
	RecordWin(ctx context.Context, w Win) error
	GetWin(ctx context.Context, opportunityID uuid.UUID) (Win, bool, error)

	Pipeline(ctx context.Context, owner string) ([]PipelineRow, []ContractPipelineRow, error)
	RevenueForecast(ctx context.Context, q ForecastQuery) ([]ForecastRow, error)
	RecurringRevenue(ctx context.Context, q RecurringQuery) ([]RecurringRow, error)
	Performance(ctx context.Context, q PerformanceQuery) ([]OwnerPerformance, error)

	ExchangeRates
}

// Accounts asks the account service (each call under a deadline). They
// return an apperr NotFound for a record that does not exist and an apperr
// Unavailable when the service does not answer.
type Accounts interface {
	CreditTerms(ctx context.Context, account uuid.UUID) (domain.CreditTerms, error)
	// ContactAccount is the account of a contact (uuid.Nil if none).
	ContactAccount(ctx context.Context, contact uuid.UUID) (uuid.UUID, error)
}

// Service is the order use cases.
type Service struct {
	repo     Repository
	accounts Accounts
	gate     processgate.Checker
	snapshot func(*domain.Order) proto.Message
	now      func() time.Time
}

// New returns the use cases over repo and the account service.
func New(repo Repository, accounts Accounts) *Service {
	return &Service{repo: repo, accounts: accounts, now: func() time.Time {
		// Postgres keeps microseconds; so do we.
		return time.Now().UTC().Truncate(time.Microsecond)
	}}
}

// WithClock replaces the clock (tests and benchmarks).
func (s *Service) WithClock(now func() time.Time) *Service {
	s.now = now
	return s
}

func (s *Service) today() domain.Date { return domain.DateOf(s.now()) }

// readsAll reports a caller who reads every order and contract: admins,
// managers, ops and services. A salesperson reads those of the accounts
// it owns and those it owns.
func readsAll(scope authz.Scope) bool { return scope.All || scope.Has(authz.Ops) }

// canOverride reports a caller who may override a credit refusal.
func canOverride(scope authz.Scope) bool { return scope.Admin() || scope.Has(authz.Manager) }

// visible narrows q to what the caller reads.
func visible(ctx context.Context, q ListQuery) (ListQuery, error) {
	scope := authz.ScopeOf(ctx)
	if readsAll(scope) {
		return q, nil
	}
	own, err := scope.OwnerFilter("")
	if err != nil {
		return q, err
	}
	q.VisibleTo = own
	return q, nil
}

// mayRead reports whether the caller reads a record of account owned by
// owner.
func (s *Service) mayRead(ctx context.Context, account uuid.UUID, owner string) (bool, error) {
	scope := authz.ScopeOf(ctx)
	if readsAll(scope) || scope.Owns(owner) {
		return true, nil
	}
	if scope.Owner == "" {
		return false, nil
	}
	o, err := s.repo.AccountOwner(ctx, account)
	return o == scope.Owner, err
}

// hide turns NotFound into PermissionDenied for a caller who does not read
// every record, so it cannot probe which exist.
func hide(scope authz.Scope, err error) error {
	if readsAll(scope) {
		return err
	}
	return scope.Hide(err)
}

// Package app holds the account service's use cases: it loads accounts
// and contacts through the Repository, lets the domain decide, settles the
// primary contact of each account involved, and has the changes and their
// events saved in one transaction.
package app

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/customerkey"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/services/account/internal/domain"
)

// Change is what a use case asks the repository to save with a record.
type Change struct {
	Events []domain.Event
	// RequestID of the request (or event) that caused the change.
	RequestID string
}

// ListQuery is a page request of a List method.
type ListQuery struct {
	Filter    string
	OrderBy   string
	PageSize  int
	PageToken string
}

// MatchQuery says whom MatchCustomers looks for, as normalised keys.
type MatchQuery struct {
	Email, Phone, NameKey string
	// Domains of the email and of the web site.
	EmailDomain, WebsiteDomain string
	Limit                      int
}

// Match rules.
const (
	RuleEmail         = "EMAIL"
	RulePhone         = "PHONE"
	RuleCompanyName   = "COMPANY_NAME"
	RuleEmailDomain   = "EMAIL_DOMAIN"
	RuleWebsiteDomain = "WEBSITE_DOMAIN"
)

// AccountMatch is an account that looks like the customer, and why.
type AccountMatch struct {
	Account *domain.Account
	Rules   []string
}

// ContactMatch is a contact that looks like the person, and why.
type ContactMatch struct {
	Contact *domain.Contact
	Rules   []string
}

// DuplicateGroup is the records sharing one key, oldest first.
type DuplicateGroup struct {
	Rule string
	Key  string
	IDs  []uuid.UUID
}

// Repository stores accounts and contacts and their events. Methods run in
// the transaction ctx carries, if any (InTx).
type Repository interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error

	// InsertAccount inserts a and its events; created is false (and
	// nothing is written) when an account with a's id exists.
	InsertAccount(ctx context.Context, a *domain.Account, ch Change) (created bool, err error)
	GetAccount(ctx context.Context, id uuid.UUID) (*domain.Account, error)
	// LockAccount reads an account FOR UPDATE; domain.ErrAccountNotFound
	// if there is none.
	LockAccount(ctx context.Context, id uuid.UUID) (*domain.Account, error)
	SaveAccount(ctx context.Context, a *domain.Account, ch Change) error
	ListAccounts(ctx context.Context, q ListQuery) ([]*domain.Account, string, error)

	// InsertContact inserts c with its matching keys (phones read in
	// region) and its events.
	InsertContact(ctx context.Context, c *domain.Contact, region string, ch Change) error
	GetContact(ctx context.Context, id uuid.UUID) (*domain.Contact, error)
	LockContact(ctx context.Context, id uuid.UUID) (*domain.Contact, error)
	SaveContact(ctx context.Context, c *domain.Contact, region string, ch Change) error
	DeleteContact(ctx context.Context, c *domain.Contact, ch Change) error
	// PrimaryContact returns the account's primary contact, locked; nil
	// when it has none.
	PrimaryContact(ctx context.Context, accountID uuid.UUID) (*domain.Contact, error)
	// OldestContact returns the account's longest standing contact other
	// than except, locked; nil when there is none.
	OldestContact(ctx context.Context, accountID, except uuid.UUID) (*domain.Contact, error)
	ListContacts(ctx context.Context, q ListQuery) ([]*domain.Contact, string, error)

	Match(ctx context.Context, q MatchQuery) ([]AccountMatch, []ContactMatch, error)

	// ContactRoles returns the role list, offered roles first, and its
	// version.
	ContactRoles(ctx context.Context) ([]domain.ContactRole, int64, error)
	// ShareContactRoles is ContactRoles holding the list against
	// replacement until the transaction ends.
	ShareContactRoles(ctx context.Context) ([]domain.ContactRole, error)
	// ReplaceContactRoles upserts rs, retires the roles not in rs and
	// bumps the version; with a non-empty ifMatch only if the version is
	// that etag's.
	ReplaceContactRoles(ctx context.Context, rs []domain.ContactRole, ifMatch, actor string, now time.Time) error
	// UpcomingBirthdays pages through the contacts whose birthday falls in
	// the window and that match q's filter, soonest first.
	UpcomingBirthdays(ctx context.Context, w BirthdayWindow, q ListQuery) ([]BirthdayRow, string, error)
	// AccountDuplicates returns the accounts other than id with the name
	// key or the domain, oldest first, at most limit; with lock it first
	// locks the keys for the rest of the transaction (a create's check).
	AccountDuplicates(ctx context.Context, id uuid.UUID, nameKey, domain string, lock bool, limit int) ([]AccountMatch, error)
	AccountKeys(ctx context.Context, id uuid.UUID) (nameKey, domain string, err error)
	// ContactDuplicates is AccountDuplicates for contacts' email and phone
	// keys.
	ContactDuplicates(ctx context.Context, id uuid.UUID, emails, phones []string, lock bool, limit int) ([]ContactMatch, error)
	ContactKeys(ctx context.Context, id uuid.UUID) (emails, phones []string, err error)
	// DuplicateGroups pages through the groups of a collection's records
	// ("accounts", "contacts") sharing a key, by the given rules in order.
	DuplicateGroups(ctx context.Context, collection string, rules []string, pageSize int, pageToken string) ([]DuplicateGroup, string, error)
	MergeStore
	// ApplyOrder projects an order as an order event carries it (a
	// version older than the projected one changes nothing).
	ApplyOrder(ctx context.Context, o OrderFact) error

	// ListAudit pages through the audit trail.
	ListAudit(ctx context.Context, q audit.Query) ([]audit.Entry, string, error)
}

// Service is the account use cases.
type Service struct {
	repo Repository
	// phoneRegion reads local phone numbers of accounts without a billing
	// country.
	phoneRegion string
	now         func() time.Time
}

// New returns the use cases over repo.
func New(repo Repository, phoneRegion string) *Service {
	return &Service{repo: repo, phoneRegion: phoneRegion, now: func() time.Time {
		// Postgres keeps microseconds; so do we.
		return time.Now().UTC().Truncate(time.Microsecond)
	}}
}

// PhoneRegion is the region of local numbers without a known country.
func (s *Service) PhoneRegion() string { return s.phoneRegion }

// CreateAccount creates an account owned by the caller unless it names an
// owner (a salesperson creates accounts it owns only).
//
// An account with the name or the web domain of another is refused
// (DUPLICATE_ACCOUNT) unless allowDuplicate.
func (s *Service) CreateAccount(ctx context.Context, in domain.Account, requestID string, allowDuplicate bool) (*domain.Account, error) {
	if err := checkNewOwner(ctx, "", in.Owner); err != nil {
		return nil, err
	}
	a, evs, err := domain.NewAccount(in, uuid.Nil, auth.Actor(ctx), s.now())
	if err != nil {
		return nil, err
	}
	err = s.repo.InTx(ctx, func(ctx context.Context) error {
		if !allowDuplicate {
			dups, err := s.repo.AccountDuplicates(ctx, a.ID, customerkey.Fold(a.DisplayName), a.Domain, true, 20)
			if err != nil {
				return err
			}
			if len(dups) > 0 {
				return errDuplicateAccount(dups)
			}
		}
		_, err := s.repo.InsertAccount(ctx, a, Change{Events: evs, RequestID: requestID})
		return err
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func (s *Service) GetAccount(ctx context.Context, id uuid.UUID) (*domain.Account, error) {
	return s.repo.GetAccount(ctx, id)
}

func (s *Service) ListAccounts(ctx context.Context, q ListQuery) ([]*domain.Account, string, error) {
	return s.repo.ListAccounts(ctx, q)
}

// UpdateAccount sets the fields in mask; with a non-empty etag only if the
// account is unchanged since it was read. A no-op writes nothing.
func (s *Service) UpdateAccount(ctx context.Context, id uuid.UUID, patch domain.Account, mask []domain.Field, ifMatch string) (*domain.Account, error) {
	return s.mutateAccount(ctx, id, ifMatch, "", func(a *domain.Account) ([]domain.Event, error) {
		if slices.Contains(mask, domain.FieldOwner) {
			if err := checkNewOwner(ctx, a.Owner, patch.Owner); err != nil {
				return nil, err
			}
		}
		return a.Update(patch, mask, auth.Actor(ctx), s.now())
	})
}

// checkNewOwner refuses a salesperson giving a record (owned by from) to
// someone else: reassigning is a manager's call.
func checkNewOwner(ctx context.Context, from, to string) error {
	if to == "" || to == from {
		return nil
	}
	return authz.ScopeOf(ctx).CheckOwner(to)
}

func (s *Service) DeactivateAccount(ctx context.Context, id uuid.UUID, reason, ifMatch, requestID string) (*domain.Account, error) {
	return s.mutateAccount(ctx, id, ifMatch, requestID, func(a *domain.Account) ([]domain.Event, error) {
		return a.Deactivate(reason, auth.Actor(ctx), s.now())
	})
}

func (s *Service) ActivateAccount(ctx context.Context, id uuid.UUID, ifMatch, requestID string) (*domain.Account, error) {
	return s.mutateAccount(ctx, id, ifMatch, requestID, func(a *domain.Account) ([]domain.Event, error) {
		return a.Activate(auth.Actor(ctx), s.now())
	})
}

// mutateAccount locks the account, checks that the caller may change it (a
// salesperson changes the accounts it owns; others' are PermissionDenied
// and stay as they are) and the etag, and saves what fn changed.
func (s *Service) mutateAccount(ctx context.Context, id uuid.UUID, ifMatch, requestID string, fn func(a *domain.Account) ([]domain.Event, error)) (*domain.Account, error) {
	var out *domain.Account
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		a, err := s.repo.LockAccount(ctx, id)
		if err != nil {
			return err
		}
		if err := authz.ScopeOf(ctx).CheckOwner(a.Owner); err != nil {
			return err
		}
		if err := etag.Check(ifMatch, a.Version); err != nil {
			return err
		}
		evs, err := fn(a)
		if err != nil {
			return err
		}
		out = a
		if len(evs) == 0 {
			return nil
		}
		return s.repo.SaveAccount(ctx, a, Change{Events: evs, RequestID: requestID})
	})
	return out, err
}

// MatchCustomers finds accounts and contacts that look like the given
// person or company.
func (s *Service) MatchCustomers(ctx context.Context, q MatchQuery) ([]AccountMatch, []ContactMatch, error) {
	if q.Email == "" && q.Phone == "" && q.NameKey == "" && q.EmailDomain == "" && q.WebsiteDomain == "" {
		return nil, nil, apperr.InvalidField("email", "NOTHING_TO_MATCH", "give at least one of email, phone, company or website")
	}
	return s.repo.Match(ctx, q)
}

// ListAuditEntries lists the audit trail of account or contact id (by
// collection, "accounts" or "contacts"), or of every record of the
// collection when q.All(); the caller's access is audit.Authorize's,
// through GetAccount or GetContact.
func (s *Service) ListAuditEntries(ctx context.Context, collection string, id uuid.UUID, q audit.Query) ([]audit.Entry, string, error) {
	err := audit.Authorize(ctx, q, func(ctx context.Context) error {
		var err error
		if collection == "contacts" {
			_, err = s.GetContact(ctx, id)
		} else {
			_, err = s.GetAccount(ctx, id)
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return s.repo.ListAudit(ctx, q)
}

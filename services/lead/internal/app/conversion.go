package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/modules"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

// Customers is what the lead service asks the account service, over gRPC,
// with a deadline. Its answers are the account service's API messages: that
// API is the contract between the two.
type Customers interface {
	// Account returns the account; a missing one is apperr NotFound, an
	// unreachable service apperr Unavailable.
	Account(ctx context.Context, id uuid.UUID) (*accountv1.Account, error)
	Contact(ctx context.Context, id uuid.UUID) (*accountv1.Contact, error)
	Match(ctx context.Context, q *accountv1.MatchCustomersRequest) (*accountv1.MatchCustomersResponse, error)
}

// WithCustomers lets conversions check existing records and offer
// candidates through c.
func (s *Service) WithCustomers(c Customers) *Service {
	s.customers = c
	return s
}

// WithModules tells conversions which modules the installation runs
// (running(name)); without it, all.
func (s *Service) WithModules(running func(module string) bool) *Service {
	s.running = running
	return s
}

// QualifyLead converts a lead (see domain.Lead.Qualify). An order the
// order service would refuse is refused first (domain.ConversionRequest.
// Check), then a conversion that needs a module the installation does not
// run (conversionModules). Existing records it names are checked with the
// account service next: if they do not exist or do not belong together,
// or the account service cannot answer, nothing changes.
func (s *Service) QualifyLead(ctx context.Context, id uuid.UUID, req domain.ConversionRequest, ifMatch, requestID string, ov Override) (*domain.Lead, error) {
	if err := req.Check(); err != nil {
		return nil, err
	}
	if err := s.conversionModules(req); err != nil {
		return nil, err
	}
	l, err := s.GetLead(ctx, id)
	if err != nil {
		return nil, err
	}
	if l.Status == domain.StatusQualified && l.Conversion != nil && l.Conversion.State != domain.ConversionFailed {
		return l, nil
	}
	if err := etag.Check(ifMatch, l.Version); err != nil {
		return nil, err
	}
	if err := s.checkTargets(ctx, req); err != nil {
		return nil, err
	}
	gate, err := s.checkProcess(ctx, id, func(*domain.Lead) domain.Status { return domain.StatusQualified }, ov, requestID)
	if err != nil {
		return nil, err
	}
	return s.change(ctx, id, func(l *domain.Lead) (Change, error) {
		if err := etag.Check(ifMatch, l.Version); err != nil {
			return Change{}, err
		}
		evs, err := l.Qualify(req, auth.Actor(ctx), s.now())
		return Change{Events: evs, RequestID: requestID, Audit: gate}, err
	})
}

// conversionModules refuses a conversion that needs a module the
// installation does not run (modules.Disabled): every conversion makes or
// links an account and a contact (account), and may open an opportunity
// (opportunity) or make a draft order (order). Committed, nothing would
// ever apply its part: the lead would stay QUALIFIED with a conversion
// PENDING for good.
func (s *Service) conversionModules(req domain.ConversionRequest) error {
	if s.running == nil {
		return nil
	}
	need := []string{"account"}
	if req.Opportunity != nil {
		need = append(need, "opportunity")
	}
	if req.Order != nil {
		need = append(need, "order")
	}
	for _, m := range need {
		if !s.running(m) {
			return modules.Disabled(m)
		}
	}
	return nil
}

// checkTargets asks the account service whether the existing account and
// contact a conversion names exist and belong together.
func (s *Service) checkTargets(ctx context.Context, req domain.ConversionRequest) error {
	if req.ExistingAccount == uuid.Nil && req.ExistingContact == uuid.Nil {
		return nil
	}
	if s.customers == nil {
		return apperr.Unavailable("ACCOUNT_SERVICE_UNAVAILABLE", "the account service is not configured: only conversions into new records are possible")
	}
	if req.ExistingAccount != uuid.Nil {
		a, err := s.customers.Account(ctx, req.ExistingAccount)
		if apperr.IsKind(err, apperr.KindNotFound) {
			return targetMissing("ACCOUNT_NOT_FOUND", "existing_account", "accounts/"+req.ExistingAccount.String(), "the account does not exist")
		}
		if err != nil {
			return err
		}
		if a.GetState() == accountv1.AccountState_ACCOUNT_STATE_INACTIVE {
			return targetMissing("ACCOUNT_INACTIVE", "existing_account", a.GetName(), "the account is inactive: activate it first")
		}
		if into := a.GetMergedInto(); into != "" {
			return targetMissing("ACCOUNT_MERGED", "existing_account", a.GetName(), "the account was merged into "+into+": convert into that account")
		}
	}
	if req.ExistingContact != uuid.Nil {
		c, err := s.customers.Contact(ctx, req.ExistingContact)
		if apperr.IsKind(err, apperr.KindNotFound) {
			return targetMissing("CONTACT_NOT_FOUND", "existing_contact", "contacts/"+req.ExistingContact.String(), "the contact does not exist")
		}
		if err != nil {
			return err
		}
		if into := c.GetMergedInto(); into != "" {
			return targetMissing("CONTACT_MERGED", "existing_contact", c.GetName(), "the contact was merged into "+into+": convert into that contact")
		}
		want := ""
		if req.ExistingAccount != uuid.Nil {
			want = "accounts/" + req.ExistingAccount.String()
		}
		if c.GetAccount() != "" && c.GetAccount() != want {
			return targetMissing("CONTACT_OF_ANOTHER_ACCOUNT", "existing_contact", c.GetName(),
				"the contact belongs to "+c.GetAccount()+": convert into that account, or choose another contact")
		}
	}
	return nil
}

func targetMissing(reason, field, subject, why string) error {
	e := apperr.FailedPrecondition(reason, "%s: %s", subject, why)
	e.Preconditions = append(e.Preconditions, apperr.PreconditionViolation{Type: reason, Subject: subject, Description: why})
	return e.WithMeta("field", field)
}

// FindConversionCandidates asks the account service for existing customers
// the lead may be.
func (s *Service) FindConversionCandidates(ctx context.Context, id uuid.UUID) (*accountv1.MatchCustomersResponse, error) {
	l, err := s.GetLead(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.customers == nil {
		return nil, apperr.Unavailable("ACCOUNT_SERVICE_UNAVAILABLE", "the account service is not configured")
	}
	return s.customers.Match(ctx, &accountv1.MatchCustomersRequest{
		Email: l.Email, Phone: l.Phone, Company: l.Company, Website: l.Website,
	})
}

// ContactApplied records that the account service has the conversion's
// contact (and so its account). Unknown leads and other conversions are
// ignored: the event is not about a conversion we track.
func (s *Service) ContactApplied(ctx context.Context, leadID, contactID uuid.UUID, at time.Time) error {
	return s.settle(ctx, leadID, func(l *domain.Lead) []domain.Event {
		return l.ContactApplied(contactID, at, auth.Actor(ctx), s.now())
	})
}

// OpportunityApplied records that the opportunity service opened the
// conversion's opportunity.
func (s *Service) OpportunityApplied(ctx context.Context, leadID, opportunityID uuid.UUID, at time.Time) error {
	return s.settle(ctx, leadID, func(l *domain.Lead) []domain.Event {
		return l.OpportunityApplied(opportunityID, at, auth.Actor(ctx), s.now())
	})
}

// OrderApplied records that the order service made the conversion's draft
// order.
func (s *Service) OrderApplied(ctx context.Context, leadID, orderID uuid.UUID, at time.Time) error {
	return s.settle(ctx, leadID, func(l *domain.Lead) []domain.Event {
		return l.OrderApplied(orderID, at, auth.Actor(ctx), s.now())
	})
}

// FailConversion records that the account or order service refused
// conversion attempt attemptID.
func (s *Service) FailConversion(ctx context.Context, leadID, attemptID uuid.UUID, reason, message string, at time.Time) error {
	return s.settle(ctx, leadID, func(l *domain.Lead) []domain.Event {
		return l.FailConversion(attemptID, reason, message, at, auth.Actor(ctx), s.now())
	})
}

func (s *Service) settle(ctx context.Context, leadID uuid.UUID, fn func(l *domain.Lead) []domain.Event) error {
	_, err := s.repo.Mutate(ctx, leadID, func(l *domain.Lead) (Change, error) {
		return Change{Events: fn(l)}, nil
	})
	if apperr.IsKind(err, apperr.KindNotFound) {
		return nil
	}
	return err
}

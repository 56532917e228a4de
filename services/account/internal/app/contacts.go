package app

import (
	"bytes"
	"context"
	"errors"
	"slices"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/services/account/internal/domain"
)

// The primary contact of an account: an account with contacts has exactly
// one. Every write that may change it locks the account row first (FOR
// UPDATE), so such writes on one account take turns; a partial unique
// index, one primary per account, is the backstop. Demotions are saved
// before the contact that takes over, promotions after the contact that
// leaves, so the index holds after every statement.

func (s *Service) GetContact(ctx context.Context, id uuid.UUID) (*domain.Contact, error) {
	return s.repo.GetContact(ctx, id)
}

func (s *Service) ListContacts(ctx context.Context, q ListQuery) ([]*domain.Contact, string, error) {
	return s.repo.ListContacts(ctx, q)
}

func errNoAccountForPrimary() error {
	return apperr.InvalidField(string(domain.FieldPrimary), "PRIMARY_WITHOUT_ACCOUNT", "a contact without an account cannot be primary")
}

// CreateContact creates a contact, on an account (which must exist) or on
// its own. The first contact of an account becomes its primary; a contact
// created primary takes over from the previous one.
//
// A salesperson creates contacts it owns, on any account. A contact with an
// email or phone of another is refused (DUPLICATE_CONTACT) unless
// allowDuplicate.
func (s *Service) CreateContact(ctx context.Context, in domain.Contact, requestID string, allowDuplicate bool) (*domain.Contact, error) {
	if err := checkNewOwner(ctx, "", in.Owner); err != nil {
		return nil, err
	}
	if in.Primary && in.AccountID == uuid.Nil {
		return nil, errNoAccountForPrimary()
	}
	actor, now := auth.Actor(ctx), s.now()
	c, err := domain.NewContact(in, uuid.Nil, actor, now)
	if err != nil {
		return nil, err
	}
	err = s.repo.InTx(ctx, func(ctx context.Context) error {
		if err := s.checkRoles(ctx, c.Roles, nil); err != nil {
			return err
		}
		region := s.phoneRegion
		if c.AccountID != uuid.Nil {
			a, err := s.lockAccountOf(ctx, c.AccountID)
			if err != nil {
				return err
			}
			region = a.PhoneRegion(s.phoneRegion)
			cur, err := s.repo.PrimaryContact(ctx, a.ID)
			if err != nil {
				return err
			}
			switch {
			case cur == nil:
				c.Primary = true
			case c.Primary:
				if err := s.setPrimary(ctx, cur, false, region, requestID, actor); err != nil {
					return err
				}
			}
		}
		if !allowDuplicate {
			keys := c.Keys(region)
			dups, err := s.repo.ContactDuplicates(ctx, c.ID, keys.Emails, keys.Phones, true, 20)
			if err != nil {
				return err
			}
			if len(dups) > 0 {
				return errDuplicateContact(dups)
			}
		}
		return s.repo.InsertContact(ctx, c, region, Change{Events: []domain.Event{domain.ContactCreated{}}, RequestID: requestID})
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// lockAccountOf locks the account a contact is to belong to; a missing one
// is a failed precondition of the contact write.
func (s *Service) lockAccountOf(ctx context.Context, id uuid.UUID) (*domain.Account, error) {
	a, err := s.repo.LockAccount(ctx, id)
	if apperr.IsKind(err, apperr.KindNotFound) {
		return nil, domain.ErrAccountMissing(id)
	}
	if err != nil {
		return nil, err
	}
	return a, a.CheckWritable()
}

// setPrimary flips c's primary flag and saves it with a ContactUpdated.
func (s *Service) setPrimary(ctx context.Context, c *domain.Contact, primary bool, region, requestID, actor string) error {
	c.Primary = primary
	c.Touch(actor, s.now())
	return s.repo.SaveContact(ctx, c, region, Change{
		Events: []domain.Event{domain.ContactUpdated{Changed: []string{string(domain.FieldPrimary)}}}, RequestID: requestID,
	})
}

// promoteOldest makes the longest standing contact of account primary, if
// it has any contacts left.
func (s *Service) promoteOldest(ctx context.Context, account *domain.Account, except uuid.UUID, actor string) error {
	next, err := s.repo.OldestContact(ctx, account.ID, except)
	if err != nil || next == nil {
		return err
	}
	return s.setPrimary(ctx, next, true, account.PhoneRegion(s.phoneRegion), "", actor)
}

// errMoved restarts a contact write whose contact moved to another account
// between the unlocked read and the lock.
var errMoved = errors.New("contact moved while being locked")

// withContact locks the accounts the contact belongs to (and moves to),
// in a fixed order, then the contact, and runs fn with them.
func (s *Service) withContact(ctx context.Context, id, movesTo uuid.UUID,
	fn func(ctx context.Context, c *domain.Contact, accounts map[uuid.UUID]*domain.Account) error) error {
	for range 5 {
		peek, err := s.repo.GetContact(ctx, id)
		if err != nil {
			return err
		}
		err = s.repo.InTx(ctx, func(ctx context.Context) error {
			ids := []uuid.UUID{}
			for _, a := range []uuid.UUID{peek.AccountID, movesTo} {
				if a != uuid.Nil && !slices.Contains(ids, a) {
					ids = append(ids, a)
				}
			}
			slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
			accounts := map[uuid.UUID]*domain.Account{}
			for _, aid := range ids {
				a, err := s.lockAccountOf(ctx, aid)
				if err != nil {
					return err
				}
				accounts[aid] = a
			}
			c, err := s.repo.LockContact(ctx, id)
			if err != nil {
				return err
			}
			if c.AccountID != peek.AccountID {
				return errMoved
			}
			return fn(ctx, c, accounts)
		})
		if !errors.Is(err, errMoved) {
			return err
		}
	}
	return apperr.Aborted("CONCURRENT_MODIFICATION", "contact %s keeps moving between accounts; retry", id)
}

func (s *Service) region(a *domain.Account) string {
	if a == nil {
		return s.phoneRegion
	}
	return a.PhoneRegion(s.phoneRegion)
}

// UpdateContact sets the fields in mask. Setting primary makes the contact
// its account's primary and unmakes the previous one; unsetting it on the
// primary is refused (hand it over instead). Moving a contact to another
// account keeps both accounts' primaries right. A salesperson changes the
// contacts it owns.
func (s *Service) UpdateContact(ctx context.Context, id uuid.UUID, patch domain.Contact, mask []domain.Field, ifMatch string) (*domain.Contact, error) {
	movesTo := uuid.Nil
	if slices.Contains(mask, domain.FieldAccount) {
		movesTo = patch.AccountID
	}
	actor := auth.Actor(ctx)
	var out *domain.Contact
	err := s.withContact(ctx, id, movesTo, func(ctx context.Context, c *domain.Contact, accounts map[uuid.UUID]*domain.Account) error {
		if err := authz.ScopeOf(ctx).CheckOwner(c.Owner); err != nil {
			return err
		}
		if slices.Contains(mask, domain.FieldOwner) {
			if err := checkNewOwner(ctx, c.Owner, patch.Owner); err != nil {
				return err
			}
		}
		if err := etag.Check(ifMatch, c.Version); err != nil {
			return err
		}
		wasPrimary, from, hadRoles := c.Primary, c.AccountID, c.Roles
		p, err := c.Update(patch, mask)
		if err != nil {
			return err
		}
		if slices.Contains(p.Changed, string(domain.FieldRoles)) {
			if err := s.checkRoles(ctx, c.Roles, hadRoles); err != nil {
				return err
			}
		}
		changed := p.Changed
		wantPrimary := p.WantPrimary != nil && *p.WantPrimary
		var demote *domain.Contact
		to := from
		if p.AccountChanged {
			to = p.NewAccount
		}
		if to == uuid.Nil && wantPrimary {
			return errNoAccountForPrimary()
		}
		if to != from {
			changed = append(changed, string(domain.FieldAccount))
			c.AccountID, c.Primary = to, false
			if to != uuid.Nil {
				cur, err := s.repo.PrimaryContact(ctx, to)
				if err != nil {
					return err
				}
				switch {
				case cur == nil:
					c.Primary = true
				case wantPrimary:
					demote, c.Primary = cur, true
				}
			}
		} else if p.WantPrimary != nil && wantPrimary != c.Primary {
			if !wantPrimary {
				return domain.ErrPrimaryRequired(c.ID)
			}
			cur, err := s.repo.PrimaryContact(ctx, to)
			if err != nil {
				return err
			}
			demote, c.Primary = cur, true
		}
		if c.Primary != wasPrimary {
			changed = append(changed, string(domain.FieldPrimary))
		}
		out = c
		if len(changed) == 0 {
			return nil
		}
		if demote != nil {
			if err := s.setPrimary(ctx, demote, false, s.region(accounts[to]), "", actor); err != nil {
				return err
			}
		}
		c.Touch(actor, s.now())
		if err := s.repo.SaveContact(ctx, c, s.region(accounts[to]), Change{Events: []domain.Event{domain.ContactUpdated{Changed: changed}}}); err != nil {
			return err
		}
		if wasPrimary && to != from {
			return s.promoteOldest(ctx, accounts[from], c.ID, actor)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteContact deletes a contact; when it was its account's primary, the
// longest standing remaining contact becomes primary.
func (s *Service) DeleteContact(ctx context.Context, id uuid.UUID, ifMatch string) error {
	return s.withContact(ctx, id, uuid.Nil, func(ctx context.Context, c *domain.Contact, accounts map[uuid.UUID]*domain.Account) error {
		if err := c.CheckWritable(); err != nil {
			return err
		}
		if err := etag.Check(ifMatch, c.Version); err != nil {
			return err
		}
		if err := s.repo.DeleteContact(ctx, c, Change{Events: []domain.Event{domain.ContactDeleted{}}}); err != nil {
			return err
		}
		if c.Primary {
			return s.promoteOldest(ctx, accounts[c.AccountID], c.ID, auth.Actor(ctx))
		}
		return nil
	})
}

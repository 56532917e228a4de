package app

import (
	"bytes"
	"context"
	"errors"
	"slices"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/services/account/internal/domain"
)

// MergeStore is what merging needs of the repository, beyond the
// single-record methods.
type MergeStore interface {
	// LockAccounts reads the accounts FOR UPDATE, in id order (ids
	// repeated are read once); domain.ErrAccountNotFound for one missing.
	LockAccounts(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*domain.Account, error)
	// OpenOrders counts the open orders of the accounts by currency, from
	// the projection of the order events.
	OpenOrders(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]domain.OpenOrders, error)
	// ContactsOf lists the ids of the accounts' contacts, oldest first.
	ContactsOf(ctx context.Context, ids []uuid.UUID) ([]uuid.UUID, error)
	// MoveContacts moves every contact of from to survivor; keepPrimary
	// (if not uuid.Nil) stays primary, every other moved contact is not.
	MoveContacts(ctx context.Context, from []uuid.UUID, survivor, keepPrimary uuid.UUID, actor string) error
	// SaveMergedAccounts saves the survivor with its events and the merged
	// accounts (audited, without events of their own) and re-points the
	// merged accounts' projected orders at the survivor.
	SaveMergedAccounts(ctx context.Context, survivor *domain.Account, merged []*domain.Account, ch Change) error
	// LockContacts reads the contacts FOR UPDATE, in id order.
	LockContacts(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*domain.Contact, error)
	// SaveMergedContacts saves the survivor with its events and the merged
	// contacts (audited, without events of their own).
	SaveMergedContacts(ctx context.Context, survivor *domain.Contact, merged []*domain.Contact, region string, ch Change) error
}

// AccountMergeResult is what MergeAccounts did (or would do).
type AccountMergeResult struct {
	Account        *domain.Account
	Merged         []*domain.Account
	MovedContacts  []uuid.UUID
	AddedAddresses int
	OpenOrders     int
}

// MergeAccounts folds the merged accounts into survivor (domain.Account.Merge)
// and moves their contacts to it, in one transaction; with dryRun it
// changes nothing and says what would happen. wantType "" keeps the
// survivor's type (and is refused when the types differ).
func (s *Service) MergeAccounts(ctx context.Context, survivor uuid.UUID, merged []uuid.UUID, wantType domain.AccountType, ifMatch, requestID string, dryRun bool) (AccountMergeResult, error) {
	var res AccountMergeResult
	errDryRun := errors.New("dry run")
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		ids := append([]uuid.UUID{survivor}, merged...)
		byID, err := s.repo.LockAccounts(ctx, ids)
		if err != nil {
			return err
		}
		a := byID[survivor]
		if err := etag.Check(ifMatch, a.Version); err != nil {
			return err
		}
		ms := make([]*domain.Account, len(merged))
		for i, id := range merged {
			m := *byID[id]
			ms[i] = &m
		}
		open, err := s.repo.OpenOrders(ctx, merged)
		if err != nil {
			return err
		}
		actor := auth.Actor(ctx)
		mg, err := a.Merge(ms, wantType, open, actor, s.now())
		if err != nil {
			return err
		}
		moved, err := s.repo.ContactsOf(ctx, merged)
		if err != nil {
			return err
		}
		res = AccountMergeResult{Account: a, Merged: ms, MovedContacts: moved, AddedAddresses: mg.AddedAddresses}
		for _, m := range merged {
			for _, n := range open[m] {
				res.OpenOrders += n
			}
		}
		mg.Events[0] = domain.AccountsMerged{Merged: ms, Changed: mg.Events[0].(domain.AccountsMerged).Changed, MovedContacts: moved}
		if dryRun {
			// The merged accounts as they are, not as they would be.
			for i, id := range merged {
				res.Merged[i] = byID[id]
			}
			return errDryRun
		}
		keep := uuid.Nil
		if a.PrimaryContact == uuid.Nil {
			for _, m := range merged {
				if p := byID[m].PrimaryContact; p != uuid.Nil {
					keep = p
					a.PrimaryContact = p
					break
				}
			}
		}
		if err := s.repo.MoveContacts(ctx, merged, a.ID, keep, actor); err != nil {
			return err
		}
		for _, m := range ms {
			m.PrimaryContact = uuid.Nil
		}
		return s.repo.SaveMergedAccounts(ctx, a, ms, Change{Events: mg.Events, RequestID: requestID})
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	if err != nil {
		return AccountMergeResult{}, err
	}
	return res, nil
}

// ContactMergeResult is what MergeContacts did (or would do).
type ContactMergeResult struct {
	Contact *domain.Contact
	Merged  []*domain.Contact
	Changed []string
}

// MergeContacts folds the merged contacts into survivor
// (domain.Contact.Merge), in one transaction; a merged contact that was
// its account's primary hands that over to the account's longest standing
// remaining contact. With dryRun it changes nothing.
func (s *Service) MergeContacts(ctx context.Context, survivor uuid.UUID, merged []uuid.UUID, ifMatch, requestID string, dryRun bool) (ContactMergeResult, error) {
	var res ContactMergeResult
	errDryRun := errors.New("dry run")
	ids := append([]uuid.UUID{survivor}, merged...)
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		// Primary changes lock the accounts first (see contacts.go): read
		// the contacts' accounts unlocked, lock them, then the contacts,
		// and check that none moved meanwhile.
		peek := map[uuid.UUID]uuid.UUID{}
		var accountIDs []uuid.UUID
		for _, id := range ids {
			c, err := s.repo.GetContact(ctx, id)
			if err != nil {
				return err
			}
			peek[id] = c.AccountID
			if c.AccountID != uuid.Nil && !slices.Contains(accountIDs, c.AccountID) {
				accountIDs = append(accountIDs, c.AccountID)
			}
		}
		slices.SortFunc(accountIDs, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		accounts, err := s.repo.LockAccounts(ctx, accountIDs)
		if err != nil {
			return err
		}
		byID, err := s.repo.LockContacts(ctx, ids)
		if err != nil {
			return err
		}
		for id, c := range byID {
			if c.AccountID != peek[id] {
				return apperr.Aborted("CONCURRENT_MODIFICATION", "contact %s moved to another account during the merge; retry", id)
			}
		}
		c := byID[survivor]
		if err := etag.Check(ifMatch, c.Version); err != nil {
			return err
		}
		ms := make([]*domain.Contact, len(merged))
		wasPrimary := make([]bool, len(merged))
		for i, id := range merged {
			m := *byID[id]
			ms[i], wasPrimary[i] = &m, m.Primary
		}
		actor := auth.Actor(ctx)
		region := s.region(accounts[c.AccountID])
		changed, err := c.Merge(ms, region, actor, s.now())
		if err != nil {
			return err
		}
		// A primary merged away on the survivor's own account is handed to
		// the survivor; on another account, to its oldest remaining contact.
		handOver := map[uuid.UUID]bool{}
		for i, m := range ms {
			if !wasPrimary[i] {
				continue
			}
			if m.AccountID == c.AccountID && !c.Primary {
				c.Primary = true
				changed = append(changed, string(domain.FieldPrimary))
			} else if m.AccountID != c.AccountID {
				handOver[m.AccountID] = true
			}
		}
		res = ContactMergeResult{Contact: c, Merged: ms, Changed: changed}
		if dryRun {
			for i, id := range merged {
				res.Merged[i] = byID[id]
			}
			return errDryRun
		}
		if err := s.repo.SaveMergedContacts(ctx, c, ms, region, Change{
			Events: []domain.Event{domain.ContactsMerged{Merged: ms, Changed: changed}}, RequestID: requestID,
		}); err != nil {
			return err
		}
		for _, aid := range accountIDs {
			if handOver[aid] {
				if err := s.promoteOldest(ctx, accounts[aid], uuid.Nil, actor); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	if err != nil {
		return ContactMergeResult{}, err
	}
	return res, nil
}

// OrderFact is an order as the order service's events tell it: what a
// merge needs to know of the accounts' open orders.
type OrderFact struct {
	ID, AccountID uuid.UUID
	CurrencyCode  string
	Status        string
	Version       int64
}

// ApplyOrder projects an order event's order, in the caller's (the
// inbox's) transaction.
func (s *Service) ApplyOrder(ctx context.Context, o OrderFact) error {
	return s.repo.ApplyOrder(ctx, o)
}

package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/services/lead/internal/domain"
)

// CustomerKeys is the lead service's projection of the account service's
// contacts and accounts (fed by their events): what a new lead is checked
// against besides other leads, in the same statement as the lead check.
type CustomerKeys interface {
	// SaveCustomerRecord stores c and its keys, unless a later version of
	// it is stored or it was deleted.
	SaveCustomerRecord(ctx context.Context, c domain.CustomerRecord) error
	// MoveCustomerContacts points the stored contacts ids at account.
	MoveCustomerContacts(ctx context.Context, ids []uuid.UUID, account uuid.UUID) error
}

// WithCustomerKeys keeps the projection the duplicate check reads.
func (s *Service) WithCustomerKeys(k CustomerKeys) *Service {
	s.customerKeys = k
	return s
}

// ApplyCustomerRecord keeps a contact's or account's duplicate keys (the
// account events' consumer, in its inbox transaction).
func (s *Service) ApplyCustomerRecord(ctx context.Context, c domain.CustomerRecord) error {
	if s.customerKeys == nil {
		return nil
	}
	return s.customerKeys.SaveCustomerRecord(ctx, c)
}

// ApplyCustomerMerge keeps the projection after an account or contact
// merge: the survivor as it is now, the merged records no longer matched,
// the contacts an account merge moved now the survivor's (a lead like
// them is offered the survivor to convert into).
func (s *Service) ApplyCustomerMerge(ctx context.Context, m domain.CustomerMerge) error {
	if s.customerKeys == nil {
		return nil
	}
	for _, c := range append([]domain.CustomerRecord{m.Survivor}, m.Merged...) {
		if err := s.customerKeys.SaveCustomerRecord(ctx, c); err != nil {
			return err
		}
	}
	if len(m.MovedContacts) == 0 {
		return nil
	}
	return s.customerKeys.MoveCustomerContacts(ctx, m.MovedContacts, m.Survivor.ID)
}

package app

import (
	"context"

	"github.com/crmsuite/crm/services/lead/internal/domain"
)

// CustomerKeys is the lead service's projection of the account service's
// contacts and accounts (fed by their events): what a new lead is checked
// against besides other leads, in the same statement as the lead check.
type CustomerKeys interface {
	// SaveCustomerRecord stores c and its keys, unless a later version of
	// it is stored or it was deleted.
	SaveCustomerRecord(ctx context.Context, c domain.CustomerRecord) error
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

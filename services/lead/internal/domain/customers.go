package domain

import (
	"slices"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/customerkey"
)

// CustomerState is whether a customer record's keys count as duplicates.
type CustomerState string

const (
	CustomerLive CustomerState = "LIVE"
	// CustomerInactive is a deactivated account: it counts again once
	// activated.
	CustomerInactive CustomerState = "INACTIVE"
	// CustomerDeleted is a deleted (or merged away) record: it never
	// counts again.
	CustomerDeleted CustomerState = "DELETED"
)

// CustomerRecord is a contact or an account of the account service as its
// events describe it, for duplicate detection.
type CustomerRecord struct {
	Kind        CustomerKind
	ID          uuid.UUID
	DisplayName string
	// AccountID is a contact's account, if it has one.
	AccountID uuid.UUID
	// Version is the record's (from its etag); an older one than stored
	// changes nothing.
	Version int64
	State   CustomerState
	// A contact's email addresses and phone numbers, as given.
	Emails []string
	Phones []string
	// An account's name and web domain (or web site).
	Name   string
	Domain string
}

// CustomerKey is one key a customer record can be duplicated by.
type CustomerKey struct {
	Rule DuplicateRule
	Key  string
}

// Keys returns the record's normalised keys, as a lead's (DuplicateKeys):
// a contact's emails and phones (local numbers read in defaultRegion), an
// account's folded name and web domain. A record that does not count has
// none.
func (c CustomerRecord) Keys(defaultRegion string) []CustomerKey {
	if c.State != CustomerLive {
		return nil
	}
	var out []CustomerKey
	add := func(rule DuplicateRule, key string) {
		k := CustomerKey{Rule: rule, Key: key}
		if key != "" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	for _, e := range c.Emails {
		add(RuleEmail, NormalizeEmail(e))
	}
	for _, p := range c.Phones {
		add(RulePhone, NormalizePhone(p, defaultRegion))
	}
	add(RuleCompanyName, customerkey.Fold(c.Name))
	add(RuleWebDomain, customerkey.Domain(c.Domain))
	return out
}

// CustomerMerge is an account or contact merge as the projection sees it:
// the survivor as it is after the merge, the merged records (DELETED: a
// lead like them is like the survivor) and, for accounts, the contacts
// that moved to the survivor.
type CustomerMerge struct {
	Survivor      CustomerRecord
	Merged        []CustomerRecord
	MovedContacts []uuid.UUID
}

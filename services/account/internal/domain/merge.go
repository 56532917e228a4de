package domain

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/customerkey"
)

// StateMerged accounts were merged into another (MergedInto); they stay,
// read-only, as the record of it.
const StateMerged State = "MERGED"

// ErrAccountMerged refuses any change of a merged account.
func ErrAccountMerged(a *Account) error {
	return apperr.FailedPrecondition("ACCOUNT_MERGED",
		"account %s was merged into %s and is kept, read-only, as the record of it: use that account", a.ID, a.MergedInto).
		WithMeta("account", "accounts/"+a.ID.String()).WithMeta("merged_into", "accounts/"+a.MergedInto.String())
}

// ErrContactMerged refuses any change of a merged contact.
func ErrContactMerged(c *Contact) error {
	return apperr.FailedPrecondition("CONTACT_MERGED",
		"contact %s was merged into %s and is kept, read-only, as the record of it: use that contact", c.ID, c.MergedInto).
		WithMeta("contact", "contacts/"+c.ID.String()).WithMeta("merged_into", "contacts/"+c.MergedInto.String())
}

// CheckWritable refuses changes of a merged account.
func (a *Account) CheckWritable() error {
	if a.State == StateMerged {
		return ErrAccountMerged(a)
	}
	return nil
}

// CheckWritable refuses changes of a merged contact.
func (c *Contact) CheckWritable() error {
	if c.MergedInto != uuid.Nil {
		return ErrContactMerged(c)
	}
	return nil
}

// OpenOrders is how many open orders an account has in each currency.
type OpenOrders map[string]int

// AccountMerge is what merging accounts into a survivor does.
type AccountMerge struct {
	// AddedAddresses the survivor gained.
	AddedAddresses int
	Events         []Event
}

// Merge folds merged into a, the survivor: a gains their addresses (equal
// ones once; its own defaults stay) and, where given, the type wantType;
// the merged accounts become MERGED, pointing at a. open holds the merged
// accounts' open orders by currency. Contacts move in the repository.
func (a *Account) Merge(merged []*Account, wantType AccountType, open map[uuid.UUID]OpenOrders, actor string, now time.Time) (AccountMerge, error) {
	var vs apperr.Violations
	seen := map[uuid.UUID]bool{}
	for i, m := range merged {
		if m.ID == a.ID {
			if len(merged) == 1 {
				vs.Add("merged", "MERGE_INTO_ITSELF", "account %s cannot be merged into itself", a.ID)
			} else {
				vs.Add("merged", "SURVIVOR_AMONG_MERGED", "the survivor %s is also listed among the merged accounts (position %d)", a.ID, i)
			}
		}
		if seen[m.ID] && m.ID != a.ID {
			vs.Add("merged", "REPEATED_ACCOUNT", "account %s is listed twice (position %d)", m.ID, i)
		}
		seen[m.ID] = true
	}
	if wantType != "" && wantType != TypeCompany && wantType != TypeIndividual {
		vs.Add("type", "INVALID_TYPE", "type must be COMPANY or INDIVIDUAL")
	}
	if err := vs.Err(); err != nil {
		return AccountMerge{}, err
	}
	for _, x := range append([]*Account{a}, merged...) {
		if x.State == StateMerged {
			return AccountMerge{}, apperr.FailedPrecondition("ACCOUNT_ALREADY_MERGED",
				"account %s was already merged into %s; merge into that account instead", x.ID, x.MergedInto).
				WithMeta("account", "accounts/"+x.ID.String()).WithMeta("merged_into", "accounts/"+x.MergedInto.String())
		}
	}
	if wantType == "" {
		for _, m := range merged {
			if m.Type != a.Type {
				return AccountMerge{}, apperr.FailedPrecondition("ACCOUNT_TYPES_DIFFER",
					"account %s is %s and account %s is %s: say which type the survivor takes (type)", a.ID, a.Type, m.ID, m.Type).
					WithMeta("survivor_type", string(a.Type)).WithMeta("merged_type", string(m.Type))
			}
		}
	}
	for _, m := range merged {
		for cur, n := range open[m.ID] {
			if n > 0 && cur != a.CurrencyCode {
				return AccountMerge{}, apperr.FailedPrecondition("OPEN_ORDERS_IN_OTHER_CURRENCY",
					"account %s has %d open order(s) in %s and account %s bills in %q: close or cancel them first, or merge into an account in %s",
					m.ID, n, cur, a.ID, a.CurrencyCode, cur).
					WithMeta("account", "accounts/"+m.ID.String()).WithMeta("currency_code", cur).WithMeta("open_orders", strconv.Itoa(n))
			}
		}
	}

	before := *a
	before.Addresses = slices.Clone(a.Addresses)
	before.CustomFields = maps.Clone(a.CustomFields)
	if wantType != "" {
		a.Type = wantType
	}
	added := 0
	for _, m := range merged {
		for _, ad := range m.Addresses {
			if slices.ContainsFunc(a.Addresses, func(x Address) bool { return sameAddress(x, ad) }) {
				continue
			}
			ad.Default = false
			ad.Lines = slices.Clone(ad.Lines)
			a.Addresses = append(a.Addresses, ad)
			added++
		}
		for k, v := range m.CustomFields {
			if _, own := a.CustomFields[k]; !own {
				a.CustomFields[k] = v
			}
		}
		if a.Website == "" && m.Website != "" {
			a.Website, a.Domain = m.Website, m.Domain
		}
		if a.Phone == "" {
			a.Phone = m.Phone
		}
	}
	a.defaultAddresses()
	if err := a.check(); err != nil {
		return AccountMerge{}, err
	}
	for _, m := range merged {
		m.State, m.MergedInto = StateMerged, a.ID
		m.touch(actor, now)
	}
	a.touch(actor, now)
	ids := make([]uuid.UUID, len(merged))
	for i, m := range merged {
		ids[i] = m.ID
	}
	evs := []Event{AccountsMerged{Merged: merged, Changed: before.diff(a)}}
	if added > 0 {
		evs = append(evs, AddressChanged{Previous: before.Addresses})
	}
	return AccountMerge{AddedAddresses: added, Events: evs}, nil
}

// sameAddress compares postal addresses, ignoring case, spacing and which
// is the default.
func sameAddress(x, y Address) bool {
	fold := func(lines ...string) string {
		out := ""
		for _, l := range lines {
			out += customerkey.Fold(l) + "|"
		}
		return out
	}
	return x.Type == y.Type && fold(x.Lines...) == fold(y.Lines...) &&
		fold(x.Recipient, x.Locality, x.AdministrativeArea, x.PostalCode, x.RegionCode) ==
			fold(y.Recipient, y.Locality, y.AdministrativeArea, y.PostalCode, y.RegionCode)
}

// MergeContacts folds merged into c, the survivor: c gains their email
// addresses and phone numbers (equal ones once, by their matching keys
// read in region) and their custom fields where it has none of its own,
// and its empty names, title, department and birthday from them; the
// merged contacts point at c and stop being primary. It returns c's
// changed fields.
func (c *Contact) Merge(merged []*Contact, region, actor string, now time.Time) ([]string, error) {
	var vs apperr.Violations
	seen := map[uuid.UUID]bool{}
	for i, m := range merged {
		if m.ID == c.ID {
			if len(merged) == 1 {
				vs.Add("merged", "MERGE_INTO_ITSELF", "contact %s cannot be merged into itself", c.ID)
			} else {
				vs.Add("merged", "SURVIVOR_AMONG_MERGED", "the survivor %s is also listed among the merged contacts (position %d)", c.ID, i)
			}
		}
		if seen[m.ID] && m.ID != c.ID {
			vs.Add("merged", "REPEATED_CONTACT", "contact %s is listed twice (position %d)", m.ID, i)
		}
		seen[m.ID] = true
	}
	if err := vs.Err(); err != nil {
		return nil, err
	}
	for _, x := range append([]*Contact{c}, merged...) {
		if x.MergedInto != uuid.Nil {
			return nil, apperr.FailedPrecondition("CONTACT_ALREADY_MERGED",
				"contact %s was already merged into %s; merge into that contact instead", x.ID, x.MergedInto).
				WithMeta("contact", "contacts/"+x.ID.String()).WithMeta("merged_into", "contacts/"+x.MergedInto.String())
		}
	}
	next := *c
	next.Emails, next.Phones = slices.Clone(c.Emails), slices.Clone(c.Phones)
	next.Roles = slices.Clone(c.Roles)
	next.CustomFields = maps.Clone(c.CustomFields)
	emails, phones := map[string]bool{}, map[string]bool{}
	for _, e := range c.Emails {
		emails[customerkey.Email(e.Address)] = true
	}
	for _, p := range c.Phones {
		phones[customerkey.Phone(p.Number, region)] = true
	}
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	for _, m := range merged {
		for _, e := range m.Emails {
			if k := customerkey.Email(e.Address); !emails[k] && len(next.Emails) < 10 {
				emails[k] = true
				e.Primary = false
				next.Emails = append(next.Emails, e)
			}
		}
		for _, p := range m.Phones {
			if k := customerkey.Phone(p.Number, region); !phones[k] && len(next.Phones) < 10 {
				phones[k] = true
				p.Primary = false
				next.Phones = append(next.Phones, p)
			}
		}
		// The person plays every role either record knew (retired ones
		// included: they were given, not given anew).
		for _, r := range m.Roles {
			if !slices.Contains(next.Roles, r) && len(next.Roles) < MaxContactRoles {
				next.Roles = append(next.Roles, r)
			}
		}
		for k, v := range m.CustomFields {
			if _, own := next.CustomFields[k]; !own && len(next.CustomFields) < MaxCustomFields {
				next.CustomFields[k] = v
			}
		}
		fill(&next.FirstName, m.FirstName)
		fill(&next.LastName, m.LastName)
		fill(&next.Title, m.Title)
		fill(&next.Department, m.Department)
		if next.Birthday == nil && m.Birthday != nil {
			b := *m.Birthday
			next.Birthday = &b
		}
	}
	if err := next.check(); err != nil {
		return nil, err
	}
	changed := c.diff(&next)
	*c = next
	c.Touch(actor, now)
	for _, m := range merged {
		m.MergedInto, m.Primary = c.ID, false
		m.Touch(actor, now)
	}
	return changed, nil
}

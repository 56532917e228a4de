package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// Duplicate refusals.
const (
	ReasonDuplicateAccount = "DUPLICATE_ACCOUNT"
	ReasonDuplicateContact = "DUPLICATE_CONTACT"
)

// errDuplicate refuses a create that looks like existing records: one
// precondition violation per record and rule, as the lead service's
// DUPLICATE_LEAD.
func errDuplicate(reason, what string, subjects, names []string, rules [][]string) error {
	e := apperr.FailedPrecondition(reason,
		"the %s looks like %d existing one(s), first %q (%s); set allow_duplicate to save it anyway", what, len(subjects), names[0], subjects[0])
	for i, subject := range subjects {
		for _, r := range rules[i] {
			e.Preconditions = append(e.Preconditions, apperr.PreconditionViolation{
				Type: "DUPLICATE_" + r, Subject: subject,
				Description: fmt.Sprintf("same %s as %q", strings.ToLower(strings.ReplaceAll(r, "_", " ")), names[i]),
			})
		}
	}
	return e
}

func errDuplicateAccount(ms []AccountMatch) error {
	var subjects, names []string
	var rules [][]string
	for _, m := range ms {
		subjects, names, rules = append(subjects, "accounts/"+m.Account.ID.String()), append(names, m.Account.DisplayName), append(rules, m.Rules)
	}
	return errDuplicate(ReasonDuplicateAccount, "account", subjects, names, rules)
}

func errDuplicateContact(ms []ContactMatch) error {
	var subjects, names []string
	var rules [][]string
	for _, m := range ms {
		subjects = append(subjects, "contacts/"+m.Contact.ID.String())
		names = append(names, strings.TrimSpace(m.Contact.FirstName+" "+m.Contact.LastName))
		rules = append(rules, m.Rules)
	}
	return errDuplicate(ReasonDuplicateContact, "contact", subjects, names, rules)
}

// FindAccountDuplicates lists the accounts that look like account id.
func (s *Service) FindAccountDuplicates(ctx context.Context, id uuid.UUID) ([]AccountMatch, error) {
	if _, err := s.repo.GetAccount(ctx, id); err != nil {
		return nil, err
	}
	nameKey, domain, err := s.repo.AccountKeys(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.repo.AccountDuplicates(ctx, id, nameKey, domain, false, 100)
}

// FindContactDuplicates lists the contacts that look like contact id.
func (s *Service) FindContactDuplicates(ctx context.Context, id uuid.UUID) ([]ContactMatch, error) {
	if _, err := s.repo.GetContact(ctx, id); err != nil {
		return nil, err
	}
	emails, phones, err := s.repo.ContactKeys(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.repo.ContactDuplicates(ctx, id, emails, phones, false, 100)
}

// Duplicate rules of each collection, in listing order.
var (
	AccountDuplicateRules = []string{RuleCompanyName, RuleWebsiteDomain}
	ContactDuplicateRules = []string{RuleEmail, RulePhone}
)

// ListDuplicateGroups pages through groups of accounts or contacts
// (collection) sharing a key; rule "" means every rule of the collection.
func (s *Service) ListDuplicateGroups(ctx context.Context, collection, rule string, pageSize int, pageToken string) ([]DuplicateGroup, string, error) {
	rules := AccountDuplicateRules
	if collection == "contacts" {
		rules = ContactDuplicateRules
	}
	if rule != "" {
		rules = []string{rule}
	}
	return s.repo.DuplicateGroups(ctx, collection, rules, pageSize, pageToken)
}

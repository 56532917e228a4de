package domain

import (
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/customerkey"
)

// DuplicateRule is a way two leads can look like the same person.
type DuplicateRule string

const (
	RuleEmail          DuplicateRule = "EMAIL"
	RulePhone          DuplicateRule = "PHONE"
	RuleCompanyAndName DuplicateRule = "COMPANY_AND_NAME"
	// A lead's company is an account's name, or its web site's domain an
	// account's (customer records only).
	RuleCompanyName DuplicateRule = "COMPANY_NAME"
	RuleWebDomain   DuplicateRule = "WEB_DOMAIN"
)

// DuplicateKeys are a lead's normalised values that duplicates share. An
// empty key matches nothing. Email and Phone match leads and contacts,
// CompanyAndName leads, Company and WebDomain accounts.
type DuplicateKeys struct {
	Email          string
	Phone          string
	CompanyAndName string
	Company        string
	WebDomain      string
}

// DuplicateKeys returns l's keys. Local phone numbers are read in the
// country of l's address, else in defaultRegion (ISO 3166-1 alpha-2; may
// be empty, then only international numbers get their E.164 form).
func (l *Lead) DuplicateKeys(defaultRegion string) DuplicateKeys {
	region := l.Address.RegionCode
	if region == "" {
		region = defaultRegion
	}
	return DuplicateKeys{
		Email:          NormalizeEmail(l.Email),
		Phone:          NormalizePhone(l.Phone, region),
		CompanyAndName: CompanyAndNameKey(l.FirstName, l.LastName, l.Company),
		Company:        customerkey.Fold(l.Company),
		WebDomain:      customerkey.Domain(l.Website),
	}
}

// NormalizeEmail and NormalizePhone are the suite-wide keys (see
// customerkey), so leads match the account service's contacts too.
func NormalizeEmail(s string) string { return customerkey.Email(s) }

func NormalizePhone(raw, region string) string { return customerkey.Phone(raw, region) }

// CompanyAndNameKey is "company|first last", case- and space-folded; empty
// unless the lead has both a company and a person's name.
func CompanyAndNameKey(first, last, company string) string {
	name := customerkey.Fold(first + " " + last)
	company = customerkey.Fold(company)
	if company == "" || name == "" {
		return ""
	}
	return company + "|" + name
}

// DuplicateMatch is a lead that looks like another, and why.
type DuplicateMatch struct {
	LeadID uuid.UUID
	Rules  []DuplicateRule
}

// CustomerKind is the kind of an existing customer record a lead can
// duplicate.
type CustomerKind string

const (
	CustomerContact CustomerKind = "CONTACT"
	CustomerAccount CustomerKind = "ACCOUNT"
)

// CustomerMatch is an existing contact or account (the account service's,
// as the lead service's projection knows it) that a lead looks like.
type CustomerMatch struct {
	Kind        CustomerKind
	ID          uuid.UUID
	DisplayName string
	// AccountID is a contact's account (uuid.Nil if it has none).
	AccountID uuid.UUID
	Rules     []DuplicateRule
}

// Name is the record's resource name.
func (m CustomerMatch) Name() string {
	if m.Kind == CustomerContact {
		return "contacts/" + m.ID.String()
	}
	return "accounts/" + m.ID.String()
}

// conversion says how to convert a lead into the record instead: the
// :qualify fields naming it.
func (m CustomerMatch) conversion() string {
	switch {
	case m.Kind == CustomerAccount:
		return fmt.Sprintf("existing_account %q", m.Name())
	case m.AccountID != uuid.Nil:
		return fmt.Sprintf("existing_account %q and existing_contact %q", "accounts/"+m.AccountID.String(), m.Name())
	}
	return fmt.Sprintf("existing_contact %q", m.Name())
}

// ErrDuplicate refuses a change that would make a lead look like other
// leads or existing customers. Each match is a precondition violation
// naming the record and the rule; a customer's also says how to convert
// the lead into it, and the first contact and account matched are in the
// metadata as existing_contact and existing_account (:qualify's fields).
func ErrDuplicate(matches []DuplicateMatch, customers []CustomerMatch) error {
	var e *apperr.Error
	if len(customers) == 0 {
		e = apperr.FailedPrecondition("DUPLICATE_LEAD",
			"the lead looks like %d existing lead(s); set allow_duplicate to save it anyway, or merge them", len(matches))
	} else {
		first := customers[0]
		leads := ""
		if len(matches) > 0 {
			leads = fmt.Sprintf(" and %d existing lead(s)", len(matches))
		}
		e = apperr.FailedPrecondition("DUPLICATE_LEAD",
			"the lead looks like an existing customer: %s %q (%s)%s; convert the lead into it (:qualify with %s) rather than keep both, or set allow_duplicate to save it anyway",
			strings.ToLower(string(first.Kind)), first.DisplayName, first.Name(), leads, first.conversion())
	}
	for _, m := range matches {
		for _, r := range m.Rules {
			e.Preconditions = append(e.Preconditions, apperr.PreconditionViolation{
				Type:        "DUPLICATE_" + string(r),
				Subject:     "leads/" + m.LeadID.String(),
				Description: fmt.Sprintf("same %s", ruleText(r)),
			})
		}
	}
	for _, c := range customers {
		for _, r := range c.Rules {
			e.Preconditions = append(e.Preconditions, apperr.PreconditionViolation{
				Type:    "DUPLICATE_" + string(r),
				Subject: c.Name(),
				Description: fmt.Sprintf("same %s as %s %q; convert into it: :qualify with %s",
					ruleText(r), strings.ToLower(string(c.Kind)), c.DisplayName, c.conversion()),
			})
		}
		if c.Kind == CustomerContact && e.Metadata["existing_contact"] == "" {
			e.WithMeta("existing_contact", c.Name())
			if c.AccountID != uuid.Nil && e.Metadata["existing_account"] == "" {
				e.WithMeta("existing_account", "accounts/"+c.AccountID.String())
			}
		}
		if c.Kind == CustomerAccount && e.Metadata["existing_account"] == "" {
			e.WithMeta("existing_account", c.Name())
		}
	}
	return e
}

func ruleText(r DuplicateRule) string {
	if r == RuleWebDomain {
		return "web site domain"
	}
	return strings.ToLower(strings.ReplaceAll(string(r), "_", " "))
}

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
)

// DuplicateKeys are a lead's normalised values that duplicates share. An
// empty key matches nothing.
type DuplicateKeys struct {
	Email          string
	Phone          string
	CompanyAndName string
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

// ErrDuplicate refuses a change that would make a lead look like others.
func ErrDuplicate(matches []DuplicateMatch) error {
	e := apperr.FailedPrecondition("DUPLICATE_LEAD",
		"the lead looks like %d existing lead(s); set allow_duplicate to save it anyway, or merge them", len(matches))
	for _, m := range matches {
		for _, r := range m.Rules {
			e.Preconditions = append(e.Preconditions, apperr.PreconditionViolation{
				Type:        "DUPLICATE_" + string(r),
				Subject:     "leads/" + m.LeadID.String(),
				Description: fmt.Sprintf("same %s", strings.ToLower(strings.ReplaceAll(string(r), "_", " "))),
			})
		}
	}
	return e
}

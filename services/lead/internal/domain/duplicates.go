package domain

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/nyaruka/phonenumbers"

	"github.com/crmsuite/crm/platform/apperr"
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

// NormalizeEmail folds case and trims space. Plus-addressing stays: it is
// the address the person gave.
func NormalizeEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// NormalizePhone returns the E.164 form of a phone number ("+4930123456")
// when its country is known (written with +, or region given), and its
// digits otherwise, so that "030 123456" in Germany and "+49 30 123456"
// match.
func NormalizePhone(raw, region string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	if num, err := phonenumbers.Parse(raw, strings.ToUpper(region)); err == nil && phonenumbers.IsPossibleNumber(num) {
		// E.164 is + country code + national significant number; cheaper
		// than phonenumbers.Format, which also handles other formats.
		return "+" + strconv.Itoa(int(num.GetCountryCode())) + phonenumbers.GetNationalSignificantNumber(num)
	}
	var b strings.Builder
	for i, r := range raw {
		if (r >= '0' && r <= '9') || (r == '+' && i == 0) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CompanyAndNameKey is "company|first last", case- and space-folded; empty
// unless the lead has both a company and a person's name.
func CompanyAndNameKey(first, last, company string) string {
	name := fold(first + " " + last)
	company = fold(company)
	if company == "" || name == "" {
		return ""
	}
	return company + "|" + name
}

func fold(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
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

// Package domain holds accounts and contacts, their rules and the events
// their changes raise. It knows nothing of gRPC or Postgres.
package domain

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/customerkey"
	"github.com/crmsuite/crm/platform/money"
)

// AccountType says whether the customer is a company or a person.
type AccountType string

const (
	TypeCompany    AccountType = "COMPANY"
	TypeIndividual AccountType = "INDIVIDUAL"
)

// State of an account: accounts are deactivated, never deleted.
type State string

const (
	StateActive   State = "ACTIVE"
	StateInactive State = "INACTIVE"
)

// Relationship is what the business is to an account.
type Relationship string

const (
	RelationshipCustomer Relationship = "CUSTOMER"
	RelationshipProspect Relationship = "PROSPECT"
	RelationshipSupplier Relationship = "SUPPLIER"
	RelationshipPartner  Relationship = "PARTNER"
)

// AddressType is billing or shipping.
type AddressType string

const (
	AddressBilling  AddressType = "BILLING"
	AddressShipping AddressType = "SHIPPING"
)

// Address is a postal address of an account.
type Address struct {
	Type               AddressType
	Default            bool
	Recipient          string
	Lines              []string
	Locality           string
	AdministrativeArea string
	PostalCode         string
	RegionCode         string
}

// Account is a customer.
type Account struct {
	ID           uuid.UUID
	Type         AccountType
	Relationship Relationship
	DisplayName  string
	Website      string
	Domain       string
	Industry     string
	Phone        string
	Owner        string
	CurrencyCode string
	// CreditLimit in CurrencyCode; nil when none is set.
	CreditLimit  *moneypb.Money
	PaymentTerms string
	TaxID        string
	TaxCategory  string
	PriceList    string
	Addresses    []Address
	State        State
	// PrimaryContact is read from the contacts; uuid.Nil when none.
	PrimaryContact uuid.UUID
	// SourceLead is the lead a conversion created the account from.
	SourceLead   uuid.UUID
	Description  string
	CustomFields map[string]string
	CreatedAt    time.Time
	CreatedBy    string
	UpdatedAt    time.Time
	UpdatedBy    string
	// Version increases with every change; the etag is derived from it.
	Version int64
	// MergedInto is the survivor a MERGED account was merged into.
	MergedInto uuid.UUID
}

// Field names a settable account field, as in the API.
type Field string

const (
	FieldType         Field = "type"
	FieldDisplayName  Field = "display_name"
	FieldWebsite      Field = "website"
	FieldDomain       Field = "domain"
	FieldIndustry     Field = "industry"
	FieldPhone        Field = "phone"
	FieldOwner        Field = "owner"
	FieldCurrencyCode Field = "currency_code"
	FieldCreditLimit  Field = "credit_limit"
	FieldPaymentTerms Field = "payment_terms"
	FieldTaxID        Field = "tax_id"
	FieldTaxCategory  Field = "tax_category"
	FieldPriceList    Field = "price_list"
	FieldAddresses    Field = "addresses"
	FieldDescription  Field = "description"
	FieldCustomFields Field = "custom_fields"
	FieldRelationship Field = "relationship"
)

// AccountFields can change through UpdateAccount; state changes through
// Deactivate and Activate.
var AccountFields = []Field{
	FieldType, FieldDisplayName, FieldWebsite, FieldDomain, FieldIndustry, FieldPhone, FieldOwner,
	FieldCurrencyCode, FieldCreditLimit, FieldPaymentTerms, FieldTaxID, FieldTaxCategory, FieldPriceList,
	FieldAddresses, FieldDescription, FieldCustomFields, FieldRelationship,
}

// MaxCustomFields an account or contact may have.
const MaxCustomFields = 50

// NewAccount creates an account from what the caller gave; id may be
// uuid.Nil for a new one (conversions bring their own).
func NewAccount(in Account, id uuid.UUID, actor string, now time.Time) (*Account, []Event, error) {
	a := in
	a.ID = id
	if a.ID == uuid.Nil {
		a.ID = uuid.Must(uuid.NewV7())
	}
	a.normalize()
	if a.Owner == "" {
		a.Owner = actor
	}
	if a.Domain == "" {
		a.Domain = customerkey.Domain(a.Website)
	}
	if a.CurrencyCode == "" && a.CreditLimit != nil {
		a.CurrencyCode = a.CreditLimit.GetCurrencyCode()
	}
	a.defaultAddresses()
	if err := a.check(); err != nil {
		return nil, nil, err
	}
	a.State = StateActive
	a.PrimaryContact = uuid.Nil
	a.CreatedAt, a.CreatedBy, a.UpdatedAt, a.UpdatedBy = now, actor, now, actor
	a.Version = 1
	return &a, []Event{AccountCreated{SourceLead: a.SourceLead}}, nil
}

func (a *Account) normalize() {
	for _, s := range []*string{&a.DisplayName, &a.Website, &a.Industry, &a.Phone, &a.Owner, &a.CurrencyCode, &a.TaxID, &a.PriceList} {
		*s = strings.TrimSpace(*s)
	}
	a.Domain = strings.ToLower(strings.TrimSpace(a.Domain))
	if a.Type == "" {
		a.Type = TypeCompany
	}
	if a.Relationship == "" {
		a.Relationship = RelationshipCustomer
	}
	if a.CustomFields == nil {
		a.CustomFields = map[string]string{}
	}
	if a.Addresses == nil {
		a.Addresses = []Address{}
	}
}

// defaultAddresses makes the first address of a type its default when
// none of that type is marked.
func (a *Account) defaultAddresses() {
	marked := map[AddressType]bool{}
	for _, ad := range a.Addresses {
		marked[ad.Type] = marked[ad.Type] || ad.Default
	}
	for i := range a.Addresses {
		if t := a.Addresses[i].Type; !marked[t] {
			a.Addresses[i].Default, marked[t] = true, true
		}
	}
}

// check holds for every account at every time.
func (a *Account) check() error {
	var vs apperr.Violations
	if a.DisplayName == "" {
		vs.Add(string(FieldDisplayName), "DISPLAY_NAME_REQUIRED", "an account needs a display name")
	}
	if a.Type != TypeCompany && a.Type != TypeIndividual {
		vs.Add(string(FieldType), "INVALID_TYPE", "type must be COMPANY or INDIVIDUAL")
	}
	switch a.Relationship {
	case RelationshipCustomer, RelationshipProspect, RelationshipSupplier, RelationshipPartner:
	default:
		vs.Add(string(FieldRelationship), "INVALID_RELATIONSHIP", "relationship must be CUSTOMER, PROSPECT, SUPPLIER or PARTNER")
	}
	if a.CurrencyCode != "" && !money.ValidCurrency(a.CurrencyCode) {
		vs.Add(string(FieldCurrencyCode), "INVALID_CURRENCY", "%q is not an ISO 4217 currency code", a.CurrencyCode)
	}
	if a.CreditLimit != nil {
		vs = append(vs, money.Check(string(FieldCreditLimit), a.CreditLimit, false)...)
		if c := a.CreditLimit.GetCurrencyCode(); c != a.CurrencyCode {
			vs.Add(string(FieldCreditLimit)+".currency_code", "CURRENCY_MISMATCH",
				"the credit limit must be in the account's currency %q, not %q", a.CurrencyCode, c)
		}
	}
	defaults := map[AddressType]int{}
	for i, ad := range a.Addresses {
		f := fmt.Sprintf("%s[%d]", FieldAddresses, i)
		if ad.Type != AddressBilling && ad.Type != AddressShipping {
			vs.Add(f+".type", "ADDRESS_TYPE_REQUIRED", "an address is BILLING or SHIPPING")
		}
		if strings.TrimSpace(ad.Locality) == "" {
			vs.Add(f+".locality", "LOCALITY_REQUIRED", "an address needs a city or town")
		}
		if len(ad.RegionCode) != 2 || strings.ToUpper(ad.RegionCode) != ad.RegionCode {
			vs.Add(f+".region_code", "REGION_CODE_REQUIRED", "an address needs an ISO 3166-1 alpha-2 country code")
		}
		if ad.Default {
			defaults[ad.Type]++
			if defaults[ad.Type] == 2 {
				vs.Add(f+".default", "TWO_DEFAULT_ADDRESSES", "only one %s address can be the default", ad.Type)
			}
		}
	}
	if len(a.CustomFields) > MaxCustomFields {
		vs.Add(string(FieldCustomFields), "TOO_MANY_CUSTOM_FIELDS", "at most %d custom fields", MaxCustomFields)
	}
	return vs.Err()
}

// BillingCountry is the region code of the default billing address, "" if
// there is none: the country of the account's local phone numbers.
func (a *Account) BillingCountry() string {
	for _, ad := range a.Addresses {
		if ad.Type == AddressBilling && ad.Default {
			return ad.RegionCode
		}
	}
	return ""
}

// PhoneRegion is where the account's and its contacts' local numbers are
// read: the billing country, else fallback.
func (a *Account) PhoneRegion(fallback string) string {
	if c := a.BillingCountry(); c != "" {
		return c
	}
	return fallback
}

// Update sets the fields in mask to their values in patch. A mask entry
// "custom_fields.<key>" sets or removes one custom field.
func (a *Account) Update(patch Account, mask []Field, actor string, now time.Time) ([]Event, error) {
	if err := a.CheckWritable(); err != nil {
		return nil, err
	}
	next := *a
	next.CustomFields = maps.Clone(a.CustomFields)
	next.Addresses = slices.Clone(a.Addresses)
	patch.normalize()
	inMask := func(f Field) bool { return slices.Contains(mask, f) }
	var vs apperr.Violations
	for _, f := range mask {
		switch f {
		case FieldType:
			next.Type = patch.Type
		case FieldRelationship:
			next.Relationship = patch.Relationship
		case FieldDisplayName:
			next.DisplayName = patch.DisplayName
		case FieldWebsite:
			next.Website = patch.Website
			// A domain derived from the old site follows the new one.
			if !inMask(FieldDomain) && (a.Domain == "" || a.Domain == customerkey.Domain(a.Website)) {
				next.Domain = customerkey.Domain(patch.Website)
			}
		case FieldDomain:
			next.Domain = patch.Domain
			if next.Domain == "" {
				next.Domain = customerkey.Domain(next.Website)
			}
		case FieldIndustry:
			next.Industry = patch.Industry
		case FieldPhone:
			next.Phone = patch.Phone
		case FieldOwner:
			next.Owner = patch.Owner
			if next.Owner == "" {
				vs.Add(string(f), "OWNER_REQUIRED", "owner cannot be cleared")
			}
		case FieldCurrencyCode:
			next.CurrencyCode = patch.CurrencyCode
		case FieldCreditLimit:
			next.CreditLimit = patch.CreditLimit
			if next.CreditLimit != nil && next.CurrencyCode == "" && !inMask(FieldCurrencyCode) {
				next.CurrencyCode = next.CreditLimit.GetCurrencyCode()
			}
		case FieldPaymentTerms:
			next.PaymentTerms = patch.PaymentTerms
		case FieldTaxID:
			next.TaxID = patch.TaxID
		case FieldTaxCategory:
			next.TaxCategory = patch.TaxCategory
		case FieldPriceList:
			next.PriceList = patch.PriceList
		case FieldAddresses:
			next.Addresses = slices.Clone(patch.Addresses)
		case FieldDescription:
			next.Description = patch.Description
		case FieldCustomFields:
			next.CustomFields = maps.Clone(patch.CustomFields)
		default:
			key, ok := strings.CutPrefix(string(f), string(FieldCustomFields)+".")
			if !ok || key == "" {
				vs.Add("update_mask", "FIELD_NOT_UPDATABLE", "%s cannot be updated", f)
				continue
			}
			if v, ok := patch.CustomFields[key]; ok {
				next.CustomFields[key] = v
			} else {
				delete(next.CustomFields, key)
			}
		}
	}
	if err := vs.Err(); err != nil {
		return nil, err
	}
	next.normalize()
	next.defaultAddresses()
	if err := next.check(); err != nil {
		return nil, err
	}
	changed := a.diff(&next)
	if len(changed) == 0 {
		return nil, nil
	}
	evs := []Event{AccountUpdated{Changed: changed}}
	if slices.Contains(changed, string(FieldAddresses)) {
		evs = append(evs, AddressChanged{Previous: a.Addresses})
	}
	*a = next
	a.touch(actor, now)
	return evs, nil
}

func (a *Account) diff(o *Account) []string {
	var changed []string
	add := func(f Field, differs bool) {
		if differs {
			changed = append(changed, string(f))
		}
	}
	add(FieldType, a.Type != o.Type)
	add(FieldRelationship, a.Relationship != o.Relationship)
	add(FieldDisplayName, a.DisplayName != o.DisplayName)
	add(FieldWebsite, a.Website != o.Website)
	add(FieldDomain, a.Domain != o.Domain)
	add(FieldIndustry, a.Industry != o.Industry)
	add(FieldPhone, a.Phone != o.Phone)
	add(FieldOwner, a.Owner != o.Owner)
	add(FieldCurrencyCode, a.CurrencyCode != o.CurrencyCode)
	add(FieldCreditLimit, !proto.Equal(a.CreditLimit, o.CreditLimit))
	add(FieldPaymentTerms, a.PaymentTerms != o.PaymentTerms)
	add(FieldTaxID, a.TaxID != o.TaxID)
	add(FieldTaxCategory, a.TaxCategory != o.TaxCategory)
	add(FieldPriceList, a.PriceList != o.PriceList)
	add(FieldAddresses, !slices.EqualFunc(a.Addresses, o.Addresses, func(x, y Address) bool {
		return x.Type == y.Type && x.Default == y.Default && x.Recipient == y.Recipient && slices.Equal(x.Lines, y.Lines) &&
			x.Locality == y.Locality && x.AdministrativeArea == y.AdministrativeArea && x.PostalCode == y.PostalCode && x.RegionCode == y.RegionCode
	}))
	add(FieldDescription, a.Description != o.Description)
	add(FieldCustomFields, !maps.Equal(a.CustomFields, o.CustomFields))
	return changed
}

func (a *Account) touch(actor string, now time.Time) {
	a.UpdatedAt, a.UpdatedBy = now, actor
	a.Version++
}

// Deactivate marks an active account INACTIVE.
func (a *Account) Deactivate(reason, actor string, now time.Time) ([]Event, error) {
	if err := a.CheckWritable(); err != nil {
		return nil, err
	}
	if a.State == StateInactive {
		return nil, apperr.FailedPrecondition("ACCOUNT_ALREADY_INACTIVE", "account %s is already inactive", a.ID)
	}
	a.State = StateInactive
	a.touch(actor, now)
	return []Event{AccountDeactivated{Reason: strings.TrimSpace(reason)}}, nil
}

// Activate makes an inactive account ACTIVE again.
func (a *Account) Activate(actor string, now time.Time) ([]Event, error) {
	if err := a.CheckWritable(); err != nil {
		return nil, err
	}
	if a.State == StateActive {
		return nil, apperr.FailedPrecondition("ACCOUNT_ALREADY_ACTIVE", "account %s is already active", a.ID)
	}
	a.State = StateActive
	a.touch(actor, now)
	return []Event{AccountActivated{}}, nil
}

// ErrAccountNotFound is returned for an account that does not exist.
func ErrAccountNotFound(id uuid.UUID) error {
	return apperr.NotFound("ACCOUNT_NOT_FOUND", "account %s not found", id)
}

// ErrAccountMissing is the error for a contact pointing at an account that
// does not exist: the request is well formed, the world is not as it
// assumes.
func ErrAccountMissing(id uuid.UUID) error {
	e := apperr.FailedPrecondition("ACCOUNT_NOT_FOUND", "account %s does not exist", id)
	e.Preconditions = []apperr.PreconditionViolation{{
		Type: "ACCOUNT_NOT_FOUND", Subject: "accounts/" + id.String(), Description: "the contact's account must exist",
	}}
	return e
}

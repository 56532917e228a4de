package domain

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/customerkey"
)

// Email is one of a contact's email addresses.
type Email struct {
	Address string
	Type    string
	Primary bool
}

// Phone is one of a contact's phone numbers.
type Phone struct {
	Number  string
	Type    string
	Primary bool
}

// Date is a calendar date; zero parts are unknown (a birthday without year).
type Date struct{ Year, Month, Day int32 }

// Contact is a person at a customer, or on its own.
type Contact struct {
	ID         uuid.UUID
	FirstName  string
	LastName   string
	Title      string
	Department string
	Emails     []Email
	Phones     []Phone
	Birthday   *Date
	// Roles are contact role ids (see ContactRole), in the order given.
	Roles []string
	// AccountID is uuid.Nil for a contact without an account.
	AccountID uuid.UUID
	// Primary marks the primary contact of its account.
	Primary      bool
	SourceLead   uuid.UUID
	Owner        string
	CustomFields map[string]string
	CreatedAt    time.Time
	CreatedBy    string
	UpdatedAt    time.Time
	UpdatedBy    string
	Version      int64
	// MergedInto is the survivor a merged contact was merged into.
	MergedInto uuid.UUID
}

// Contact field names, as in the API.
const (
	FieldFirstName  Field = "first_name"
	FieldLastName   Field = "last_name"
	FieldTitle      Field = "title"
	FieldDepartment Field = "department"
	FieldEmails     Field = "emails"
	FieldPhones     Field = "phones"
	FieldBirthday   Field = "birthday"
	FieldAccount    Field = "account"
	FieldPrimary    Field = "primary"
	FieldRoles      Field = "roles"
)

// ContactFields can change through UpdateContact.
var ContactFields = []Field{
	FieldFirstName, FieldLastName, FieldTitle, FieldDepartment, FieldEmails, FieldPhones, FieldBirthday,
	FieldAccount, FieldPrimary, FieldOwner, FieldCustomFields, FieldRoles,
}

// NewContact creates a contact; id may be uuid.Nil for a new one. Whether
// it is primary is settled with its account (see app).
func NewContact(in Contact, id uuid.UUID, actor string, now time.Time) (*Contact, error) {
	c := in
	c.ID = id
	if c.ID == uuid.Nil {
		c.ID = uuid.Must(uuid.NewV7())
	}
	c.normalize()
	if c.AccountID == uuid.Nil {
		c.Primary = false
	}
	if c.Owner == "" {
		c.Owner = actor
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	c.CreatedAt, c.CreatedBy, c.UpdatedAt, c.UpdatedBy = now, actor, now, actor
	c.Version = 1
	return &c, nil
}

func (c *Contact) normalize() {
	for _, s := range []*string{&c.FirstName, &c.LastName, &c.Title, &c.Department, &c.Owner} {
		*s = strings.TrimSpace(*s)
	}
	if c.CustomFields == nil {
		c.CustomFields = map[string]string{}
	}
	for i := range c.Emails {
		c.Emails[i].Address = strings.TrimSpace(c.Emails[i].Address)
	}
	if c.Roles == nil {
		c.Roles = []string{}
	}
	for i := range c.Roles {
		c.Roles[i] = strings.TrimSpace(c.Roles[i])
	}
	for i := range c.Phones {
		c.Phones[i].Number = strings.TrimSpace(c.Phones[i].Number)
	}
}

func (c *Contact) check() error {
	var vs apperr.Violations
	if c.FirstName == "" && c.LastName == "" {
		vs.Add(string(FieldLastName), "NAME_REQUIRED", "a contact needs a first or a last name")
	}
	primaries := 0
	for i, e := range c.Emails {
		if e.Address == "" {
			vs.Add(fmt.Sprintf("emails[%d].address", i), "EMAIL_REQUIRED", "an email needs an address")
		}
		if e.Primary {
			if primaries++; primaries == 2 {
				vs.Add(fmt.Sprintf("emails[%d].primary", i), "TWO_PRIMARY_EMAILS", "only one email can be primary")
			}
		}
	}
	primaries = 0
	for i, p := range c.Phones {
		if p.Number == "" {
			vs.Add(fmt.Sprintf("phones[%d].number", i), "PHONE_REQUIRED", "a phone needs a number")
		}
		if p.Primary {
			if primaries++; primaries == 2 {
				vs.Add(fmt.Sprintf("phones[%d].primary", i), "TWO_PRIMARY_PHONES", "only one phone can be primary")
			}
		}
	}
	if len(c.CustomFields) > MaxCustomFields {
		vs.Add(string(FieldCustomFields), "TOO_MANY_CUSTOM_FIELDS", "at most %d custom fields", MaxCustomFields)
	}
	if b := c.Birthday; b != nil && !b.ValidBirthday() {
		vs.Add(string(FieldBirthday), "INVALID_BIRTHDAY", "%04d-%02d-%02d is not a date (the year may be 0 when unknown)", b.Year, b.Month, b.Day)
	}
	seen := map[string]bool{}
	for i, r := range c.Roles {
		if !validRoleID(r) {
			vs.Add(fmt.Sprintf("%s[%d]", FieldRoles, i), "INVALID_ROLE_ID", "role id %q must be lower_snake_case", r)
		} else if seen[r] {
			vs.Add(fmt.Sprintf("%s[%d]", FieldRoles, i), "DUPLICATE_ROLE", "role %q is given twice", r)
		}
		seen[r] = true
	}
	if len(c.Roles) > MaxContactRoles {
		vs.Add(string(FieldRoles), "TOO_MANY_ROLES", "at most %d roles", MaxContactRoles)
	}
	if err := vs.Err(); err != nil {
		return err
	}
	// The first is primary when none is marked.
	if len(c.Emails) > 0 && !slices.ContainsFunc(c.Emails, func(e Email) bool { return e.Primary }) {
		c.Emails[0].Primary = true
	}
	if len(c.Phones) > 0 && !slices.ContainsFunc(c.Phones, func(p Phone) bool { return p.Primary }) {
		c.Phones[0].Primary = true
	}
	return nil
}

// Keys are a contact's normalised emails and phones, for matching.
type Keys struct {
	Emails, Phones []string
	// Search is what the text match searches: names and emails.
	Search string
}

// Keys returns c's matching keys; region reads local phone numbers.
func (c *Contact) Keys(region string) Keys {
	k := Keys{Emails: []string{}, Phones: []string{}}
	words := []string{c.FirstName, c.LastName}
	for _, e := range c.Emails {
		if v := customerkey.Email(e.Address); v != "" && !slices.Contains(k.Emails, v) {
			k.Emails = append(k.Emails, v)
		}
		words = append(words, e.Address)
	}
	for _, p := range c.Phones {
		if v := customerkey.Phone(p.Number, region); v != "" && !slices.Contains(k.Phones, v) {
			k.Phones = append(k.Phones, v)
		}
	}
	k.Search = strings.ToLower(strings.Join(words, " "))
	return k
}

// ContactPatch is the outcome of applying an update to a contact: what
// its account and primary flag should become is for the caller to settle.
type ContactPatch struct {
	// Changed lists the fields whose values changed (except primary and
	// account, which the caller settles).
	Changed []string
	// AccountChanged and NewAccount say where the contact moves.
	AccountChanged bool
	NewAccount     uuid.UUID
	// WantPrimary is set when the mask names primary: its requested value.
	WantPrimary *bool
}

// Update applies the fields in mask, except account and primary, which it
// reports in the returned patch for the caller to apply with the accounts
// involved locked.
func (c *Contact) Update(patch Contact, mask []Field) (ContactPatch, error) {
	if err := c.CheckWritable(); err != nil {
		return ContactPatch{}, err
	}
	next := *c
	next.CustomFields = maps.Clone(c.CustomFields)
	next.Emails, next.Phones = slices.Clone(c.Emails), slices.Clone(c.Phones)
	next.Roles = slices.Clone(c.Roles)
	patch.normalize()
	var out ContactPatch
	var vs apperr.Violations
	for _, f := range mask {
		switch f {
		case FieldFirstName:
			next.FirstName = patch.FirstName
		case FieldLastName:
			next.LastName = patch.LastName
		case FieldTitle:
			next.Title = patch.Title
		case FieldDepartment:
			next.Department = patch.Department
		case FieldEmails:
			next.Emails = slices.Clone(patch.Emails)
		case FieldPhones:
			next.Phones = slices.Clone(patch.Phones)
		case FieldBirthday:
			next.Birthday = patch.Birthday
		case FieldRoles:
			next.Roles = slices.Clone(patch.Roles)
		case FieldOwner:
			next.Owner = patch.Owner
			if next.Owner == "" {
				vs.Add(string(f), "OWNER_REQUIRED", "owner cannot be cleared")
			}
		case FieldCustomFields:
			next.CustomFields = maps.Clone(patch.CustomFields)
		case FieldAccount:
			out.AccountChanged = patch.AccountID != c.AccountID
			out.NewAccount = patch.AccountID
		case FieldPrimary:
			p := patch.Primary
			out.WantPrimary = &p
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
		return out, err
	}
	if err := next.check(); err != nil {
		return out, err
	}
	out.Changed = c.diff(&next)
	*c = next
	return out, nil
}

func (c *Contact) diff(o *Contact) []string {
	var changed []string
	add := func(f Field, differs bool) {
		if differs {
			changed = append(changed, string(f))
		}
	}
	add(FieldFirstName, c.FirstName != o.FirstName)
	add(FieldLastName, c.LastName != o.LastName)
	add(FieldTitle, c.Title != o.Title)
	add(FieldDepartment, c.Department != o.Department)
	add(FieldEmails, !slices.Equal(c.Emails, o.Emails))
	add(FieldPhones, !slices.Equal(c.Phones, o.Phones))
	add(FieldBirthday, !dateEqual(c.Birthday, o.Birthday))
	add(FieldRoles, !slices.Equal(c.Roles, o.Roles))
	add(FieldOwner, c.Owner != o.Owner)
	add(FieldCustomFields, !maps.Equal(c.CustomFields, o.CustomFields))
	return changed
}

func dateEqual(a, b *Date) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Touch records a change by actor.
func (c *Contact) Touch(actor string, now time.Time) {
	c.UpdatedAt, c.UpdatedBy = now, actor
	c.Version++
}

// ErrContactNotFound is returned for a contact that does not exist.
func ErrContactNotFound(id uuid.UUID) error {
	return apperr.NotFound("CONTACT_NOT_FOUND", "contact %s not found", id)
}

// ErrPrimaryRequired refuses to unset the primary flag of the primary.
func ErrPrimaryRequired(id uuid.UUID) error {
	return apperr.FailedPrecondition("PRIMARY_CONTACT_REQUIRED",
		"contact %s is its account's primary contact: make another contact primary instead", id)
}

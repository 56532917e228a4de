package domain

import (
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// ConversionState says whether the other services have finished a
// conversion the lead committed.
type ConversionState string

const (
	ConversionPending  ConversionState = "PENDING"
	ConversionComplete ConversionState = "COMPLETE"
	ConversionFailed   ConversionState = "FAILED"
)

// AccountType of an account a conversion creates.
type AccountType string

const (
	AccountCompany    AccountType = "COMPANY"
	AccountIndividual AccountType = "INDIVIDUAL"
)

// ConversionRequest is what the user asked a conversion to produce. A nil
// ExistingAccount (ExistingContact) asks for a new account (contact) made
// from the lead and the New* fields.
type ConversionRequest struct {
	ExistingAccount uuid.UUID
	NewAccount      NewAccount
	ExistingContact uuid.UUID
	NewContact      NewContact
	Opportunity     *NewOpportunity
}

// NewAccount are the account fields a conversion sets; empty ones come from
// the lead.
type NewAccount struct {
	Type         AccountType `json:"type,omitempty"`
	DisplayName  string      `json:"display_name,omitempty"`
	Industry     string      `json:"industry,omitempty"`
	CurrencyCode string      `json:"currency_code,omitempty"`
	Owner        string      `json:"owner,omitempty"`
}

// NewContact are the contact fields a conversion sets; empty ones come from
// the lead.
type NewContact struct {
	FirstName  string `json:"first_name,omitempty"`
	LastName   string `json:"last_name,omitempty"`
	Title      string `json:"title,omitempty"`
	Department string `json:"department,omitempty"`
}

// Money is an exact amount: Units and Nanos (billionths) of Currency.
type Money struct {
	Currency string `json:"currency,omitempty"`
	Units    int64  `json:"units,omitempty"`
	Nanos    int32  `json:"nanos,omitempty"`
}

// Date is a calendar date.
type Date struct {
	Year  int `json:"year"`
	Month int `json:"month"`
	Day   int `json:"day"`
}

// NewOpportunity is the opportunity a conversion opens.
type NewOpportunity struct {
	DisplayName       string `json:"display_name,omitempty"`
	Amount            *Money `json:"amount,omitempty"`
	ExpectedCloseDate *Date  `json:"expected_close_date,omitempty"`
}

// Conversion is a lead's conversion: the records it produces, with the ids
// the lead service allocated, and how far the other services got.
type Conversion struct {
	// ID identifies this conversion attempt; the LeadQualified event has it
	// as its event id.
	ID            uuid.UUID  `json:"id,omitempty"`
	AccountID     uuid.UUID  `json:"account_id,omitempty"`
	CreateAccount bool       `json:"create_account,omitempty"`
	Account       NewAccount `json:"account,omitempty"`
	ContactID     uuid.UUID  `json:"contact_id,omitempty"`
	CreateContact bool       `json:"create_contact,omitempty"`
	Contact       NewContact `json:"contact,omitempty"`
	// OpportunityID is Nil when no opportunity was asked for.
	OpportunityID uuid.UUID       `json:"opportunity_id,omitempty"`
	Opportunity   *NewOpportunity `json:"opportunity,omitempty"`

	State          ConversionState `json:"state,omitempty"`
	FailureReason  string          `json:"failure_reason,omitempty"`
	FailureMessage string          `json:"failure_message,omitempty"`
	By             string          `json:"by,omitempty"`
	AccountDoneAt  *time.Time      `json:"account_done_at,omitempty"`
	// OpportunityDoneAt is when the opportunity service had opened the
	// opportunity, if one was asked for.
	OpportunityDoneAt *time.Time `json:"opportunity_done_at,omitempty"`
	FailedAt          *time.Time `json:"failed_at,omitempty"`
}

// Qualify converts the lead: it becomes QUALIFIED, with a pending
// conversion whose ids are allocated here. Qualifying a lead whose
// conversion is under way or done changes nothing (the caller gets the
// same ids back); one whose conversion FAILED may be converted again.
func (l *Lead) Qualify(req ConversionRequest, actor string, now time.Time) ([]Event, error) {
	switch l.Status {
	case StatusQualified:
		if l.Conversion != nil && l.Conversion.State != ConversionFailed {
			return nil, nil
		}
	case StatusDisqualified:
		return nil, apperr.FailedPrecondition("LEAD_DISQUALIFIED",
			"lead %s is disqualified: reactivate it before converting it", l.ID)
	case StatusMerged:
		return nil, apperr.FailedPrecondition("LEAD_MERGED",
			"lead %s was merged into %s: convert that lead instead", l.ID, l.MergedInto).
			WithMeta("merged_into", "leads/"+l.MergedInto.String())
	}
	c := &Conversion{
		ID: uuid.Must(uuid.NewV7()), State: ConversionPending, By: actor,
		AccountID: req.ExistingAccount, ContactID: req.ExistingContact,
	}
	var vs apperr.Violations
	if c.AccountID == uuid.Nil {
		c.CreateAccount, c.AccountID = true, uuid.Must(uuid.NewV7())
		c.Account = l.accountFrom(req.NewAccount)
	}
	if c.ContactID == uuid.Nil {
		c.CreateContact, c.ContactID = true, uuid.Must(uuid.NewV7())
		c.Contact = l.contactFrom(req.NewContact)
		if c.Contact.FirstName == "" && c.Contact.LastName == "" {
			vs.Add("new_contact.last_name", "CONTACT_NAME_REQUIRED",
				"the lead has no person's name: give the new contact's name, or choose an existing contact")
		}
	}
	if o := req.Opportunity; o != nil {
		c.OpportunityID = uuid.Must(uuid.NewV7())
		opp := *o
		opp.DisplayName = strings.TrimSpace(opp.DisplayName)
		if opp.DisplayName == "" {
			opp.DisplayName = l.opportunityName(c)
		}
		c.Opportunity = &opp
	}
	if err := vs.Err(); err != nil {
		return nil, err
	}
	l.Status = StatusQualified
	l.QualifiedAt = &now
	l.Conversion = c
	l.touch(actor, now)
	return []Event{Qualified{}}, nil
}

func (l *Lead) personName() string {
	return strings.TrimSpace(l.FirstName + " " + l.LastName)
}

func (l *Lead) accountFrom(in NewAccount) NewAccount {
	a := NewAccount{
		Type: in.Type, DisplayName: strings.TrimSpace(in.DisplayName), Industry: strings.TrimSpace(in.Industry),
		CurrencyCode: in.CurrencyCode, Owner: strings.TrimSpace(in.Owner),
	}
	if a.Type == "" {
		a.Type = AccountCompany
		if l.Company == "" {
			a.Type = AccountIndividual
		}
	}
	if a.DisplayName == "" {
		a.DisplayName = l.Company
		if a.Type == AccountIndividual || a.DisplayName == "" {
			a.DisplayName = l.personName()
		}
	}
	if a.Owner == "" {
		a.Owner = l.Owner
	}
	return a
}

func (l *Lead) contactFrom(in NewContact) NewContact {
	c := NewContact{
		FirstName: strings.TrimSpace(in.FirstName), LastName: strings.TrimSpace(in.LastName),
		Title: strings.TrimSpace(in.Title), Department: strings.TrimSpace(in.Department),
	}
	if c.FirstName == "" && c.LastName == "" {
		c.FirstName, c.LastName = l.FirstName, l.LastName
	}
	if c.Title == "" {
		c.Title = l.Title
	}
	return c
}

func (l *Lead) opportunityName(c *Conversion) string {
	base := c.Account.DisplayName
	if base == "" {
		base = l.Company
	}
	if base == "" {
		base = l.personName()
	}
	what := l.Campaign
	if what == "" {
		what = strings.ReplaceAll(strings.ToLower(string(l.Source)), "_", " ")
	}
	if what == "" {
		return base
	}
	return base + " – " + what
}

// ContactApplied records that the account service created or linked the
// conversion's contact (and so has its account). Confirmations of other or
// settled conversions change nothing.
func (l *Lead) ContactApplied(contactID uuid.UUID, at time.Time, actor string, now time.Time) []Event {
	c := l.Conversion
	if c == nil || c.State != ConversionPending || c.ContactID != contactID || c.AccountDoneAt != nil {
		return nil
	}
	c.AccountDoneAt = &at
	return l.conversionProgressed(actor, now)
}

// OpportunityApplied records that the opportunity service opened the
// conversion's opportunity.
func (l *Lead) OpportunityApplied(opportunityID uuid.UUID, at time.Time, actor string, now time.Time) []Event {
	c := l.Conversion
	if c == nil || c.State != ConversionPending || c.OpportunityID == uuid.Nil || c.OpportunityID != opportunityID || c.OpportunityDoneAt != nil {
		return nil
	}
	c.OpportunityDoneAt = &at
	return l.conversionProgressed(actor, now)
}

// conversionProgressed completes the conversion once every part is done.
func (l *Lead) conversionProgressed(actor string, now time.Time) []Event {
	c := l.Conversion
	if c.AccountDoneAt != nil && (c.OpportunityID == uuid.Nil || c.OpportunityDoneAt != nil) {
		c.State = ConversionComplete
	}
	l.touch(actor, now)
	return []Event{ConversionChanged{}}
}

// FailConversion records that the account service refused conversion
// attempt id, and why.
func (l *Lead) FailConversion(id uuid.UUID, reason, message string, at time.Time, actor string, now time.Time) []Event {
	c := l.Conversion
	if c == nil || c.State != ConversionPending || c.ID != id {
		return nil
	}
	c.State = ConversionFailed
	c.FailureReason, c.FailureMessage = reason, message
	c.FailedAt = &at
	l.touch(actor, now)
	return []Event{ConversionChanged{}}
}

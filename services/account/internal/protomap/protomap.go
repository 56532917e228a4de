// Package protomap converts between the account domain and its protobuf
// forms: the API resources (crm.account.v1) and the events
// (crm.events.v1). The gRPC port, the outbox and the conversion consumer
// all use it, so a record looks the same whichever way it travels.
package protomap

import (
	"fmt"
	"slices"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/protoenum"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/account/internal/domain"
)

// AccountName is the resource name of an account.
func AccountName(id uuid.UUID) string { return resname.Format("accounts", id) }

// ContactName is the resource name of a contact.
func ContactName(id uuid.UUID) string { return resname.Format("contacts", id) }

// LeadName is the resource name of a lead; "" for uuid.Nil.
func LeadName(id uuid.UUID) string { return resname.FormatOptional("leads", id) }

func idString(id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	return id.String()
}

// Account returns the API form of a.
func Account(a *domain.Account) *accountv1.Account {
	p := &accountv1.Account{
		Name:           AccountName(a.ID),
		Type:           accountv1.AccountType(protoenum.Value(string(a.Type), "ACCOUNT_TYPE_", accountv1.AccountType_value)),
		DisplayName:    a.DisplayName,
		Website:        a.Website,
		Domain:         a.Domain,
		Industry:       a.Industry,
		Phone:          a.Phone,
		Owner:          a.Owner,
		CurrencyCode:   a.CurrencyCode,
		PaymentTerms:   accountv1.PaymentTerms(protoenum.Value(a.PaymentTerms, "PAYMENT_TERMS_", accountv1.PaymentTerms_value)),
		TaxId:          a.TaxID,
		TaxCategory:    accountv1.TaxCategory(protoenum.Value(a.TaxCategory, "TAX_CATEGORY_", accountv1.TaxCategory_value)),
		PriceList:      a.PriceList,
		Addresses:      Addresses(a.Addresses),
		State:          accountv1.AccountState(protoenum.Value(string(a.State), "ACCOUNT_STATE_", accountv1.AccountState_value)),
		PrimaryContact: resname.FormatOptional("contacts", a.PrimaryContact),
		SourceLead:     LeadName(a.SourceLead),
		Description:    a.Description,
		CreateTime:     timestamppb.New(a.CreatedAt),
		CreatedBy:      a.CreatedBy,
		UpdateTime:     timestamppb.New(a.UpdatedAt),
		UpdatedBy:      a.UpdatedBy,
		Etag:           etag.Format(a.Version),
		Relationship:   accountv1.AccountRelationship(protoenum.Value(string(a.Relationship), "ACCOUNT_RELATIONSHIP_", accountv1.AccountRelationship_value)),
		MergedInto:     resname.FormatOptional("accounts", a.MergedInto),
	}
	if a.CreditLimit != nil {
		p.CreditLimit = proto.CloneOf(a.CreditLimit)
	}
	if len(a.CustomFields) > 0 {
		p.CustomFields = a.CustomFields
	}
	return p
}

// Addresses returns the API form of addresses.
func Addresses(as []domain.Address) []*accountv1.Address {
	out := make([]*accountv1.Address, len(as))
	for i, a := range as {
		out[i] = &accountv1.Address{
			Type:    accountv1.AddressType(protoenum.Value(string(a.Type), "ADDRESS_TYPE_", accountv1.AddressType_value)),
			Default: a.Default, Recipient: a.Recipient, AddressLines: a.Lines, Locality: a.Locality,
			AdministrativeArea: a.AdministrativeArea, PostalCode: a.PostalCode, RegionCode: a.RegionCode,
		}
	}
	return out
}

// AccountFromProto returns the domain form of the settable fields of p.
func AccountFromProto(p *accountv1.Account) domain.Account {
	a := domain.Account{
		Type:         domain.AccountType(protoenum.Name(p.GetType().String(), "ACCOUNT_TYPE_")),
		Relationship: domain.Relationship(protoenum.Name(p.GetRelationship().String(), "ACCOUNT_RELATIONSHIP_")),
		DisplayName:  p.GetDisplayName(),
		Website:      p.GetWebsite(),
		Domain:       p.GetDomain(),
		Industry:     p.GetIndustry(),
		Phone:        p.GetPhone(),
		Owner:        p.GetOwner(),
		CurrencyCode: p.GetCurrencyCode(),
		PaymentTerms: protoenum.Name(p.GetPaymentTerms().String(), "PAYMENT_TERMS_"),
		TaxID:        p.GetTaxId(),
		TaxCategory:  protoenum.Name(p.GetTaxCategory().String(), "TAX_CATEGORY_"),
		PriceList:    p.GetPriceList(),
		Description:  p.GetDescription(),
		CustomFields: p.GetCustomFields(),
	}
	if p.GetCreditLimit() != nil {
		a.CreditLimit = proto.CloneOf(p.GetCreditLimit())
	}
	for _, ad := range p.GetAddresses() {
		a.Addresses = append(a.Addresses, domain.Address{
			Type:    domain.AddressType(protoenum.Name(ad.GetType().String(), "ADDRESS_TYPE_")),
			Default: ad.GetDefault(), Recipient: ad.GetRecipient(), Lines: ad.GetAddressLines(), Locality: ad.GetLocality(),
			AdministrativeArea: ad.GetAdministrativeArea(), PostalCode: ad.GetPostalCode(), RegionCode: ad.GetRegionCode(),
		})
	}
	return a
}

// Contact returns the API form of c.
func Contact(c *domain.Contact) *accountv1.Contact {
	p := &accountv1.Contact{
		Name:       ContactName(c.ID),
		FirstName:  c.FirstName,
		LastName:   c.LastName,
		Title:      c.Title,
		Department: c.Department,
		Account:    resname.FormatOptional("accounts", c.AccountID),
		Primary:    c.Primary,
		SourceLead: LeadName(c.SourceLead),
		Owner:      c.Owner,
		CreateTime: timestamppb.New(c.CreatedAt),
		CreatedBy:  c.CreatedBy,
		UpdateTime: timestamppb.New(c.UpdatedAt),
		UpdatedBy:  c.UpdatedBy,
		Etag:       etag.Format(c.Version),
		MergedInto: resname.FormatOptional("contacts", c.MergedInto),
	}
	if len(c.Roles) > 0 {
		p.Roles = slices.Clone(c.Roles)
	}
	for _, e := range c.Emails {
		p.Emails = append(p.Emails, &accountv1.ContactEmail{
			Address: e.Address, Primary: e.Primary,
			Type: accountv1.EmailType(protoenum.Value(e.Type, "EMAIL_TYPE_", accountv1.EmailType_value)),
		})
	}
	for _, ph := range c.Phones {
		p.Phones = append(p.Phones, &accountv1.ContactPhone{
			Number: ph.Number, Primary: ph.Primary,
			Type: accountv1.PhoneType(protoenum.Value(ph.Type, "PHONE_TYPE_", accountv1.PhoneType_value)),
		})
	}
	if b := c.Birthday; b != nil {
		p.Birthday = &date.Date{Year: b.Year, Month: b.Month, Day: b.Day}
	}
	if len(c.CustomFields) > 0 {
		p.CustomFields = c.CustomFields
	}
	return p
}

// ContactFromProto returns the domain form of the settable fields of p;
// a malformed account name is reported by ok = false.
func ContactFromProto(p *accountv1.Contact) (c domain.Contact, ok bool) {
	c = domain.Contact{
		FirstName:    p.GetFirstName(),
		LastName:     p.GetLastName(),
		Title:        p.GetTitle(),
		Department:   p.GetDepartment(),
		Primary:      p.GetPrimary(),
		Owner:        p.GetOwner(),
		CustomFields: p.GetCustomFields(),
		Roles:        slices.Clone(p.GetRoles()),
	}
	for _, e := range p.GetEmails() {
		c.Emails = append(c.Emails, domain.Email{Address: e.GetAddress(), Primary: e.GetPrimary(), Type: protoenum.Name(e.GetType().String(), "EMAIL_TYPE_")})
	}
	for _, ph := range p.GetPhones() {
		c.Phones = append(c.Phones, domain.Phone{Number: ph.GetNumber(), Primary: ph.GetPrimary(), Type: protoenum.Name(ph.GetType().String(), "PHONE_TYPE_")})
	}
	if b := p.GetBirthday(); b != nil {
		c.Birthday = &domain.Date{Year: b.GetYear(), Month: b.GetMonth(), Day: b.GetDay()}
	}
	ok = true
	if p.GetAccount() != "" {
		c.AccountID, ok = resname.Parse(p.GetAccount(), "accounts")
	}
	return c, ok
}

// ContactRoles returns the API form of the role list.
func ContactRoles(rs []domain.ContactRole, version int64) *accountv1.ContactRoles {
	out := &accountv1.ContactRoles{Etag: etag.Format(version)}
	for _, r := range rs {
		out.Roles = append(out.Roles, &accountv1.ContactRole{Id: r.ID, DisplayName: r.DisplayName, Retired: r.Retired})
	}
	return out
}

// AccountEvent returns the event message for ev, raised on a (as it is
// after the change), with envelope meta.
func AccountEvent(meta *eventsv1.EventMeta, a *domain.Account, ev domain.Event) (proto.Message, error) {
	id, snap := a.ID.String(), Account(a)
	switch e := ev.(type) {
	case domain.AccountCreated:
		return &eventsv1.AccountCreated{Meta: meta, AccountId: id, Account: snap, SourceLeadId: idString(e.SourceLead)}, nil
	case domain.AccountUpdated:
		return &eventsv1.AccountUpdated{Meta: meta, AccountId: id, Account: snap, ChangedFields: e.Changed}, nil
	case domain.AddressChanged:
		return &eventsv1.AddressChanged{Meta: meta, AccountId: id, PreviousAddresses: Addresses(e.Previous), Addresses: snap.Addresses}, nil
	case domain.AccountDeactivated:
		return &eventsv1.AccountDeactivated{Meta: meta, AccountId: id, Account: snap, Reason: e.Reason}, nil
	case domain.AccountActivated:
		return &eventsv1.AccountActivated{Meta: meta, AccountId: id, Account: snap}, nil
	case domain.AccountSnapshotted:
		return &eventsv1.AccountSnapshot{Meta: meta, AccountId: id, Account: snap}, nil
	case domain.AccountsMerged:
		ev := &eventsv1.AccountsMerged{Meta: meta, AccountId: id, Account: snap}
		for _, m := range e.Merged {
			ev.MergedAccountIds = append(ev.MergedAccountIds, m.ID.String())
			ev.MergedAccounts = append(ev.MergedAccounts, Account(m))
		}
		for _, c := range e.MovedContacts {
			ev.MovedContactIds = append(ev.MovedContactIds, c.String())
		}
		return ev, nil
	default:
		return nil, fmt.Errorf("protomap: no account event message for %T", ev)
	}
}

// ContactEvent returns the event message for ev, raised on c (as it is
// after the change; as it was, for a deletion), with envelope meta.
func ContactEvent(meta *eventsv1.EventMeta, c *domain.Contact, ev domain.Event) (proto.Message, error) {
	id, snap := c.ID.String(), Contact(c)
	switch e := ev.(type) {
	case domain.ContactCreated:
		return &eventsv1.ContactCreated{Meta: meta, ContactId: id, Contact: snap, AccountId: idString(c.AccountID), SourceLeadId: idString(e.SourceLead)}, nil
	case domain.ContactUpdated:
		return &eventsv1.ContactUpdated{Meta: meta, ContactId: id, Contact: snap, ChangedFields: e.Changed}, nil
	case domain.ContactDeleted:
		return &eventsv1.ContactDeleted{Meta: meta, ContactId: id, Contact: snap}, nil
	case domain.ContactsMerged:
		ev := &eventsv1.ContactsMerged{Meta: meta, ContactId: id, Contact: snap}
		for _, m := range e.Merged {
			ev.MergedContactIds = append(ev.MergedContactIds, m.ID.String())
			ev.MergedContacts = append(ev.MergedContacts, Contact(m))
		}
		return ev, nil
	case domain.ContactLinked:
		return &eventsv1.ContactLinked{Meta: meta, ContactId: id, Contact: snap, AccountId: idString(c.AccountID), SourceLeadId: idString(e.SourceLead)}, nil
	case domain.ContactSnapshotted:
		return &eventsv1.ContactSnapshot{Meta: meta, ContactId: id, Contact: snap}, nil
	default:
		return nil, fmt.Errorf("protomap: no contact event message for %T", ev)
	}
}

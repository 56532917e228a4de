package events

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/lead/internal/app"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

// CustomerKeysConsumerName is the durable consumer (and inbox name) that
// keeps the projection of contact and account keys.
const CustomerKeysConsumerName = "lead-customer-keys"

// CustomerKeysConsumer returns the durable consumer of the account
// service's account and contact events, in namespace ns: the keys of the
// existing customers that a new lead is checked against (migration 013).
// Every event carries the whole record, so each one replaces what was
// known of it; the snapshots (`account republish-customers`) bring in the
// records changed last before the stream's retention.
func CustomerKeysConsumer(ns string, svc *app.Service) *inbox.Consumer {
	var subjects []string
	for _, m := range []proto.Message{
		&eventsv1.AccountCreated{}, &eventsv1.AccountUpdated{}, &eventsv1.AccountDeactivated{}, &eventsv1.AccountActivated{},
		&eventsv1.ContactCreated{}, &eventsv1.ContactUpdated{}, &eventsv1.ContactDeleted{}, &eventsv1.ContactLinked{},
		&eventsv1.AccountSnapshot{}, &eventsv1.ContactSnapshot{}, &eventsv1.AccountsMerged{}, &eventsv1.ContactsMerged{},
	} {
		subjects = append(subjects, events.Subject(ns, "account", m))
	}
	return &inbox.Consumer{
		Name:     CustomerKeysConsumerName,
		Stream:   events.StreamName(ns, "account"),
		Subjects: subjects,
		Handler: func(ctx context.Context, m inbox.Message) error {
			if merge, ok, err := customerMerge(m); err != nil || ok {
				if err != nil {
					return err
				}
				return svc.ApplyCustomerMerge(ctx, merge)
			}
			rec, ok, err := customerRecord(m)
			if err != nil || !ok {
				return err
			}
			return svc.ApplyCustomerRecord(ctx, rec)
		},
	}
}

// customerMerge reads AccountsMerged and ContactsMerged: the survivor as
// it is now, the merged records gone from the projection (they are
// MERGED, read-only: a lead like them is like the survivor), and for an
// account merge the contacts that moved to the survivor.
func customerMerge(m inbox.Message) (merge domain.CustomerMerge, ok bool, err error) {
	defer func() {
		if err != nil {
			err = inbox.Permanent(fmt.Errorf("event %s: %w", m.EventID, err))
		}
	}()
	switch protoreflect.FullName(m.Type) {
	case name(&eventsv1.AccountsMerged{}):
		var ev eventsv1.AccountsMerged
		if err := decode(m, &ev); err != nil {
			return merge, false, err
		}
		if merge.Survivor, err = accountRecord(ev.GetAccount()); err != nil {
			return merge, false, err
		}
		for _, a := range ev.GetMergedAccounts() {
			rec, err := accountRecord(a)
			if err != nil {
				return merge, false, err
			}
			merge.Merged = append(merge.Merged, rec)
		}
		for _, id := range ev.GetMovedContactIds() {
			c, err := uuid.Parse(id)
			if err != nil || c == uuid.Nil {
				return merge, false, fmt.Errorf("moved contact %q is not a uuid", id)
			}
			merge.MovedContacts = append(merge.MovedContacts, c)
		}
	case name(&eventsv1.ContactsMerged{}):
		var ev eventsv1.ContactsMerged
		if err := decode(m, &ev); err != nil {
			return merge, false, err
		}
		if merge.Survivor, err = contactRecord(ev.GetContact(), false); err != nil {
			return merge, false, err
		}
		for _, c := range ev.GetMergedContacts() {
			rec, err := contactRecord(c, true)
			if err != nil {
				return merge, false, err
			}
			merge.Merged = append(merge.Merged, rec)
		}
	default:
		return merge, false, nil
	}
	for i := range merge.Merged {
		merge.Merged[i].State = domain.CustomerDeleted
	}
	return merge, true, nil
}

// customerRecord reads the record an account or contact event carries; ok
// is false for other events.
func customerRecord(m inbox.Message) (rec domain.CustomerRecord, ok bool, err error) {
	var (
		account *accountv1.Account
		contact *accountv1.Contact
		deleted bool
	)
	switch protoreflect.FullName(m.Type) {
	case name(&eventsv1.AccountCreated{}):
		var ev eventsv1.AccountCreated
		err, account = decode(m, &ev), ev.GetAccount()
	case name(&eventsv1.AccountUpdated{}):
		var ev eventsv1.AccountUpdated
		err, account = decode(m, &ev), ev.GetAccount()
	case name(&eventsv1.AccountDeactivated{}):
		var ev eventsv1.AccountDeactivated
		err, account = decode(m, &ev), ev.GetAccount()
	case name(&eventsv1.AccountActivated{}):
		var ev eventsv1.AccountActivated
		err, account = decode(m, &ev), ev.GetAccount()
	case name(&eventsv1.AccountSnapshot{}):
		var ev eventsv1.AccountSnapshot
		err, account = decode(m, &ev), ev.GetAccount()
	case name(&eventsv1.ContactSnapshot{}):
		var ev eventsv1.ContactSnapshot
		err, contact = decode(m, &ev), ev.GetContact()
	case name(&eventsv1.ContactCreated{}):
		var ev eventsv1.ContactCreated
		err, contact = decode(m, &ev), ev.GetContact()
	case name(&eventsv1.ContactUpdated{}):
		var ev eventsv1.ContactUpdated
		err, contact = decode(m, &ev), ev.GetContact()
	case name(&eventsv1.ContactLinked{}):
		var ev eventsv1.ContactLinked
		err, contact = decode(m, &ev), ev.GetContact()
	case name(&eventsv1.ContactDeleted{}):
		var ev eventsv1.ContactDeleted
		err, contact, deleted = decode(m, &ev), ev.GetContact(), true
	default:
		return rec, false, nil
	}
	if err != nil {
		return rec, false, err
	}
	switch {
	case account != nil:
		rec, err = accountRecord(account)
	case contact != nil:
		rec, err = contactRecord(contact, deleted)
	default:
		err = fmt.Errorf("%s carries no record", m.Type)
	}
	if err != nil {
		return rec, false, inbox.Permanent(fmt.Errorf("event %s: %w", m.EventID, err))
	}
	return rec, true, nil
}

func accountRecord(a *accountv1.Account) (domain.CustomerRecord, error) {
	id, err := recordID(a.GetName(), "accounts/")
	if err != nil {
		return domain.CustomerRecord{}, err
	}
	version, err := etag.Version(a.GetEtag())
	if err != nil {
		return domain.CustomerRecord{}, err
	}
	state := domain.CustomerLive
	switch a.GetState() {
	case accountv1.AccountState_ACCOUNT_STATE_INACTIVE:
		state = domain.CustomerInactive
	case accountv1.AccountState_ACCOUNT_STATE_MERGED:
		state = domain.CustomerDeleted
	}
	domainOrSite := a.GetDomain()
	if domainOrSite == "" {
		domainOrSite = a.GetWebsite()
	}
	return domain.CustomerRecord{
		Kind: domain.CustomerAccount, ID: id, DisplayName: a.GetDisplayName(), Version: version, State: state,
		Name: a.GetDisplayName(), Domain: domainOrSite,
	}, nil
}

func contactRecord(c *accountv1.Contact, deleted bool) (domain.CustomerRecord, error) {
	id, err := recordID(c.GetName(), "contacts/")
	if err != nil {
		return domain.CustomerRecord{}, err
	}
	version, err := etag.Version(c.GetEtag())
	if err != nil {
		return domain.CustomerRecord{}, err
	}
	rec := domain.CustomerRecord{
		Kind: domain.CustomerContact, ID: id, Version: version, State: domain.CustomerLive,
		DisplayName: strings.TrimSpace(c.GetFirstName() + " " + c.GetLastName()),
	}
	if deleted || c.GetMergedInto() != "" {
		rec.State = domain.CustomerDeleted
	}
	if c.GetAccount() != "" {
		if rec.AccountID, err = recordID(c.GetAccount(), "accounts/"); err != nil {
			return domain.CustomerRecord{}, err
		}
	}
	for _, e := range c.GetEmails() {
		rec.Emails = append(rec.Emails, e.GetAddress())
	}
	for _, p := range c.GetPhones() {
		rec.Phones = append(rec.Phones, p.GetNumber())
	}
	return rec, nil
}

func recordID(name, prefix string) (uuid.UUID, error) {
	id, ok := resname.Parse(name, strings.TrimSuffix(prefix, "/"))
	if !ok || id == uuid.Nil {
		return uuid.Nil, fmt.Errorf("record name %q is not %s{uuid}", name, prefix)
	}
	return id, nil
}

// Package postgres stores accounts and contacts in the service's own
// schema. Every change and the outbox rows announcing it are written in
// one transaction.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/customerkey"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/account/internal/app"
	"github.com/crmsuite/crm/services/account/internal/domain"
	"github.com/crmsuite/crm/services/account/internal/protomap"
)

// Repo implements app.Repository.
type Repo struct {
	pool   *pgxpool.Pool
	outbox outbox.Writer
	pages  *paging.Codec
	// phoneRegion reads local phone numbers of accounts without a billing
	// country.
	phoneRegion string
}

// New returns a repository over pool.
func New(pool *pgxpool.Pool, ow outbox.Writer, pages *paging.Codec, phoneRegion string) *Repo {
	return &Repo{pool: pool, outbox: ow, pages: pages, phoneRegion: phoneRegion}
}

var _ app.Repository = (*Repo)(nil)

func (r *Repo) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return pg.InTx(ctx, r.pool, fn)
}

// ---- accounts ----

var (
	accountWriteList = []string{"id", "type", "display_name", "website", "domain", "industry", "phone", "owner",
		"currency_code", "credit_limit", "payment_terms", "tax_id", "tax_category", "price_list", "addresses", "state",
		"source_lead", "description", "custom_fields", "created_at", "created_by", "updated_at", "updated_by", "version",
		"relationship", "merged_into", "name_key", "phone_key"}
	// Reads leave out the two match keys (written only) and add the primary
	// contact, from the contacts' partial unique index.
	accountColumns = "a." + strings.Join(accountWriteList[:len(accountWriteList)-2], ", a.") +
		", (SELECT c.id FROM contacts c WHERE c.account_id = a.id AND c.is_primary)"
	insertAccount = "INSERT INTO accounts (" + strings.Join(accountWriteList, ", ") + ") VALUES (" +
		pg.Placeholders(1, len(accountWriteList)) + ") ON CONFLICT (id) DO NOTHING"
	updateAccount = "UPDATE accounts SET (" + strings.Join(accountWriteList[1:], ", ") + ") = (" +
		pg.Placeholders(2, len(accountWriteList)) + ") WHERE id = $1"
)

type addressJSON struct {
	Type               string   `json:"type"`
	Default            bool     `json:"default,omitempty"`
	Recipient          string   `json:"recipient,omitempty"`
	Lines              []string `json:"lines,omitempty"`
	Locality           string   `json:"locality,omitempty"`
	AdministrativeArea string   `json:"administrative_area,omitempty"`
	PostalCode         string   `json:"postal_code,omitempty"`
	RegionCode         string   `json:"region_code,omitempty"`
}

func (r *Repo) accountArgs(a *domain.Account) []any {
	addrs := make([]addressJSON, len(a.Addresses))
	for i, ad := range a.Addresses {
		addrs[i] = addressJSON{Type: string(ad.Type), Default: ad.Default, Recipient: ad.Recipient, Lines: ad.Lines,
			Locality: ad.Locality, AdministrativeArea: ad.AdministrativeArea, PostalCode: ad.PostalCode, RegionCode: ad.RegionCode}
	}
	addrJSON, _ := json.Marshal(addrs)
	custom, _ := json.Marshal(a.CustomFields)
	var limit *string
	if a.CreditLimit != nil {
		d := money.Decimal(a.CreditLimit)
		limit = &d
	}
	return []any{a.ID, string(a.Type), a.DisplayName, a.Website, a.Domain, a.Industry, a.Phone, a.Owner,
		a.CurrencyCode, limit, a.PaymentTerms, a.TaxID, a.TaxCategory, a.PriceList, addrJSON, string(a.State),
		protomap.LeadName(a.SourceLead), a.Description, custom, a.CreatedAt, a.CreatedBy, a.UpdatedAt, a.UpdatedBy, a.Version,
		string(a.Relationship), nilUUID(a.MergedInto), customerkey.Fold(a.DisplayName), customerkey.Phone(a.Phone, a.PhoneRegion(r.phoneRegion))}
}

func scanAccount(row pgx.Row, extra ...any) (*domain.Account, error) {
	var (
		a                                domain.Account
		typ, state, source, relationship string
		limit                            *string
		addrJSON, custom                 []byte
		primary, merged                  *uuid.UUID
	)
	err := row.Scan(append([]any{&a.ID, &typ, &a.DisplayName, &a.Website, &a.Domain, &a.Industry, &a.Phone, &a.Owner,
		&a.CurrencyCode, &limit, &a.PaymentTerms, &a.TaxID, &a.TaxCategory, &a.PriceList, &addrJSON, &state,
		&source, &a.Description, &custom, &a.CreatedAt, &a.CreatedBy, &a.UpdatedAt, &a.UpdatedBy, &a.Version, &relationship, &merged, &primary}, extra...)...)
	if err != nil {
		return nil, err
	}
	a.Type, a.State, a.Relationship = domain.AccountType(typ), domain.State(state), domain.Relationship(relationship)
	if limit != nil {
		if a.CreditLimit, err = money.FromDecimal(a.CurrencyCode, *limit); err != nil {
			return nil, fmt.Errorf("account %s credit limit: %w", a.ID, err)
		}
	}
	var addrs []addressJSON
	if err := json.Unmarshal(addrJSON, &addrs); err != nil {
		return nil, fmt.Errorf("account %s addresses: %w", a.ID, err)
	}
	a.Addresses = make([]domain.Address, len(addrs))
	for i, ad := range addrs {
		a.Addresses[i] = domain.Address{Type: domain.AddressType(ad.Type), Default: ad.Default, Recipient: ad.Recipient, Lines: ad.Lines,
			Locality: ad.Locality, AdministrativeArea: ad.AdministrativeArea, PostalCode: ad.PostalCode, RegionCode: ad.RegionCode}
	}
	a.CustomFields = map[string]string{}
	if err := json.Unmarshal(custom, &a.CustomFields); err != nil {
		return nil, fmt.Errorf("account %s custom fields: %w", a.ID, err)
	}
	a.SourceLead, _ = resname.Parse(source, "leads")
	if primary != nil {
		a.PrimaryContact = *primary
	}
	if merged != nil {
		a.MergedInto = *merged
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return &a, nil
}

// InsertAccount implements app.Repository.
func (r *Repo) InsertAccount(ctx context.Context, a *domain.Account, ch app.Change) (bool, error) {
	created := false
	err := r.InTx(ctx, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		tag, err := q.Exec(ctx, insertAccount, r.accountArgs(a)...)
		if err != nil {
			return fmt.Errorf("insert account: %w", err)
		}
		if created = tag.RowsAffected() == 1; !created {
			return nil
		}
		if _, err := q.Exec(ctx, noteAccountDuplicateKeys, a.ID); err != nil {
			return fmt.Errorf("note duplicate keys: %w", err)
		}
		if err := audit.Record(ctx, q, nil, protomap.Account(a), ch.RequestID); err != nil {
			return err
		}
		return r.appendAccountEvents(ctx, a, ch)
	})
	return created, err
}

func (r *Repo) GetAccount(ctx context.Context, id uuid.UUID) (*domain.Account, error) {
	return r.readAccount(ctx, id, "")
}

func (r *Repo) LockAccount(ctx context.Context, id uuid.UUID) (*domain.Account, error) {
	return r.readAccount(ctx, id, " FOR UPDATE OF a")
}

func (r *Repo) readAccount(ctx context.Context, id uuid.UUID, lock string) (*domain.Account, error) {
	a, err := scanAccount(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts a WHERE a.id = $1`+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrAccountNotFound(id)
	}
	return a, err
}

// SaveAccount implements app.Repository; the caller holds the row lock.
// The audit entry compares a with the row as it is before the update.
func (r *Repo) SaveAccount(ctx context.Context, a *domain.Account, ch app.Change) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		old, err := r.readAccount(ctx, a.ID, "")
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, updateAccount, r.accountArgs(a)...); err != nil {
			return fmt.Errorf("update account: %w", err)
		}
		if _, err := q.Exec(ctx, noteAccountDuplicateKeys, a.ID); err != nil {
			return fmt.Errorf("note duplicate keys: %w", err)
		}
		// The primary contact is the contacts' to change (and their trail's
		// to show); a may hold the one it was read with.
		after := *a
		after.PrimaryContact = old.PrimaryContact
		if err := audit.Record(ctx, q, protomap.Account(old), protomap.Account(&after), ch.RequestID); err != nil {
			return err
		}
		return r.appendAccountEvents(ctx, a, ch)
	})
}

func (r *Repo) appendAccountEvents(ctx context.Context, a *domain.Account, ch app.Change) error {
	msgs := make([]outbox.Message, 0, len(ch.Events))
	for _, ev := range ch.Events {
		m, err := protomap.AccountEvent(events.NewMeta(ctx, ch.RequestID, a.UpdatedAt), a, ev)
		if err != nil {
			return err
		}
		msg, err := r.outbox.Message(ctx, a.ID.String(), m)
		if err != nil {
			return err
		}
		msgs = append(msgs, msg)
	}
	return outbox.Append(ctx, pg.Q(ctx, r.pool), msgs...)
}

// ---- contacts ----

var (
	contactReadList = []string{"id", "first_name", "last_name", "title", "department", "emails", "phones", "birthday",
		"account_id", "is_primary", "source_lead", "owner", "custom_fields", "created_at", "created_by", "updated_at",
		"updated_by", "version", "roles", "merged_into"}
	contactWriteList = append(append([]string{}, contactReadList...), "email_keys", "phone_keys", "search")
	contactColumns   = strings.Join(contactReadList, ", ")
	insertContact    = "INSERT INTO contacts (" + strings.Join(contactWriteList, ", ") + ") VALUES (" +
		pg.Placeholders(1, len(contactWriteList)) + ")"
	updateContact = "UPDATE contacts SET (" + strings.Join(contactWriteList[1:], ", ") + ") = (" +
		pg.Placeholders(2, len(contactWriteList)) + ") WHERE id = $1"
)

type emailJSON struct {
	Address string `json:"address"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

type phoneJSON struct {
	Number  string `json:"number"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

func contactArgs(c *domain.Contact, region string) []any {
	emails := make([]emailJSON, len(c.Emails))
	for i, e := range c.Emails {
		emails[i] = emailJSON(e)
	}
	phones := make([]phoneJSON, len(c.Phones))
	for i, p := range c.Phones {
		phones[i] = phoneJSON(p)
	}
	ej, _ := json.Marshal(emails)
	pj, _ := json.Marshal(phones)
	custom, _ := json.Marshal(c.CustomFields)
	var birthday []byte
	if c.Birthday != nil {
		birthday, _ = json.Marshal(c.Birthday)
	}
	var account *uuid.UUID
	if c.AccountID != uuid.Nil {
		account = &c.AccountID
	}
	roles := c.Roles
	if roles == nil {
		roles = []string{}
	}
	k := c.Keys(region)
	return []any{c.ID, c.FirstName, c.LastName, c.Title, c.Department, ej, pj, birthday, account, c.Primary,
		protomap.LeadName(c.SourceLead), c.Owner, custom, c.CreatedAt, c.CreatedBy, c.UpdatedAt, c.UpdatedBy, c.Version,
		roles, nilUUID(c.MergedInto), k.Emails, k.Phones, k.Search}
}

func scanContact(row pgx.Row, extra ...any) (*domain.Contact, error) {
	var (
		c                        domain.Contact
		ej, pj, birthday, custom []byte
		account, merged          *uuid.UUID
		source                   string
	)
	err := row.Scan(append([]any{&c.ID, &c.FirstName, &c.LastName, &c.Title, &c.Department, &ej, &pj, &birthday,
		&account, &c.Primary, &source, &c.Owner, &custom, &c.CreatedAt, &c.CreatedBy, &c.UpdatedAt, &c.UpdatedBy, &c.Version, &c.Roles, &merged}, extra...)...)
	if err != nil {
		return nil, err
	}
	var emails []emailJSON
	var phones []phoneJSON
	if err := errors.Join(json.Unmarshal(ej, &emails), json.Unmarshal(pj, &phones)); err != nil {
		return nil, fmt.Errorf("contact %s: %w", c.ID, err)
	}
	for _, e := range emails {
		c.Emails = append(c.Emails, domain.Email(e))
	}
	for _, p := range phones {
		c.Phones = append(c.Phones, domain.Phone(p))
	}
	if len(birthday) > 0 {
		c.Birthday = &domain.Date{}
		if err := json.Unmarshal(birthday, c.Birthday); err != nil {
			return nil, fmt.Errorf("contact %s birthday: %w", c.ID, err)
		}
	}
	c.CustomFields = map[string]string{}
	if err := json.Unmarshal(custom, &c.CustomFields); err != nil {
		return nil, fmt.Errorf("contact %s custom fields: %w", c.ID, err)
	}
	if account != nil {
		c.AccountID = *account
	}
	if merged != nil {
		c.MergedInto = *merged
	}
	c.SourceLead, _ = resname.Parse(source, "leads")
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return &c, nil
}

func (r *Repo) InsertContact(ctx context.Context, c *domain.Contact, region string, ch app.Change) error {
	return r.writeContact(ctx, c, audit.Create, insertContact, contactArgs(c, region), ch)
}

func (r *Repo) SaveContact(ctx context.Context, c *domain.Contact, region string, ch app.Change) error {
	return r.writeContact(ctx, c, audit.Update, updateContact, contactArgs(c, region), ch)
}

func (r *Repo) DeleteContact(ctx context.Context, c *domain.Contact, ch app.Change) error {
	return r.writeContact(ctx, c, audit.Delete, `DELETE FROM contacts WHERE id = $1`, []any{c.ID}, ch)
}

// writeContact runs the contact's write; its audit entry compares the row
// before it with c.
func (r *Repo) writeContact(ctx context.Context, c *domain.Contact, action audit.Action, sql string, args []any, ch app.Change) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		var before, after *accountv1.Contact
		if action != audit.Create {
			old, err := r.GetContact(ctx, c.ID)
			if err != nil {
				return err
			}
			before = protomap.Contact(old)
		}
		if action != audit.Delete {
			after = protomap.Contact(c)
		}
		if _, err := q.Exec(ctx, sql, args...); err != nil {
			if pg.IsUniqueViolation(err, "contacts_one_primary") {
				// The backstop: only a write that skipped the account lock
				// can get here.
				return fmt.Errorf("contact %s: two primary contacts on account %s: %w", c.ID, c.AccountID, err)
			}
			return fmt.Errorf("write contact: %w", err)
		}
		if action != audit.Delete {
			if _, err := q.Exec(ctx, noteContactDuplicateKeys, c.ID); err != nil {
				return fmt.Errorf("note duplicate keys: %w", err)
			}
		}
		msgs := make([]outbox.Message, 0, len(ch.Events))
		for _, ev := range ch.Events {
			m, err := protomap.ContactEvent(events.NewMeta(ctx, ch.RequestID, c.UpdatedAt), c, ev)
			if err != nil {
				return err
			}
			msg, err := r.outbox.Message(ctx, c.ID.String(), m)
			if err != nil {
				return err
			}
			msgs = append(msgs, msg)
		}
		if err := audit.Record(ctx, q, before, after, ch.RequestID); err != nil {
			return err
		}
		return outbox.Append(ctx, q, msgs...)
	})
}

func (r *Repo) GetContact(ctx context.Context, id uuid.UUID) (*domain.Contact, error) {
	return r.readContact(ctx, `id = $1`, "", id)
}

func (r *Repo) LockContact(ctx context.Context, id uuid.UUID) (*domain.Contact, error) {
	return r.readContact(ctx, `id = $1`, " FOR UPDATE", id)
}

func (r *Repo) PrimaryContact(ctx context.Context, accountID uuid.UUID) (*domain.Contact, error) {
	c, err := r.readContact(ctx, `account_id = $1 AND is_primary`, " FOR UPDATE", accountID)
	if err != nil && errors.Is(err, errNoContact) {
		return nil, nil
	}
	return c, err
}

func (r *Repo) OldestContact(ctx context.Context, accountID, except uuid.UUID) (*domain.Contact, error) {
	c, err := r.readContact(ctx, `account_id = $1 AND id <> $2 AND merged_into IS NULL ORDER BY created_at, id LIMIT 1`, " FOR UPDATE", accountID, except)
	if err != nil && errors.Is(err, errNoContact) {
		return nil, nil
	}
	return c, err
}

var errNoContact = errors.New("no such contact")

func (r *Repo) readContact(ctx context.Context, where, lock string, args ...any) (*domain.Contact, error) {
	c, err := scanContact(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+contactColumns+` FROM contacts WHERE `+where+lock, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		if id, ok := args[0].(uuid.UUID); ok && strings.HasPrefix(where, "id =") {
			return nil, domain.ErrContactNotFound(id)
		}
		return nil, errNoContact
	}
	return c, err
}

// RecordRejection implements app.Repository: the inbox table records
// that the rejection was written, so a repeated dead-letter hook writes
// nothing twice.
// ListAudit implements app.Repository.
func (r *Repo) ListAudit(ctx context.Context, q audit.Query) ([]audit.Entry, string, error) {
	return audit.List(ctx, pg.Q(ctx, r.pool), r.pages, q)
}

// nilUUID is NULL for uuid.Nil.
func nilUUID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

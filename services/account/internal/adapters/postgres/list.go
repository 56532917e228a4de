package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/aipfilter"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/customerkey"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/account/internal/app"
	"github.com/crmsuite/crm/services/account/internal/domain"
)

// ListFilters are the filter schemas of the list RPCs, by RPC name, for
// tests that walk every field.
func ListFilters(phoneRegion string) map[string]*aipfilter.Schema {
	r := &Repo{phoneRegion: phoneRegion}
	return map[string]*aipfilter.Schema{"ListAccounts": r.accountFilter(), "ListContacts": r.contactFilter()}
}

// accountFilter is what ListAccounts' filter may name; keep the proto
// comment of ListAccountsRequest.filter in step.
func (r *Repo) accountFilter() *aipfilter.Schema {
	return aipfilter.NewSchema(map[string]aipfilter.Field{
		"type":          {Column: "a.type", Kind: aipfilter.Enum, EnumType: accountv1.AccountType(0).Type(), EnumPrefix: "ACCOUNT_TYPE_"},
		"state":         {Column: "a.state", Kind: aipfilter.Enum, EnumType: accountv1.AccountState(0).Type(), EnumPrefix: "ACCOUNT_STATE_"},
		"relationship":  {Column: "a.relationship", Kind: aipfilter.Enum, EnumType: accountv1.AccountRelationship(0).Type(), EnumPrefix: "ACCOUNT_RELATIONSHIP_"},
		"owner":         {Column: "a.owner", Kind: aipfilter.String},
		"industry":      {Column: "a.industry", Kind: aipfilter.String, Fold: true},
		"domain":        {Column: "a.domain", Kind: aipfilter.String, Normalize: strings.ToLower},
		"currency_code": {Column: "a.currency_code", Kind: aipfilter.String, Normalize: strings.ToUpper},
		"phone":         {Column: "a.phone_key", Kind: aipfilter.String, Normalize: r.phoneKey},
		"source_lead":   {Column: "a.source_lead", Kind: aipfilter.String},
		"create_time":   {Column: "a.created_at", Kind: aipfilter.Timestamp},
		"update_time":   {Column: "a.updated_at", Kind: aipfilter.Timestamp},
		"text":          {Column: "a.search", Kind: aipfilter.Text, MinLen: 3},
	})
}

// contactFilter is what ListContacts' filter may name.
func (r *Repo) contactFilter() *aipfilter.Schema {
	return aipfilter.NewSchema(map[string]aipfilter.Field{
		"account":     {Column: "account", Kind: aipfilter.String},
		"owner":       {Column: "owner", Kind: aipfilter.String},
		"primary":     {Column: "is_primary", Kind: aipfilter.Bool},
		"email":       {Column: "email_keys", Kind: aipfilter.String, Array: true, Normalize: customerkey.Email},
		"phone":       {Column: "phone_keys", Kind: aipfilter.String, Array: true, Normalize: r.phoneKey},
		"role":        {Column: "roles", Kind: aipfilter.String, Array: true, Normalize: strings.TrimSpace},
		"source_lead": {Column: "source_lead", Kind: aipfilter.String},
		"create_time": {Column: "created_at", Kind: aipfilter.Timestamp},
		"update_time": {Column: "updated_at", Kind: aipfilter.Timestamp},
		"text":        {Column: "search", Kind: aipfilter.Text, MinLen: 3},
	})
}

func (r *Repo) phoneKey(s string) string { return customerkey.Phone(s, r.phoneRegion) }

type order struct {
	column string
	isTime bool
}

var accountOrders = map[string]order{
	"create_time":  {"a.created_at", true},
	"update_time":  {"a.updated_at", true},
	"display_name": {"a.display_name", false},
}

var contactOrders = map[string]order{
	"create_time": {"created_at", true},
	"update_time": {"updated_at", true},
	"last_name":   {"last_name", false},
}

// cursor is the sort key of the last row of a page.
type cursor struct {
	Time *time.Time `json:"t,omitempty"`
	Text *string    `json:"s,omitempty"`
	ID   uuid.UUID  `json:"id"`
}

type listSpec struct {
	kind   string
	orders map[string]order
	schema *aipfilter.Schema
	// idColumn is the table's id column as the query names it.
	idColumn string
	// sql returns the query for a WHERE clause, ORDER BY and LIMIT.
	sql func(where, orderBy, limit string) string
	// key returns a row's sort key for field.
	key func(row any, field string) cursor
}

// list answers one page with keyset pagination: the page after a token
// starts strictly after the (sort key, id) the token carries.
func list[T any](ctx context.Context, r *Repo, spec listSpec, q app.ListQuery, scan func(pgx.Row) (T, error)) ([]T, string, error) {
	field, desc, err := paging.ParseOrder(q.OrderBy, spec.orders)
	if err != nil {
		return nil, "", err
	}
	o := spec.orders[field]
	var args []any
	clause, err := spec.schema.Where(q.Filter, &args)
	if err != nil {
		return nil, "", err
	}
	queryKey := spec.kind + "\x00" + q.Filter + "\x00" + field + " " + strconv.FormatBool(desc)
	dir, cmp := "ASC", ">"
	if desc {
		dir, cmp = "DESC", "<"
	}
	where := clause.SQL
	if q.PageToken != "" {
		var c cursor
		if err := r.pages.Decode(q.PageToken, queryKey, &c); err != nil {
			return nil, "", err
		}
		var key any
		switch {
		case o.isTime && c.Time != nil:
			key = *c.Time
		case !o.isTime && c.Text != nil:
			key = *c.Text
		default:
			return nil, "", apperr.InvalidField("page_token", "INVALID_PAGE_TOKEN", "page token does not fit the order")
		}
		args = append(args, key, c.ID)
		where += fmt.Sprintf(" AND (%s, %s) %s ($%d, $%d)", o.column, spec.idColumn, cmp, len(args)-1, len(args))
	}
	args = append(args, q.PageSize+1)
	orderBy := fmt.Sprintf("%s %s, %s %s", o.column, dir, spec.idColumn, dir)
	rows, err := pg.Q(ctx, r.pool).Query(ctx, spec.sql(where, orderBy, fmt.Sprintf("$%d", len(args))), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list %s: %w", spec.kind, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list %s: %w", spec.kind, err)
	}
	if len(out) <= q.PageSize {
		return out, "", nil
	}
	out = out[:q.PageSize]
	next, err := r.pages.Encode(queryKey, spec.key(out[len(out)-1], field))
	return out, next, err
}

func (r *Repo) ListAccounts(ctx context.Context, q app.ListQuery) ([]*domain.Account, string, error) {
	return list(ctx, r, listSpec{
		kind: "accounts", orders: accountOrders, schema: r.accountFilter(), idColumn: "a.id",
		sql: func(where, orderBy, limit string) string {
			return `SELECT ` + accountColumns + ` FROM accounts a WHERE ` + where + ` ORDER BY ` + orderBy + ` LIMIT ` + limit
		},
		key: func(row any, field string) cursor {
			a := row.(*domain.Account)
			c := cursor{ID: a.ID}
			switch field {
			case "create_time":
				c.Time = &a.CreatedAt
			case "update_time":
				c.Time = &a.UpdatedAt
			default:
				c.Text = &a.DisplayName
			}
			return c
		},
	}, q, func(row pgx.Row) (*domain.Account, error) { return scanAccount(row) })
}

func (r *Repo) ListContacts(ctx context.Context, q app.ListQuery) ([]*domain.Contact, string, error) {
	return list(ctx, r, listSpec{
		kind: "contacts", orders: contactOrders, schema: r.contactFilter(), idColumn: "id",
		sql: func(where, orderBy, limit string) string {
			return `SELECT ` + contactColumns + ` FROM contacts WHERE ` + where + ` ORDER BY ` + orderBy + ` LIMIT ` + limit
		},
		key: func(row any, field string) cursor {
			c := row.(*domain.Contact)
			k := cursor{ID: c.ID}
			switch field {
			case "create_time":
				k.Time = &c.CreatedAt
			case "update_time":
				k.Time = &c.UpdatedAt
			default:
				k.Text = &c.LastName
			}
			return k
		},
	}, q, func(row pgx.Row) (*domain.Contact, error) { return scanContact(row) })
}

package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/aipfilter"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/order/internal/app"
	"github.com/crmsuite/crm/services/order/internal/domain"
)

// ListFilters are the filter schemas of the list RPCs, by RPC name, for
// tests that walk every field.
func ListFilters() map[string]*aipfilter.Schema {
	return map[string]*aipfilter.Schema{"ListOrders": orderFilter, "ListContracts": contractFilter}
}

// orderFilter is what ListOrders' filter may name; keep the proto comment
// of ListOrdersRequest.filter in step.
var orderFilter = aipfilter.NewSchema(map[string]aipfilter.Field{
	"status":             {Column: "status", Kind: aipfilter.Enum, EnumType: orderv1.OrderStatus(0).Type(), EnumPrefix: "ORDER_STATUS_"},
	"account":            {Column: "account", Kind: aipfilter.String},
	"contact":            {Column: "contact", Kind: aipfilter.String},
	"owner":              {Column: "owner", Kind: aipfilter.String},
	"currency_code":      {Column: "currency_code", Kind: aipfilter.String, Normalize: strings.ToUpper},
	"source_opportunity": {Column: "source_opportunity", Kind: aipfilter.String},
	"source_lead":        {Column: "source_lead", Kind: aipfilter.String},
	// ISO dates compare as text; an unset date is "".
	"expected_fulfillment_date": {Column: "coalesce(expected_fulfillment_date::text, '')", Kind: aipfilter.String},
	"confirm_time":              {Column: "confirmed_at", Kind: aipfilter.Timestamp},
	"create_time":               {Column: "created_at", Kind: aipfilter.Timestamp},
	"update_time":               {Column: "updated_at", Kind: aipfilter.Timestamp},
	"text":                      {Column: "search", Kind: aipfilter.Text, MinLen: 3},
})

// contractFilter is what ListContracts' filter may name.
var contractFilter = aipfilter.NewSchema(map[string]aipfilter.Field{
	"status":             {Column: "status", Kind: aipfilter.Enum, EnumType: orderv1.ContractStatus(0).Type(), EnumPrefix: "CONTRACT_STATUS_"},
	"account":            {Column: "account", Kind: aipfilter.String},
	"owner":              {Column: "owner", Kind: aipfilter.String},
	"currency_code":      {Column: "currency_code", Kind: aipfilter.String, Normalize: strings.ToUpper},
	"billing_interval":   {Column: "billing_interval", Kind: aipfilter.Enum, EnumType: orderv1.BillingInterval(0).Type(), EnumPrefix: "BILLING_INTERVAL_"},
	"auto_renew":         {Column: "auto_renew", Kind: aipfilter.Bool},
	"source_opportunity": {Column: "source_opportunity", Kind: aipfilter.String},
	"start_date":         {Column: "start_date::text", Kind: aipfilter.String},
	"term_end_date":      {Column: "coalesce(term_end_date::text, '')", Kind: aipfilter.String},
	"create_time":        {Column: "created_at", Kind: aipfilter.Timestamp},
	"update_time":        {Column: "updated_at", Kind: aipfilter.Timestamp},
	"text":               {Column: "search", Kind: aipfilter.Text, MinLen: 3},
})

// sortOrder is a sort column and how its key travels in a page token.
type sortOrder[T any] struct {
	column string
	// cast of the key parameter: "" for timestamps, else "date"/"numeric".
	cast string
	key  func(v T) cursor
}

var orderOrders = map[string]sortOrder[*domain.Order]{
	"create_time": {"created_at", "", func(o *domain.Order) cursor { return cursor{Time: &o.CreatedAt} }},
	"update_time": {"updated_at", "", func(o *domain.Order) cursor { return cursor{Time: &o.UpdatedAt} }},
	"total": {"total", "numeric", func(o *domain.Order) cursor {
		s := decimal(o.Totals.Total)
		return cursor{Text: &s}
	}},
}

var contractOrders = map[string]sortOrder[*domain.Contract]{
	"create_time": {"created_at", "", func(c *domain.Contract) cursor { return cursor{Time: &c.CreatedAt} }},
	"update_time": {"updated_at", "", func(c *domain.Contract) cursor { return cursor{Time: &c.UpdatedAt} }},
	"term_end_date": {"coalesce(term_end_date, 'infinity'::date)", "date", func(c *domain.Contract) cursor {
		s := "infinity"
		if t, ok := c.Term(); ok && !t.End.IsZero() {
			s = t.End.String()
		}
		return cursor{Text: &s}
	}},
}

// cursor is the sort key of the last row of a page.
type cursor struct {
	Time *time.Time `json:"t,omitempty"`
	Text *string    `json:"s,omitempty"`
	ID   uuid.UUID  `json:"id"`
}

// listPage answers one page of table with keyset pagination: the page
// after a token starts strictly after the (sort key, id) it carries. A
// salesperson's list (q.VisibleTo) is narrowed to its records and those of
// the accounts it owns.
func listPage[T any](ctx context.Context, r *Repo, table, columns string, schema *aipfilter.Schema, orders map[string]sortOrder[T],
	q app.ListQuery, scan func(pgx.Row) (T, error), id func(T) uuid.UUID) ([]T, string, error) {
	field, desc, err := paging.ParseOrder(q.OrderBy, orders)
	if err != nil {
		return nil, "", err
	}
	o := orders[field]
	var args []any
	clause, err := schema.Where(q.Filter, &args)
	if err != nil {
		return nil, "", err
	}
	queryKey := table + "\x00" + q.Filter + "\x00" + field + " " + strconv.FormatBool(desc)
	if q.VisibleTo != "" {
		args = append(args, q.VisibleTo)
		n := len(args)
		clause = clause.And(fmt.Sprintf("(owner = $%d OR account_id IN (SELECT account_id FROM account_owners WHERE owner = $%d))", n, n))
		queryKey += "\x00" + q.VisibleTo
	}
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
		case o.cast == "" && c.Time != nil:
			key = *c.Time
		case o.cast != "" && c.Text != nil:
			key = *c.Text
		default:
			return nil, "", apperr.InvalidField("page_token", "INVALID_PAGE_TOKEN", "page token does not fit the order")
		}
		args = append(args, key, c.ID)
		param := fmt.Sprintf("$%d", len(args)-1)
		if o.cast != "" {
			param += "::" + o.cast
		}
		where += fmt.Sprintf(" AND (%s, id) %s (%s, $%d)", o.column, cmp, param, len(args))
	}
	args = append(args, q.PageSize+1)
	sql := fmt.Sprintf(`SELECT %s FROM %s WHERE %s ORDER BY %s %s, id %s LIMIT $%d`, columns, table, where, o.column, dir, dir, len(args))
	rows, err := pg.Q(ctx, r.pool).Query(ctx, sql, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list %s: %w", table, err)
	}
	out, err := collect(rows, scan)
	if err != nil || len(out) <= q.PageSize {
		return out, "", err
	}
	out = out[:q.PageSize]
	last := out[len(out)-1]
	c := o.key(last)
	c.ID = id(last)
	next, err := r.pages.Encode(queryKey, c)
	return out, next, err
}

func (r *Repo) ListOrders(ctx context.Context, q app.ListQuery) ([]*domain.Order, string, error) {
	return listPage(ctx, r, "orders", orderColumns, orderFilter, orderOrders, q, scanOrder, func(o *domain.Order) uuid.UUID { return o.ID })
}

func (r *Repo) ListContracts(ctx context.Context, q app.ListQuery) ([]*domain.Contract, string, error) {
	return listPage(ctx, r, "contracts", contractColumns, contractFilter, contractOrders, q, scanContract, func(c *domain.Contract) uuid.UUID { return c.ID })
}

func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ListStatusChanges pages through an order's history, oldest first.
func (r *Repo) ListStatusChanges(ctx context.Context, id uuid.UUID, pageSize int, pageToken string) ([]domain.StatusChange, string, error) {
	queryKey := "order_status_changes\x00" + id.String()
	args := []any{id}
	where := "order_id = $1"
	if pageToken != "" {
		var c cursor
		if err := r.pages.Decode(pageToken, queryKey, &c); err != nil {
			return nil, "", err
		}
		if c.Time == nil {
			return nil, "", apperr.InvalidField("page_token", "INVALID_PAGE_TOKEN", "page token does not fit the order")
		}
		args = append(args, *c.Time, c.ID)
		where += " AND (changed_at, id) > ($2, $3)"
	}
	args = append(args, pageSize+1)
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT id, order_id, from_status, to_status, reason, actor, changed_at
		FROM order_status_changes WHERE %s ORDER BY changed_at, id LIMIT $%d`, where, len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list status changes: %w", err)
	}
	out, err := collect(rows, func(row pgx.Row) (domain.StatusChange, error) {
		var c domain.StatusChange
		var from, to string
		err := row.Scan(&c.ID, &c.OrderID, &from, &to, &c.Reason, &c.Actor, &c.At)
		c.From, c.To, c.At = domain.Status(from), domain.Status(to), c.At.UTC()
		return c, err
	})
	if err != nil || len(out) <= pageSize {
		return out, "", err
	}
	out = out[:pageSize]
	last := out[len(out)-1]
	next, err := r.pages.Encode(queryKey, cursor{Time: &last.At, ID: last.ID})
	return out, next, err
}

package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/aipfilter"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/opportunity/internal/app"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
)

// ListFilters are the filter schemas of the list RPCs, by RPC name, for
// tests that walk every field.
func ListFilters() map[string]*aipfilter.Schema {
	return map[string]*aipfilter.Schema{"ListOpportunities": opportunityFilter}
}

// opportunityFilter is what ListOpportunities' filter may name; keep the
// proto comment of ListOpportunitiesRequest.filter in step.
var opportunityFilter = aipfilter.NewSchema(map[string]aipfilter.Field{
	"account":           {Column: "account", Kind: aipfilter.String},
	"primary_contact":   {Column: "primary_contact", Kind: aipfilter.String},
	"owner":             {Column: "owner", Kind: aipfilter.String},
	"pipeline":          {Column: "pipeline", Kind: aipfilter.String},
	"stage":             {Column: "stage", Kind: aipfilter.String},
	"state":             {Column: "state", Kind: aipfilter.Enum, EnumType: opportunityv1.OpportunityState(0).Type(), EnumPrefix: "OPPORTUNITY_STATE_"},
	"forecast_category": {Column: "forecast_category", Kind: aipfilter.Enum, EnumType: opportunityv1.ForecastCategory(0).Type(), EnumPrefix: "FORECAST_CATEGORY_"},
	"source_lead":       {Column: "source_lead", Kind: aipfilter.String},
	"type":              {Column: "type", Kind: aipfilter.Enum, EnumType: opportunityv1.OpportunityType(0).Type(), EnumPrefix: "OPPORTUNITY_TYPE_"},
	"renewal_contract":  {Column: "renewal_contract", Kind: aipfilter.String},
	"currency_code":     {Column: "currency_code", Kind: aipfilter.String, Normalize: strings.ToUpper},
	// ISO dates compare as text; an unset date is "".
	"expected_close_date": {Column: "coalesce(expected_close_date::text, '')", Kind: aipfilter.String},
	"close_time":          {Column: "close_time", Kind: aipfilter.Timestamp},
	"create_time":         {Column: "created_at", Kind: aipfilter.Timestamp},
	"update_time":         {Column: "updated_at", Kind: aipfilter.Timestamp},
	"text":                {Column: "search", Kind: aipfilter.Text, MinLen: 3},
})

// order is a sort column and how its key travels in a page token.
type order struct {
	column string
	// cast of the key parameter: "" for timestamps, else "date"/"numeric".
	cast string
	key  func(o *domain.Opportunity) cursor
}

var opportunityOrders = map[string]order{
	"create_time": {"created_at", "", func(o *domain.Opportunity) cursor { return cursor{Time: &o.CreatedAt} }},
	"update_time": {"updated_at", "", func(o *domain.Opportunity) cursor { return cursor{Time: &o.UpdatedAt} }},
	"expected_close_date": {"coalesce(expected_close_date, 'infinity'::date)", "date", func(o *domain.Opportunity) cursor {
		s := "infinity"
		if !o.ExpectedCloseDate.IsZero() {
			s = o.ExpectedCloseDate.String()
		}
		return cursor{Text: &s}
	}},
	"amount": {"coalesce(amount, 0)", "numeric", func(o *domain.Opportunity) cursor {
		s := "0"
		if o.Amount != nil {
			s = money.Decimal(o.Amount)
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

// ListOpportunities answers one page with keyset pagination: the page
// after a token starts strictly after the (sort key, id) it carries.
func (r *Repo) ListOpportunities(ctx context.Context, q app.ListQuery) ([]*domain.Opportunity, string, error) {
	field, desc, err := paging.ParseOrder(q.OrderBy, opportunityOrders)
	if err != nil {
		return nil, "", err
	}
	o := opportunityOrders[field]
	var args []any
	clause, err := opportunityFilter.Where(q.Filter, &args)
	if err != nil {
		return nil, "", err
	}
	queryKey := "opportunities\x00" + q.Filter + "\x00" + field + " " + strconv.FormatBool(desc)
	if v := q.Visible; v != nil {
		args = append(args, v.Owner, v.Won)
		clause = clause.And(fmt.Sprintf("(owner = $%d AND $%d <> '' OR $%d AND state = 'WON')", len(args)-1, len(args)-1, len(args)))
		queryKey += "\x00" + v.Owner + "\x00" + strconv.FormatBool(v.Won)
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
	sql := fmt.Sprintf(`SELECT %s FROM opportunities WHERE %s ORDER BY %s %s, id %s LIMIT $%d`,
		opportunityColumns, where, o.column, dir, dir, len(args))
	rows, err := pg.Q(ctx, r.pool).Query(ctx, sql, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list opportunities: %w", err)
	}
	out, err := collect(rows, func(row pgx.Row) (*domain.Opportunity, error) { return scanOpportunity(row) })
	if err != nil || len(out) <= q.PageSize {
		return out, "", err
	}
	out = out[:q.PageSize]
	last := out[len(out)-1]
	c := o.key(last)
	c.ID = last.ID
	next, err := r.pages.Encode(queryKey, c)
	return out, next, err
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

// ListPipelines pages through pipelines, oldest first.
func (r *Repo) ListPipelines(ctx context.Context, q app.ListQuery) ([]*domain.Pipeline, string, error) {
	args := []any{}
	where := "true"
	if q.PageToken != "" {
		var c cursor
		if err := r.pages.Decode(q.PageToken, "pipelines", &c); err != nil {
			return nil, "", err
		}
		if c.Time == nil {
			return nil, "", apperr.InvalidField("page_token", "INVALID_PAGE_TOKEN", "page token does not fit the order")
		}
		args = append(args, *c.Time, c.ID)
		where = "(created_at, id) > ($1, $2)"
	}
	args = append(args, q.PageSize+1)
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT %s FROM pipelines WHERE %s ORDER BY created_at, id LIMIT $%d`,
		pipelineColumns, where, len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list pipelines: %w", err)
	}
	out, err := collect(rows, scanPipeline)
	if err != nil || len(out) <= q.PageSize {
		return out, "", err
	}
	out = out[:q.PageSize]
	last := out[len(out)-1]
	next, err := r.pages.Encode("pipelines", cursor{Time: &last.CreatedAt, ID: last.ID})
	return out, next, err
}

// ListStageChanges pages through an opportunity's history, oldest first.
func (r *Repo) ListStageChanges(ctx context.Context, id uuid.UUID, pageSize int, pageToken string) ([]domain.StageChange, string, error) {
	queryKey := "stage_changes\x00" + id.String()
	args := []any{id}
	where := "opportunity_id = $1"
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
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT id, opportunity_id, pipeline_id, from_stage, to_stage, actor, changed_at, time_in_previous
		FROM stage_changes WHERE %s ORDER BY changed_at, id LIMIT $%d`, where, len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list stage changes: %w", err)
	}
	out, err := collect(rows, func(row pgx.Row) (domain.StageChange, error) {
		var c domain.StageChange
		var us int64
		err := row.Scan(&c.ID, &c.OpportunityID, &c.PipelineID, &c.From, &c.To, &c.Actor, &c.At, &us)
		c.At, c.TimeInPrevious = c.At.UTC(), time.Duration(us)*time.Microsecond
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

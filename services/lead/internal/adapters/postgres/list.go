package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/aipfilter"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/lead/internal/app"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

// leadFilter is what ListLeads' filter may name; keep the proto comment of
// ListLeadsRequest.filter in step.
var leadFilter = aipfilter.NewSchema(map[string]aipfilter.Field{
	"status":            {Column: "status", Kind: aipfilter.Enum, EnumType: leadv1.Status(0).Type(), EnumPrefix: "STATUS_"},
	"rating":            {Column: "rating", Kind: aipfilter.Enum, EnumType: leadv1.Rating(0).Type(), EnumPrefix: "RATING_"},
	"source":            {Column: "source", Kind: aipfilter.Enum, EnumType: leadv1.Source(0).Type(), EnumPrefix: "SOURCE_"},
	"lifecycle_stage":   {Column: "lifecycle_stage", Kind: aipfilter.Enum, EnumType: leadv1.LifecycleStage(0).Type(), EnumPrefix: "LIFECYCLE_STAGE_"},
	"owner":             {Column: "owner", Kind: aipfilter.String},
	"campaign":          {Column: "campaign", Kind: aipfilter.String},
	"company":           {Column: "company", Kind: aipfilter.String},
	"email":             {Column: "email", Kind: aipfilter.String, Fold: true},
	"create_time":       {Column: "created_at", Kind: aipfilter.Timestamp},
	"update_time":       {Column: "updated_at", Kind: aipfilter.Timestamp},
	"next_contact_time": {Column: "next_contact_at", Kind: aipfilter.Timestamp},
	"text":              {Column: "search", Kind: aipfilter.Text, MinLen: 3},
})

// ListFilters are the filter schemas of the list RPCs, by RPC name, for
// tests that walk every field.
func ListFilters() map[string]*aipfilter.Schema {
	return map[string]*aipfilter.Schema{"ListLeads": leadFilter}
}

// leadOrders maps order_by fields to their columns; each is NOT NULL and
// indexed together with id.
var leadOrders = map[string]struct {
	column string
	isTime bool
}{
	"create_time": {"created_at", true},
	"update_time": {"updated_at", true},
	"last_name":   {"last_name", false},
	"company":     {"company", false},
}

// leadCursor is the sort key of the last lead of a page.
type leadCursor struct {
	Time *time.Time `json:"t,omitempty"`
	Text *string    `json:"s,omitempty"`
	ID   uuid.UUID  `json:"id"`
}

// List implements app.Repository with keyset pagination: the page after a
// token starts strictly after the (sort key, id) the token carries.
func (r *Repo) List(ctx context.Context, q app.ListQuery) ([]*domain.Lead, string, error) {
	field, desc, err := paging.ParseOrder(q.OrderBy, leadOrders)
	if err != nil {
		return nil, "", err
	}
	order := leadOrders[field]
	var args []any
	clause, err := leadFilter.Where(q.Filter, &args)
	if err != nil {
		return nil, "", err
	}
	if q.Owner != "" {
		args = append(args, q.Owner)
		clause = clause.And(fmt.Sprintf("owner = $%d", len(args)))
	}
	queryKey := "leads\x00" + q.Filter + "\x00" + q.Owner + "\x00" + field + " " + strconv.FormatBool(desc)
	dir, cmp := "ASC", ">"
	if desc {
		dir, cmp = "DESC", "<"
	}
	keyset := "TRUE"
	if q.PageToken != "" {
		var c leadCursor
		if err := r.pages.Decode(q.PageToken, queryKey, &c); err != nil {
			return nil, "", err
		}
		var key any
		switch {
		case order.isTime && c.Time != nil:
			key = *c.Time
		case !order.isTime && c.Text != nil:
			key = *c.Text
		default:
			return nil, "", apperr.InvalidField("page_token", "INVALID_PAGE_TOKEN", "page token does not fit the order")
		}
		args = append(args, key, c.ID)
		keyset = fmt.Sprintf("(%s, id) %s ($%d, $%d)", order.column, cmp, len(args)-1, len(args))
	}
	args = append(args, q.PageSize+1)
	limit := fmt.Sprintf("$%d", len(args))
	orderBy := fmt.Sprintf("%s %s, id %s", order.column, dir, dir)
	var leads []*domain.Lead
	if !clause.HasText {
		leads, err = r.queryLeads(ctx, fmt.Sprintf(`SELECT %s FROM leads WHERE %s AND %s ORDER BY %s LIMIT %s`,
			leadColumns, clause.SQL, keyset, orderBy, limit), args)
	} else {
		leads, err = r.listWithText(ctx, clause, keyset, orderBy, limit, args, q.PageSize)
	}
	if err != nil {
		return nil, "", err
	}
	if len(leads) <= q.PageSize {
		return leads, "", nil
	}
	leads = leads[:q.PageSize]
	last := leads[len(leads)-1]
	c := leadCursor{ID: last.ID}
	switch field {
	case "create_time":
		c.Time = &last.CreatedAt
	case "update_time":
		c.Time = &last.UpdatedAt
	case "last_name":
		c.Text = &last.LastName
	case "company":
		c.Text = &last.Company
	}
	next, err := r.pages.Encode(queryKey, c)
	return leads, next, err
}

// Text searches probe this many leads first, and at most maxTextProbeRows
// (tuned with make bench over 1M leads; variables so tests can shrink them
// to exercise every path on a small table).
var (
	textProbeRows    = 1000
	maxTextProbeRows = 6000
)

// listWithText answers a page of a filter with a text match. Whether a
// substring is rare or common decides the right plan (collect the few
// matches through the trigram index, or walk the order index until the
// page is full), and estimates of it are rough even with a large histogram
// on the search column; a wrong guess costs a hundred milliseconds. So we
// look first. A probe walks the next leads in list order that pass the
// filter's text-free terms (through their indexes), a bounded number of
// them, and tests the text on those only: if that fills the page, the page
// is exact, because any later match sorts after them. The matches a probe
// found tell how far a second probe must go; if that is too far, matches
// are sparse and the planner, with the text now known to be selective,
// gets the whole query.
func (r *Repo) listWithText(ctx context.Context, clause aipfilter.Clause, keyset, orderBy, limit string, args []any, pageSize int) ([]*domain.Lead, error) {
	probe := func(rows int) ([]*domain.Lead, error) {
		return r.queryLeads(ctx, fmt.Sprintf(`SELECT %s FROM (
				SELECT * FROM leads WHERE %s AND %s ORDER BY %s LIMIT %d
			) recent WHERE %s ORDER BY %s LIMIT %s`,
			leadColumns, clause.WithoutText, keyset, orderBy, rows, clause.SQL, orderBy, limit), args)
	}
	leads, err := probe(textProbeRows)
	if err != nil || len(leads) > pageSize {
		return leads, err
	}
	if found := len(leads); found > 0 {
		if rows := textProbeRows * (pageSize + 1) * 3 / (2 * found); rows <= maxTextProbeRows {
			if leads, err = probe(rows); err != nil || len(leads) > pageSize {
				return leads, err
			}
		}
	}
	return r.queryLeads(ctx, fmt.Sprintf(`SELECT %s FROM leads WHERE %s AND %s ORDER BY %s LIMIT %s`,
		leadColumns, clause.SQL, keyset, orderBy, limit), args)
}

func (r *Repo) queryLeads(ctx context.Context, sql string, args []any) ([]*domain.Lead, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list leads: %w", err)
	}
	defer rows.Close()
	var leads []*domain.Lead
	for rows.Next() {
		l, err := scanLead(rows)
		if err != nil {
			return nil, err
		}
		leads = append(leads, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list leads: %w", err)
	}
	return leads, nil
}

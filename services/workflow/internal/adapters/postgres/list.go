package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/aipfilter"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

// ListFilters are the filter schemas of the list RPCs, by RPC name, for
// tests that walk every field.
func ListFilters() map[string]*aipfilter.Schema {
	return map[string]*aipfilter.Schema{"ListActivities": activityFilter, "ListRuleRuns": runFilter}
}

// activityFilter is what ListActivities' filter may name; keep the proto
// comment of ListActivitiesRequest.filter in step.
var activityFilter = aipfilter.NewSchema(map[string]aipfilter.Field{
	"type":        {Column: "a.type", Kind: aipfilter.Enum, EnumType: workflowv1.ActivityType(0).Type(), EnumPrefix: "ACTIVITY_TYPE_"},
	"status":      {Column: "a.status", Kind: aipfilter.Enum, EnumType: workflowv1.ActivityStatus(0).Type(), EnumPrefix: "ACTIVITY_STATUS_"},
	"owner":       {Column: "a.owner", Kind: aipfilter.String},
	"regarding":   {Column: "a.regarding", Kind: aipfilter.String},
	"rule":        {Column: "coalesce('rules/' || a.rule_id::text, '')", Kind: aipfilter.String},
	"occur_time":  {Column: "a.occur_at", Kind: aipfilter.Timestamp},
	"due_time":    {Column: "a.due_at", Kind: aipfilter.Timestamp},
	"create_time": {Column: "a.created_at", Kind: aipfilter.Timestamp},
})

var qualifiedActivityColumns = "a." + strings.Join(activityList, ", a.")

// cursor is the sort key of the last row of a page.
type cursor struct {
	Time *time.Time `json:"t,omitempty"`
	ID   uuid.UUID  `json:"id"`
}

// readerClause keeps the activities regarding records rd may read (see
// app.Reader), appending its parameters.
func readerClause(rd *app.Reader, args *[]any) string {
	var or []string
	if rd.Owner != "" {
		*args = append(*args, rd.Owner)
		n := len(*args)
		or = append(or, "a.regarding_type IN ('ACCOUNT', 'CONTACT')",
			fmt.Sprintf("r.owner = $%d", n),
			fmt.Sprintf("a.regarding_type IN ('ORDER', 'CONTRACT') AND EXISTS (SELECT 1 FROM records ac WHERE ac.name = r.account AND ac.owner = $%d)", n))
	}
	if rd.Ops {
		or = append(or, "a.regarding_type IN ('ACCOUNT', 'CONTACT', 'ORDER', 'CONTRACT')", "a.regarding_type = 'OPPORTUNITY' AND r.status = 'WON'")
	}
	if len(or) == 0 {
		return "false"
	}
	return "(" + strings.Join(or, " OR ") + ")"
}

// ListActivities pages newest first (by when it happened, or is due) with
// keyset pagination: a record's, an account's timeline, or all.
func (r *Repo) ListActivities(ctx context.Context, q app.ActivityQuery) ([]*domain.Activity, string, error) {
	var args []any
	clause, err := activityFilter.Where(q.Filter, &args)
	if err != nil {
		return nil, "", err
	}
	queryKey := "activities\x00" + q.Regarding + "\x00" + q.Account + "\x00" + q.Contact + "\x00" + q.Filter
	where := []string{clause.SQL}
	switch {
	case q.Account != "":
		args = append(args, q.Account)
		// "<> ''" lets a generic plan (prepared statements) use the partial
		// index on account.
		where = append(where, fmt.Sprintf("a.account = $%d AND a.account <> ''", len(args)))
	case q.Contact != "":
		// A contact's, and those of the leads converted into it.
		args = append(args, q.Contact)
		where = append(where, fmt.Sprintf("(a.regarding = $%[1]d OR a.regarding IN (SELECT name FROM records WHERE type = 'LEAD' AND contact = $%[1]d))", len(args)))
	case q.Regarding != "":
		args = append(args, q.Regarding)
		where = append(where, fmt.Sprintf("a.regarding = $%d", len(args)))
	}
	join := ""
	if q.Reader != nil {
		join = " LEFT JOIN records r ON r.name = a.regarding"
		where = append(where, readerClause(q.Reader, &args))
		queryKey += fmt.Sprintf("\x00%s\x00%v", q.Reader.Owner, q.Reader.Ops)
	}
	if q.PageToken != "" {
		var c cursor
		if err := r.pages.Decode(q.PageToken, queryKey, &c); err != nil {
			return nil, "", err
		}
		if c.Time == nil {
			return nil, "", apperr.InvalidField("page_token", "INVALID_PAGE_TOKEN", "page token does not fit the order")
		}
		args = append(args, *c.Time, c.ID)
		where = append(where, fmt.Sprintf("(a.at, a.id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	args = append(args, q.PageSize+1)
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT %s FROM activities a%s WHERE %s ORDER BY a.at DESC, a.id DESC LIMIT $%d`,
		qualifiedActivityColumns, join, strings.Join(where, " AND "), len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list activities: %w", err)
	}
	out, err := collect(rows, scanActivity)
	if err != nil || len(out) <= q.PageSize {
		return out, "", err
	}
	out = out[:q.PageSize]
	last := out[len(out)-1]
	at := last.OccurAt
	if at.IsZero() {
		at = last.DueAt
	}
	next, err := r.pages.Encode(queryKey, cursor{Time: &at, ID: last.ID})
	return out, next, err
}

// ListTasks pages an owner's open tasks by due time (overdue ones come
// first: they are due earliest).
func (r *Repo) ListTasks(ctx context.Context, q app.TaskQuery, _ time.Time) ([]*domain.Activity, string, error) {
	args := []any{q.Owner}
	where := []string{"owner = $1", "status = 'OPEN'"}
	queryKey := "tasks\x00" + q.Owner
	if !q.DueAfter.IsZero() {
		args = append(args, q.DueAfter)
		where = append(where, fmt.Sprintf("due_at >= $%d", len(args)))
		queryKey += "\x00" + q.DueAfter.String()
	}
	if !q.DueBefore.IsZero() {
		args = append(args, q.DueBefore)
		where = append(where, fmt.Sprintf("due_at < $%d", len(args)))
		queryKey += "\x00" + q.DueBefore.String()
	}
	if q.PageToken != "" {
		var c cursor
		if err := r.pages.Decode(q.PageToken, queryKey, &c); err != nil {
			return nil, "", err
		}
		if c.Time == nil {
			return nil, "", apperr.InvalidField("page_token", "INVALID_PAGE_TOKEN", "page token does not fit the order")
		}
		args = append(args, *c.Time, c.ID)
		where = append(where, fmt.Sprintf("(due_at, id) > ($%d, $%d)", len(args)-1, len(args)))
	}
	args = append(args, q.PageSize+1)
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT %s FROM activities WHERE %s ORDER BY due_at, id LIMIT $%d`,
		activityColumns, strings.Join(where, " AND "), len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list tasks: %w", err)
	}
	out, err := collect(rows, scanActivity)
	if err != nil || len(out) <= q.PageSize {
		return out, "", err
	}
	out = out[:q.PageSize]
	last := out[len(out)-1]
	next, err := r.pages.Encode(queryKey, cursor{Time: &last.DueAt, ID: last.ID})
	return out, next, err
}

package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/account/internal/app"
	"github.com/crmsuite/crm/services/account/internal/domain"
)

// ContactRoles implements app.Repository.
func (r *Repo) ContactRoles(ctx context.Context) ([]domain.ContactRole, int64, error) {
	return r.contactRoles(ctx, "")
}

// ShareContactRoles implements app.Repository.
func (r *Repo) ShareContactRoles(ctx context.Context) ([]domain.ContactRole, error) {
	rs, _, err := r.contactRoles(ctx, " FOR SHARE")
	return rs, err
}

func (r *Repo) contactRoles(ctx context.Context, lock string) ([]domain.ContactRole, int64, error) {
	q := pg.Q(ctx, r.pool)
	var version int64
	if err := q.QueryRow(ctx, `SELECT version FROM contact_role_list`+lock).Scan(&version); err != nil {
		return nil, 0, fmt.Errorf("contact role list: %w", err)
	}
	rows, err := q.Query(ctx, `SELECT id, display_name, retired FROM contact_roles ORDER BY retired, position, id`)
	if err != nil {
		return nil, 0, fmt.Errorf("contact roles: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.ContactRole, error) {
		var cr domain.ContactRole
		return cr, row.Scan(&cr.ID, &cr.DisplayName, &cr.Retired)
	})
	return out, version, err
}

// ReplaceContactRoles implements app.Repository: the list row's lock
// serialises replacements, and its version is the etag.
func (r *Repo) ReplaceContactRoles(ctx context.Context, rs []domain.ContactRole, ifMatch, actor string, now time.Time) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		_, version, err := r.contactRoles(ctx, " FOR UPDATE")
		if err != nil {
			return err
		}
		if err := etag.Check(ifMatch, version); err != nil {
			return err
		}
		ids := make([]string, len(rs))
		b := &pgx.Batch{}
		for i, cr := range rs {
			ids[i] = cr.ID
			b.Queue(`INSERT INTO contact_roles (id, display_name, retired, position) VALUES ($1, $2, false, $3)
				ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, retired = false, position = EXCLUDED.position`,
				cr.ID, cr.DisplayName, i+1)
		}
		b.Queue(`UPDATE contact_roles SET retired = true WHERE NOT (id = ANY($1))`, ids)
		b.Queue(`UPDATE contact_role_list SET version = version + 1, updated_at = $1, updated_by = $2`, now, actor)
		if err := q.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("replace contact roles: %w", err)
		}
		return nil
	})
}

// birthdayCursor is where a page of upcoming birthdays ends.
type birthdayCursor struct {
	Offset int       `json:"o"`
	ID     uuid.UUID `json:"id"`
}

// UpcomingBirthdays implements app.Repository: the contacts whose
// birthday code is among the window's, soonest first (then by id).
//
// The window is read a few days at a time (1, 2, 4, ... days) until the
// page is full, and each day through the (birthday_code, id) index in id
// order, joining the contact by its key and filtering as it goes, up to
// what the page still needs. The fence (OFFSET 0) keeps the planner from
// intersecting the day's ids with a whole-table index of the filter
// (contacts_roles, contacts_owner_created), which costs as much as the
// filter matches. A page thus reads about what it shows divided by the
// filter's selectivity, however many contacts there are.
func (r *Repo) UpcomingBirthdays(ctx context.Context, w app.BirthdayWindow, q app.ListQuery) ([]app.BirthdayRow, string, error) {
	var filterArgs []any
	clause, err := r.contactFilter().Where(q.Filter, &filterArgs)
	if err != nil {
		return nil, "", err
	}
	queryKey := "birthdays\x00" + q.Filter + "\x00" + w.Key
	var after *birthdayCursor
	if q.PageToken != "" {
		after = &birthdayCursor{}
		if err := r.pages.Decode(q.PageToken, queryKey, after); err != nil {
			return nil, "", err
		}
	}
	need := q.PageSize + 1
	var out []app.BirthdayRow
	first := 0
	for first < len(w.Codes) && after != nil && w.Offsets[first] < after.Offset {
		first++
	}
	for days := 1; first < len(w.Codes) && len(out) < need; days *= 2 {
		last := first
		for d := 0; last < len(w.Codes) && d < days; d++ {
			for off := w.Offsets[last]; last < len(w.Codes) && w.Offsets[last] == off; last++ {
			}
		}
		rows, err := r.birthdaysOf(ctx, w.Codes[first:last], w.Offsets[first:last], clause.SQL, filterArgs, after, need-len(out))
		if err != nil {
			return nil, "", err
		}
		out = append(out, rows...)
		first = last
	}
	if len(out) <= q.PageSize {
		return out, "", nil
	}
	out = out[:q.PageSize]
	last := out[len(out)-1]
	next, err := r.pages.Encode(queryKey, birthdayCursor{Offset: last.Offset, ID: last.Contact.ID})
	return out, next, err
}

// birthdaysOf reads up to limit contacts (matching where) of the given
// birthday codes, after the cursor, in (offset, id) order.
func (r *Repo) birthdaysOf(ctx context.Context, codes, offsets []int, where string, filterArgs []any, after *birthdayCursor, limit int) ([]app.BirthdayRow, error) {
	args := slices.Clone(filterArgs)
	if after != nil {
		args = append(args, after.Offset, after.ID)
		where += fmt.Sprintf(" AND (w.bday_offset > $%d OR (w.bday_offset = $%d AND id > $%d))", len(args)-1, len(args)-1, len(args))
	}
	args = append(args, codes, offsets, limit)
	n := len(args)
	sql := fmt.Sprintf(`SELECT c.*, w.bday_offset FROM unnest($%d::int[], $%d::int[]) AS w(bday_code, bday_offset)
		CROSS JOIN LATERAL (
			SELECT %s FROM (SELECT id AS day_id FROM contacts WHERE birthday_code = w.bday_code ORDER BY id OFFSET 0) day
			JOIN contacts ON id = day_id
			WHERE %s ORDER BY day_id LIMIT $%d) c
		ORDER BY w.bday_offset, c.id LIMIT $%d`, n-2, n-1, contactColumns, where, n, n)
	rows, err := pg.Q(ctx, r.pool).Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("upcoming birthdays: %w", err)
	}
	defer rows.Close()
	var out []app.BirthdayRow
	for rows.Next() {
		var offset int
		c, err := scanContact(rows, &offset)
		if err != nil {
			return nil, err
		}
		out = append(out, app.BirthdayRow{Contact: c, Offset: offset})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("upcoming birthdays: %w", err)
	}
	return out, nil
}

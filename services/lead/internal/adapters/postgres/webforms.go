package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/lead/internal/app"
	"github.com/crmsuite/crm/services/lead/internal/domain"
	"github.com/crmsuite/crm/services/lead/internal/protomap"
)

var _ app.WebFormStore = (*Repo)(nil)

const webFormColumns = `id, display_name, campaign, default_owner, allowed_origins, redirect_uri,
	key_hash, key_prefix, created_at, created_by, revoked_at, revoked_by, default_rating`

func scanWebForm(row pgx.Row) (*domain.WebForm, error) {
	var f domain.WebForm
	var rating string
	err := row.Scan(&f.ID, &f.DisplayName, &f.Campaign, &f.DefaultOwner, &f.AllowedOrigins, &f.RedirectURI,
		&f.KeyHash, &f.KeyPrefix, &f.CreatedAt, &f.CreatedBy, &f.RevokedAt, &f.RevokedBy, &rating)
	if err != nil {
		return nil, err
	}
	f.CreatedAt, f.DefaultRating = f.CreatedAt.UTC(), domain.Rating(rating)
	if f.RevokedAt != nil {
		t := f.RevokedAt.UTC()
		f.RevokedAt = &t
	}
	return &f, nil
}

// CreateWebForm implements app.WebFormStore; the form's audit trail
// starts with it (its API form, which never holds the key).
func (r *Repo) CreateWebForm(ctx context.Context, f *domain.WebForm) error {
	origins := f.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	return pg.InTx(ctx, r.pool, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		_, err := q.Exec(ctx, `INSERT INTO web_forms (`+webFormColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			f.ID, f.DisplayName, f.Campaign, f.DefaultOwner, origins, f.RedirectURI,
			f.KeyHash, f.KeyPrefix, f.CreatedAt, f.CreatedBy, f.RevokedAt, f.RevokedBy, string(f.DefaultRating))
		if err != nil {
			return fmt.Errorf("create web form: %w", err)
		}
		return audit.Record(ctx, q, nil, protomap.WebForm(f), "")
	})
}

// GetWebForm implements app.WebFormStore.
func (r *Repo) GetWebForm(ctx context.Context, id uuid.UUID) (*domain.WebForm, error) {
	f, err := scanWebForm(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+webFormColumns+` FROM web_forms WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrWebFormNotFound(id)
	}
	return f, err
}

// ListWebForms implements app.WebFormStore: newest first, by id (UUIDv7).
func (r *Repo) ListWebForms(ctx context.Context, showRevoked bool, pageSize int, pageToken string) ([]*domain.WebForm, string, error) {
	queryKey := "webForms\x00" + strconv.FormatBool(showRevoked)
	where, args := "true", []any{pageSize + 1}
	if !showRevoked {
		where = "revoked_at IS NULL"
	}
	if pageToken != "" {
		var after uuid.UUID
		if err := r.pages.Decode(pageToken, queryKey, &after); err != nil {
			return nil, "", err
		}
		args = append(args, after)
		where += " AND id < $2"
	}
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+webFormColumns+` FROM web_forms WHERE `+where+` ORDER BY id DESC LIMIT $1`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list web forms: %w", err)
	}
	forms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*domain.WebForm, error) { return scanWebForm(row) })
	if err != nil {
		return nil, "", fmt.Errorf("list web forms: %w", err)
	}
	if len(forms) <= pageSize {
		return forms, "", nil
	}
	forms = forms[:pageSize]
	next, err := r.pages.Encode(queryKey, forms[pageSize-1].ID)
	return forms, next, err
}

// MutateWebForm implements app.WebFormStore. Revocation is the only
// change a form has.
func (r *Repo) MutateWebForm(ctx context.Context, id uuid.UUID, fn func(f *domain.WebForm) bool) (*domain.WebForm, error) {
	var out *domain.WebForm
	err := pg.InTx(ctx, r.pool, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		f, err := scanWebForm(q.QueryRow(ctx, `SELECT `+webFormColumns+` FROM web_forms WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.ErrWebFormNotFound(id)
		}
		if err != nil {
			return err
		}
		out = f
		before := protomap.WebForm(f)
		if !fn(f) {
			return nil
		}
		if _, err = q.Exec(ctx, `UPDATE web_forms SET revoked_at = $2, revoked_by = $3 WHERE id = $1`, id, f.RevokedAt, f.RevokedBy); err != nil {
			return err
		}
		return audit.Record(ctx, q, before, protomap.WebForm(f), "")
	})
	return out, err
}

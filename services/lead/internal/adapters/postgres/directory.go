package postgres

import (
	"context"
	"fmt"

	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/lead/internal/app"
)

var _ app.Directory = (*Repo)(nil)

// SaveDirectoryUser keeps a user's state unless a later version of it is
// stored already.
func (r *Repo) SaveDirectoryUser(ctx context.Context, u app.DirectoryUser) error {
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `INSERT INTO directory_users (id, active, deleted, version, updated_at) VALUES ($1, $2, $3, $4, now())
		ON CONFLICT (id) DO UPDATE SET active = excluded.active, deleted = excluded.deleted, version = excluded.version, updated_at = now()
		WHERE directory_users.version < excluded.version`, u.ID, u.Active, u.Deleted, u.Version)
	if err != nil {
		return fmt.Errorf("save directory user: %w", err)
	}
	return nil
}

// OwnerStatus says whether the directory is kept at all and, if so,
// whether id is an active user in it.
func (r *Repo) OwnerStatus(ctx context.Context, id string) (kept, active bool, err error) {
	err = pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM directory_users),
		EXISTS (SELECT 1 FROM directory_users WHERE id = $1 AND active AND NOT deleted)`, id).Scan(&kept, &active)
	return kept, active, err
}

package app

import (
	"context"
	"strings"

	"github.com/crmsuite/crm/platform/apperr"
)

// ReasonOwnerNotActiveUser refuses an owner who is not an active user of
// the workflow service's directory.
const ReasonOwnerNotActiveUser = "OWNER_NOT_ACTIVE_USER"

// DirectoryUser is a user of the workflow service's directory as a
// UserChanged event carries it.
type DirectoryUser struct {
	ID              string
	Active, Deleted bool
	Version         int64
}

// Directory is the lead service's projection of the workflow service's
// users (fed by UserChanged): whom AssignLead accepts as an owner.
type Directory interface {
	// SaveDirectoryUser stores u unless a later version of it is stored.
	SaveDirectoryUser(ctx context.Context, u DirectoryUser) error
	// OwnerStatus says whether any user was ever in the directory (kept)
	// and whether id is an active one.
	OwnerStatus(ctx context.Context, id string) (kept, active bool, err error)
}

// WithDirectory makes AssignLead accept only active users as owners, once
// the directory has any user.
func (s *Service) WithDirectory(d Directory) *Service {
	s.directory = d
	return s
}

// ApplyUserChanged keeps a directory user's state (the UserChanged
// consumer, in its inbox transaction).
func (s *Service) ApplyUserChanged(ctx context.Context, u DirectoryUser) error {
	if s.directory == nil {
		return nil
	}
	return s.directory.SaveDirectoryUser(ctx, u)
}

// checkAssignee refuses an owner who is not an active directory user.
// Before the directory has any user (an install that keeps none) every
// owner is accepted, as before there was one.
func (s *Service) checkAssignee(ctx context.Context, owner string) error {
	owner = strings.TrimSpace(owner)
	if s.directory == nil || owner == "" {
		return nil
	}
	kept, active, err := s.directory.OwnerStatus(ctx, owner)
	if err != nil || !kept || active {
		return err
	}
	return apperr.FailedPrecondition(ReasonOwnerNotActiveUser,
		"%q is not an active user of the directory: only active users may own leads (an admin adds or reactivates users in the workflow service)", owner).
		WithMeta("owner", owner)
}

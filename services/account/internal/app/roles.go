package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/services/account/internal/domain"
)

// ContactRoles returns the contact role list (offered roles first, in
// their order, then retired ones) and its version, the etag.
func (s *Service) ContactRoles(ctx context.Context) ([]domain.ContactRole, int64, error) {
	return s.repo.ContactRoles(ctx)
}

// UpdateContactRoles replaces the offered contact roles; roles left out
// are retired. With an etag, only if the list is unchanged since.
func (s *Service) UpdateContactRoles(ctx context.Context, rs []domain.ContactRole, ifMatch string) ([]domain.ContactRole, int64, error) {
	rs, err := domain.NormalizeContactRoles(rs)
	if err != nil {
		return nil, 0, err
	}
	var out []domain.ContactRole
	var version int64
	err = s.repo.InTx(ctx, func(ctx context.Context) error {
		if err := s.repo.ReplaceContactRoles(ctx, rs, ifMatch, auth.Actor(ctx), s.now()); err != nil {
			return err
		}
		out, version, err = s.repo.ContactRoles(ctx)
		return err
	})
	return out, version, err
}

// checkRoles refuses roles given anew (not among had) that are not
// offered. It runs in the contact write's transaction and holds the list
// until it commits: a role retired meanwhile waits for the write, or the
// write sees it retired.
func (s *Service) checkRoles(ctx context.Context, roles, had []string) error {
	fresh := false
	for _, r := range roles {
		fresh = fresh || !slices.Contains(had, r)
	}
	if !fresh {
		return nil
	}
	offered, err := s.repo.ShareContactRoles(ctx)
	if err != nil {
		return err
	}
	return domain.CheckRoles(string(domain.FieldRoles), roles, had, offered)
}

// BirthdayWindow is the days an upcoming-birthdays list covers, as the
// repository matches them: a birthday code (domain.BirthdayCode) and its
// offset in days from today, pairwise, and a key naming the window (for
// page tokens).
type BirthdayWindow struct {
	Codes, Offsets []int
	Key            string
}

// BirthdayRow is a contact and how many days from today its birthday is.
type BirthdayRow struct {
	Contact *domain.Contact
	Offset  int
}

// UpcomingBirthday is a contact's next birthday.
type UpcomingBirthday struct {
	Contact   *domain.Contact
	Date      time.Time
	DaysUntil int
	// Age the contact turns; 0 without a birth year.
	Age int
}

// DefaultBirthdayDays is the window of ListUpcomingBirthdays when none is
// asked for.
const DefaultBirthdayDays = 30

// ListUpcomingBirthdays lists the contacts (matching q's filter) whose
// birthday falls in the next days days, today (in loc) included, soonest
// first. Every contact is readable by every reader, as in ListContacts;
// `owner = "..."` in the filter narrows it to one owner's.
func (s *Service) ListUpcomingBirthdays(ctx context.Context, days int, loc *time.Location, q ListQuery) ([]UpcomingBirthday, string, error) {
	if days == 0 {
		days = DefaultBirthdayDays
	}
	if days < 1 || days > 366 {
		return nil, "", apperr.InvalidField("days", "INVALID_DAYS", "days must be 1 to 366")
	}
	now := s.now().In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	window := domain.BirthdayWindow(today, days)
	w := BirthdayWindow{Key: fmt.Sprintf("%s+%d/%s", today.Format(time.DateOnly), days, loc)}
	for _, d := range window {
		for _, c := range d.Codes {
			w.Codes, w.Offsets = append(w.Codes, c), append(w.Offsets, d.Offset)
		}
	}
	rows, next, err := s.repo.UpcomingBirthdays(ctx, w, q)
	if err != nil {
		return nil, "", err
	}
	out := make([]UpcomingBirthday, len(rows))
	for i, r := range rows {
		day := window[r.Offset].Date
		out[i] = UpcomingBirthday{Contact: r.Contact, Date: day, DaysUntil: r.Offset}
		if b := r.Contact.Birthday; b != nil && b.Year > 0 {
			out[i].Age = day.Year() - int(b.Year)
		}
	}
	return out, next, nil
}

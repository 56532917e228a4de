package domain

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/crmsuite/crm/platform/apperr"
)

// ContactRole is a role a contact may play (procurement, finance,
// technical, decision maker, ...). The list is configurable; a role left
// out of it is retired: the contacts that have it keep it, no contact is
// given it anew.
type ContactRole struct {
	ID          string
	DisplayName string
	Retired     bool
}

// MaxContactRoles a contact may have.
const MaxContactRoles = 20

var roleID = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func validRoleID(id string) bool { return roleID.MatchString(id) }

// RoleIDOf derives a role id from a display name: "Decision maker" is
// "decision_maker".
func RoleIDOf(displayName string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(displayName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9' && b.Len() > 0:
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			under = false
		default:
			under = true
		}
	}
	return b.String()
}

// NormalizeContactRoles checks a replacement list of contact roles; an
// empty id is derived from the display name.
func NormalizeContactRoles(rs []ContactRole) ([]ContactRole, error) {
	var vs apperr.Violations
	seen := map[string]bool{}
	out := make([]ContactRole, len(rs))
	for i, r := range rs {
		r.DisplayName = strings.TrimSpace(r.DisplayName)
		r.ID = strings.TrimSpace(r.ID)
		if r.ID == "" {
			r.ID = RoleIDOf(r.DisplayName)
		}
		f := fmt.Sprintf("roles[%d]", i)
		if !validRoleID(r.ID) {
			vs.Add(f+".id", "INVALID_ID", "id %q must be lower_snake_case", r.ID)
		}
		if r.DisplayName == "" {
			vs.Add(f+".display_name", "DISPLAY_NAME_REQUIRED", "a contact role needs a display name")
		}
		if seen[r.ID] {
			vs.Add(f+".id", "DUPLICATE_ID", "id %q appears twice", r.ID)
		}
		seen[r.ID] = true
		r.Retired = false
		out[i] = r
	}
	return out, vs.Err()
}

// CheckRoles refuses roles a contact is given anew (not among had) that
// are not offered: unknown or retired ones. field names the list in the
// request ("roles", "buying_committee[2].roles").
func CheckRoles(field string, roles, had []string, offered []ContactRole) error {
	var vs apperr.Violations
	for i, id := range roles {
		if slices.Contains(had, id) {
			continue
		}
		j := slices.IndexFunc(offered, func(r ContactRole) bool { return r.ID == id })
		switch {
		case j < 0:
			vs.Add(fmt.Sprintf("%s[%d]", field, i), "UNKNOWN_CONTACT_ROLE", "%q is not a contact role (see ListContactRoles)", id)
		case offered[j].Retired:
			vs.Add(fmt.Sprintf("%s[%d]", field, i), "RETIRED_CONTACT_ROLE", "contact role %q is retired", id)
		}
	}
	return vs.Err()
}

// ValidBirthday says whether d is a calendar date; the year may be 0
// (unknown), then February 29 is allowed.
func (d Date) ValidBirthday() bool {
	if d.Year < 0 || d.Year > 9999 || d.Month < 1 || d.Month > 12 || d.Day < 1 {
		return false
	}
	year := int(d.Year)
	if year == 0 {
		year = 2000 // a leap year: February 29 is a birthday
	}
	return int(d.Day) <= daysIn(year, time.Month(d.Month))
}

func daysIn(year int, m time.Month) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// BirthdayCode is the month and day of a birthday as month*100+day, as
// the contacts table keeps it for lookups (0229 is February 29).
func BirthdayCode(month time.Month, day int) int { return int(month)*100 + day }

// BirthdayDay is one day of an upcoming-birthdays window: the birthdays
// celebrated on it (Codes) and how many days from today it is (Offset).
type BirthdayDay struct {
	Date   time.Time
	Offset int
	Codes  []int
}

// BirthdayWindow lists the days from today (a date at midnight) for the
// next days days and the birthday codes celebrated on each: a February
// 29 birthday is celebrated on February 28 in common years, as the
// workflow service's yearly time triggers fire it.
func BirthdayWindow(today time.Time, days int) []BirthdayDay {
	out := make([]BirthdayDay, 0, days)
	seen := map[int]bool{}
	for i := range days {
		d := today.AddDate(0, 0, i)
		day := BirthdayDay{Date: d, Offset: i}
		for _, c := range []int{BirthdayCode(d.Month(), d.Day()), leapDayCode(d)} {
			if c != 0 && !seen[c] {
				seen[c] = true
				day.Codes = append(day.Codes, c)
			}
		}
		out = append(out, day)
	}
	return out
}

// leapDayCode is February 29's code on February 28 of a common year, 0
// on any other day.
func leapDayCode(d time.Time) int {
	if d.Month() == time.February && d.Day() == 28 && daysIn(d.Year(), time.February) == 28 {
		return BirthdayCode(time.February, 29)
	}
	return 0
}

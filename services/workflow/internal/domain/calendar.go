package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// MaxFeedsPerUser live (not revoked) calendar feeds a user may have.
const MaxFeedsPerUser = 10

// Feed is a user's private calendar feed. Its token is the feed id (32
// hex digits) followed by a secret; only the secret's SHA-256 is kept.
type Feed struct {
	ID          uuid.UUID
	Owner       string
	TokenPrefix string
	SecretHash  []byte
	CreatedAt   time.Time
	RevokedAt   time.Time
}

// NewFeed makes a feed for owner and returns it with its token, which is
// shown once.
func NewFeed(owner string, now time.Time) (*Feed, string) {
	id := uuid.Must(uuid.NewV7())
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand never fails (Go 1.24+)
	s := base64.RawURLEncoding.EncodeToString(secret)
	token := strings.ReplaceAll(id.String(), "-", "") + s
	sum := sha256.Sum256([]byte(s))
	return &Feed{ID: id, Owner: owner, TokenPrefix: token[:8], SecretHash: sum[:], CreatedAt: now}, token
}

// ParseToken splits a token into the feed id and its secret.
func ParseToken(token string) (uuid.UUID, string, bool) {
	if len(token) < 33 {
		return uuid.Nil, "", false
	}
	id, err := uuid.Parse(token[:32])
	if err != nil {
		return uuid.Nil, "", false
	}
	return id, token[32:], true
}

// Opens reports whether secret is this feed's, comparing in constant time,
// and the feed is not revoked.
func (f *Feed) Opens(secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], f.SecretHash) == 1 && f.RevokedAt.IsZero()
}

// ErrFeedNotFound is returned for an unknown or revoked feed (the same
// answer for both: a token tells nothing).
func ErrFeedNotFound() error {
	return apperr.NotFound("CALENDAR_NOT_FOUND", "no such calendar: the feed does not exist or was revoked")
}

// CalendarItem is one event of a calendar feed: a scheduled activity, or
// a lead's next-contact time.
type CalendarItem struct {
	// UID is stable for the item's life; Sequence increases whenever it
	// changes, so calendar apps update it rather than add another.
	UID         string
	Sequence    int64
	Summary     string
	Description string
	Start       time.Time
	End         time.Time
	Cancelled   bool
	Done        bool
	Updated     time.Time
	// Record is the record it regards (a URL's path).
	Record string
}

// CalendarItemDuration is how long an item lasts on a calendar when it
// does not say (a task or a next-contact time).
const CalendarItemDuration = 15 * time.Minute

// ActivityItem is the calendar form of a scheduled activity: a VEVENT at
// its due time, lasting its duration.
func ActivityItem(a *Activity) CalendarItem {
	d := a.Duration
	if d <= 0 {
		d = CalendarItemDuration
	}
	summary := a.Subject
	if summary == "" {
		summary = strings.ToLower(string(a.Type))
	}
	if a.RegardingName != "" {
		summary += " · " + a.RegardingName
	}
	return CalendarItem{UID: "activity-" + a.ID.String(), Sequence: a.Version, Summary: summary, Description: a.Body,
		Start: a.DueAt, End: a.DueAt.Add(d), Cancelled: a.Status == StatusCancelled, Done: a.Status == StatusDone,
		Updated: a.UpdatedAt, Record: a.Regarding}
}

// LeadContactItem is the calendar form of a lead's next-contact time.
func LeadContactItem(r *Record, at time.Time, updated time.Time) CalendarItem {
	_, id, _ := ParseRecordName(r.Name)
	return CalendarItem{UID: "lead-next-contact-" + id.String(), Sequence: int64(r.Seq), Summary: "Contact " + r.DisplayName,
		Start: at, End: at.Add(CalendarItemDuration), Updated: updated, Record: r.Name}
}

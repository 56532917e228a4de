package domain

import (
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// ActivityType is the kind of a communication history entry.
type ActivityType string

const (
	ActivityNote    ActivityType = "NOTE"
	ActivityCall    ActivityType = "CALL"
	ActivityEmail   ActivityType = "EMAIL"
	ActivityMeeting ActivityType = "MEETING"
)

// Direction of a call or email.
type Direction string

const (
	DirectionNone     Direction = ""
	DirectionInbound  Direction = "INBOUND"
	DirectionOutbound Direction = "OUTBOUND"
)

// Activity is an entry in a lead's communication history.
type Activity struct {
	ID        uuid.UUID
	LeadID    uuid.UUID
	Type      ActivityType
	Subject   string
	Body      string
	Direction Direction
	Duration  time.Duration
	OccurAt   time.Time
	Author    string
	CreatedAt time.Time
}

// LogActivity records a on the lead: it must say something, and a note has
// no direction or duration. OccurAt defaults to now.
func (l *Lead) LogActivity(a Activity, actor string, now time.Time) (Activity, []Event, error) {
	if l.Status == StatusMerged {
		return Activity{}, nil, l.checkWritable()
	}
	a.Subject, a.Body = strings.TrimSpace(a.Subject), strings.TrimSpace(a.Body)
	var vs apperr.Violations
	if a.Type == "" {
		vs.Add("type", "TYPE_REQUIRED", "type is required")
	}
	if a.Subject == "" && a.Body == "" {
		vs.Add("body", "CONTENT_REQUIRED", "an activity needs a subject or a body")
	}
	if a.Type == ActivityNote && a.Direction != DirectionNone {
		vs.Add("direction", "NOT_APPLICABLE", "a note has no direction")
	}
	if a.Type == ActivityNote && a.Duration != 0 {
		vs.Add("duration", "NOT_APPLICABLE", "a note has no duration")
	}
	if a.OccurAt.IsZero() {
		a.OccurAt = now
	}
	if a.OccurAt.After(now.Add(24 * time.Hour)) {
		vs.Add("occur_time", "IN_FUTURE", "an activity is logged after it happened; plan future contact with next_contact_time")
	}
	if err := vs.Err(); err != nil {
		return Activity{}, nil, err
	}
	a.ID = uuid.Must(uuid.NewV7())
	a.LeadID = l.ID
	a.Author = actor
	a.CreatedAt = now
	if l.LastActivityAt == nil || a.OccurAt.After(*l.LastActivityAt) {
		t := a.OccurAt
		l.LastActivityAt = &t
	}
	l.touch(actor, now)
	return a, []Event{ActivityLogged{Activity: a}}, nil
}

package domain

import (
	"time"

	"github.com/google/uuid"
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

// Activity is an entry in a lead's communication history as the lead
// service kept it before activities moved to the workflow service. Only
// the carry-over reads them now (ActivityLogged events).
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

// ActivityDone records that an activity regarding the lead was done (logged
// or completed) at: LastActivityAt moves forward to it, never back, so the
// same activity told twice or activities told out of order change nothing
// more. A merged lead stays as it is: the workflow service moves its
// activities to the lead it was merged into.
func (l *Lead) ActivityDone(at time.Time, actor string, now time.Time) []Event {
	if l.Status == StatusMerged || l.LastActivityAt != nil && !at.After(*l.LastActivityAt) {
		return nil
	}
	l.LastActivityAt = &at
	l.touch(actor, now)
	return []Event{Updated{Changed: []string{"last_activity_time"}}}
}

package domain

// Event is something that happened to an activity. The adapter publishes
// each with the activity as it is after the change.
type Event interface{ event() }

type (
	ActivityCreated   struct{}
	ActivityUpdated   struct{ Changed []string }
	ActivityCompleted struct{}
	ActivityCancelled struct{}
	ActivityDeleted   struct{}
	TaskOverdue       struct{}
	TaskReminderDue   struct{}
)

func (ActivityCreated) event()   {}
func (ActivityUpdated) event()   {}
func (ActivityCompleted) event() {}
func (ActivityCancelled) event() {}
func (ActivityDeleted) event()   {}
func (TaskOverdue) event()       {}
func (TaskReminderDue) event()   {}

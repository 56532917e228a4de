package domain

// Event is something that happened to a lead. The adapter publishes each
// with the lead as it is after the change.
type Event interface{ event() }

type (
	Created struct{}
	Updated struct {
		// Changed lists the API field names whose value changed.
		Changed []string
	}
	Assigned      struct{ PreviousOwner, Owner string }
	RatingChanged struct{ Previous, Rating Rating }
	StatusChanged struct{ Previous, Status Status }
	// LifecycleStageChanged: the MQL/SQL stage moved (Lead.Lifecycle says
	// by whom and when).
	LifecycleStageChanged struct{ Previous, Stage LifecycleStage }
	Disqualified          struct {
		Reason         DisqualificationReason
		Note           string
		PreviousStatus Status
	}
	Reactivated struct{ Status Status }
	// Merged is raised on the primary; Duplicates are as they are after
	// the merge (MERGED).
	Merged struct {
		Duplicates []*Lead
		Changed    []string
	}
	Deleted struct{}
	// Qualified: the lead was converted (Lead.Conversion says into what).
	Qualified struct{}
	// ConversionChanged: a part of the conversion was applied, or it
	// turned COMPLETE or FAILED.
	ConversionChanged struct{}
	// ConversionResent: a manager sent the PENDING conversion again; its
	// LeadQualified goes out once more as resend number Attempt.
	ConversionResent struct{ Attempt int }
	// ActivityLogged carries an activity of the lead over to the workflow
	// service (the activity export); nothing raises it any more.
	ActivityLogged struct{ Activity Activity }
)

func (Created) event()               {}
func (Updated) event()               {}
func (Assigned) event()              {}
func (RatingChanged) event()         {}
func (StatusChanged) event()         {}
func (LifecycleStageChanged) event() {}
func (Disqualified) event()          {}
func (Reactivated) event()           {}
func (Deleted) event()               {}
func (ActivityLogged) event()        {}
func (Merged) event()                {}
func (Qualified) event()             {}
func (ConversionChanged) event()     {}
func (ConversionResent) event()      {}

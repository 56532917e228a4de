package domain

import (
	"time"

	"github.com/google/uuid"
)

// Event is something that happened to an opportunity. The adapter
// publishes each with the opportunity as it is after the change.
type Event interface{ event() }

type (
	// OpportunityCreated; SourceLead is set when a conversion opened it.
	OpportunityCreated struct{ SourceLead uuid.UUID }
	OpportunityUpdated struct{ Changed []string }
	// StageChanged is raised for every stage change, the first one
	// included; the adapter also records it in the stage history.
	StageChanged    struct{ Change StageChange }
	OpportunityWon  struct{ Note, Reason string }
	OpportunityLost struct {
		Reason, Competitor string
		// State is LOST or DISQUALIFIED.
		State State
	}
	OpportunityReopened struct{ Previous State }
	OpportunityDeleted  struct{}
)

func (OpportunityCreated) event()  {}
func (OpportunityUpdated) event()  {}
func (StageChanged) event()        {}
func (OpportunityWon) event()      {}
func (OpportunityLost) event()     {}
func (OpportunityReopened) event() {}
func (OpportunityDeleted) event()  {}

// StageChange is one entry of an opportunity's stage history.
type StageChange struct {
	ID            uuid.UUID
	OpportunityID uuid.UUID
	PipelineID    uuid.UUID
	// From is empty for the first stage.
	From, To string
	Actor    string
	At       time.Time
	// TimeInPrevious is how long it was in From.
	TimeInPrevious time.Duration
}

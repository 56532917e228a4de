package domain

import "github.com/google/uuid"

// Event is something that happened to an account or a contact. The
// adapter publishes each with the record as it is after the change.
type Event interface{ event() }

type (
	// AccountCreated; SourceLead is set when a conversion created it.
	AccountCreated struct{ SourceLead uuid.UUID }
	AccountUpdated struct{ Changed []string }
	// AddressChanged carries the addresses as they were.
	AddressChanged     struct{ Previous []Address }
	AccountDeactivated struct{ Reason string }
	AccountActivated   struct{}

	ContactCreated struct{ SourceLead uuid.UUID }
	ContactUpdated struct{ Changed []string }
	ContactDeleted struct{}
	ContactLinked  struct{ SourceLead uuid.UUID }

	// AccountSnapshotted and ContactSnapshotted republish a record as it
	// is, for projections that started after its last change; nothing
	// changed.
	AccountSnapshotted struct{}
	ContactSnapshotted struct{}
	// AccountsMerged is raised on the survivor; Merged are as they are
	// after the merge (MERGED), MovedContacts moved to the survivor.
	AccountsMerged struct {
		Merged        []*Account
		Changed       []string
		MovedContacts []uuid.UUID
	}
	// ContactsMerged is raised on the survivor; Merged point at it.
	ContactsMerged struct {
		Merged  []*Contact
		Changed []string
	}
)

func (AccountCreated) event()     {}
func (AccountUpdated) event()     {}
func (AddressChanged) event()     {}
func (AccountDeactivated) event() {}
func (AccountActivated) event()   {}
func (ContactCreated) event()     {}
func (ContactUpdated) event()     {}
func (ContactDeleted) event()     {}
func (ContactLinked) event()      {}
func (AccountSnapshotted) event() {}
func (ContactSnapshotted) event() {}
func (AccountsMerged) event()     {}
func (ContactsMerged) event()     {}

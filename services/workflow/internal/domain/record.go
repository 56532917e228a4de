// Package domain holds the workflow service's rules: the records of the
// suite as it knows them, activities and tasks, rules and their runs,
// calendar feeds. It imports neither gRPC nor pgx.
package domain

import (
	"strings"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// RecordType is the kind of a record of the suite.
type RecordType string

const (
	RecordLead        RecordType = "LEAD"
	RecordAccount     RecordType = "ACCOUNT"
	RecordContact     RecordType = "CONTACT"
	RecordOpportunity RecordType = "OPPORTUNITY"
	RecordOrder       RecordType = "ORDER"
	RecordContract    RecordType = "CONTRACT"
)

// Collections by record type: the first part of a record's name.
var collections = map[RecordType]string{
	RecordLead: "leads", RecordAccount: "accounts", RecordContact: "contacts",
	RecordOpportunity: "opportunities", RecordOrder: "orders", RecordContract: "contracts",
}

// Collection is the name prefix of records of type t ("leads").
func (t RecordType) Collection() string { return collections[t] }

// Valid reports a known record type.
func (t RecordType) Valid() bool { return collections[t] != "" }

// ParseRecordName reads `<collection>/<uuid>` into its type and id.
func ParseRecordName(name string) (RecordType, uuid.UUID, bool) {
	coll, rest, ok := strings.Cut(name, "/")
	if !ok {
		return "", uuid.Nil, false
	}
	for t, c := range collections {
		if c == coll {
			id, err := uuid.Parse(rest)
			if err != nil || id == uuid.Nil || len(rest) != 36 {
				return "", uuid.Nil, false
			}
			return t, id, true
		}
	}
	return "", uuid.Nil, false
}

// RecordName is the name of the record of type t with id.
func RecordName(t RecordType, id uuid.UUID) string { return t.Collection() + "/" + id.String() }

// CheckRecordName refuses a name that is not a record of the suite, as a
// violation of field.
func CheckRecordName(field, name string) error {
	if _, _, ok := ParseRecordName(name); !ok {
		return apperr.InvalidField(field, "INVALID_RECORD",
			"%q is not a record of the suite: leads/{id}, accounts/{id}, contacts/{id}, opportunities/{id}, orders/{id} or contracts/{id}", name)
	}
	return nil
}

// Record is a record of another service as the workflow service knows it
// from that service's events (its projection).
type Record struct {
	Name        string
	Type        RecordType
	DisplayName string
	Owner       string
	// Account is the account whose timeline the record's activities are
	// on: the account itself, the account of a contact, opportunity, order
	// or contract, or the account a lead was converted into ("" if none).
	Account string
	// Contact is the contact a lead was converted into ("" otherwise):
	// the lead's activities show on the contact too.
	Contact string
	// Status is the lead's status, the opportunity's state, the order's or
	// contract's status, the account's state.
	Status string
	// Message is the record's API message, as the event carried it
	// (protobuf wire form), for rules and updates.
	Message []byte
	Deleted bool
	// Seq is the stream position of the event it was last set from: an
	// older event changes nothing.
	Seq uint64
}

// ErrRecordNotFound is returned for a record the service does not know.
func ErrRecordNotFound(name string) error {
	return apperr.FailedPrecondition("RECORD_NOT_FOUND", "%s does not exist (or is not known to the workflow service yet)", name).
		WithMeta("record", name)
}

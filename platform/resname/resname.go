// Package resname reads and writes AIP resource names of the form
// `<collection>/<uuid>` (leads/…, accounts/…, contacts/…, opportunities/…),
// the one way every service names its records on the wire.
package resname

import (
	"strings"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// ReasonInvalidName is the ErrorInfo and field-violation reason of a
// request field that is not a resource name of the expected collection.
const ReasonInvalidName = "INVALID_NAME"

// Format returns the resource name `<collection>/<id>`.
func Format(collection string, id uuid.UUID) string {
	return collection + "/" + id.String()
}

// FormatOptional is Format, but "" for uuid.Nil: the name of an optional
// reference.
func FormatOptional(collection string, id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	return Format(collection, id)
}

// Parse returns the uuid of name when it is `<collection>/<uuid>`.
func Parse(name, collection string) (uuid.UUID, bool) {
	raw, ok := strings.CutPrefix(name, collection+"/")
	if !ok || strings.Contains(raw, "/") {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, false
	}
	return id, true
}

// ParseField is Parse for the request field field: a name that is not
// `<collection>/<uuid>` is an InvalidArgument pointing at field, reason
// INVALID_NAME.
func ParseField(name, collection, field string) (uuid.UUID, error) {
	if id, ok := Parse(name, collection); ok {
		return id, nil
	}
	return uuid.Nil, Invalid(field, collection, name)
}

// Invalid is the error of request field field holding name where a
// resource name `<collection>/<uuid>` belongs.
func Invalid(field, collection, name string) error {
	return apperr.InvalidField(field, ReasonInvalidName, "must be a resource name %s/{uuid}; got %q", collection, name)
}

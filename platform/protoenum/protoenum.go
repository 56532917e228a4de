// Package protoenum maps protobuf enum values to the short names the
// domain keeps, and back: STATUS_NEW <-> NEW, with the prefix STATUS_ and
// the unspecified value as "".
package protoenum

import "strings"

// Name strips prefix from the enum value name full: STAGE_KIND_OPEN ->
// OPEN; "" for the unspecified value (prefix + "UNSPECIFIED").
func Name(full, prefix string) string {
	if full == prefix+"UNSPECIFIED" {
		return ""
	}
	return strings.TrimPrefix(full, prefix)
}

// Value is the number of the enum value prefix + name in values (a
// generated <Enum>_value map); 0, the unspecified value, for "" or a name
// the enum does not have.
func Value(name, prefix string, values map[string]int32) int32 {
	if name == "" {
		return 0
	}
	return values[prefix+name]
}

package grpcx

import (
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/crmsuite/crm/platform/apperr"
)

// nilUUID names no record: refused wherever a request carries it.
const nilUUID = "00000000-0000-0000-0000-000000000000"

// freeText are the string fields whose leading and trailing whitespace is
// the writer's (a note's indentation, a body's last line break).
var freeText = map[protoreflect.Name]bool{
	"body": true, "description": true, "note": true, "notes": true, "message": true, "close_note": true,
}

// Sanitize prepares a request for validation, in place: leading and
// trailing whitespace is trimmed from every string field except free text
// (users paste "  ADA@EXAMPLE.COM " into forms all the time), and a string
// field naming the all-zero id (`accounts/00000000-...`, or the bare nil
// UUID as a request id) is InvalidArgument NIL_ID: it names no record, and
// must never read as "not set". Well-known types (Struct, Any, ...) are
// left alone.
func Sanitize(msg any) error {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil
	}
	var vs apperr.Violations
	sanitize(m.ProtoReflect(), "", &vs, 0)
	return vs.Err()
}

func sanitize(m protoreflect.Message, prefix string, vs *apperr.Violations, depth int) {
	if depth > 32 || strings.HasPrefix(string(m.Descriptor().FullName()), "google.protobuf.") {
		return
	}
	// Range must not see the message change: trimmed singular strings are
	// set after it.
	type set struct {
		fd protoreflect.FieldDescriptor
		s  string
	}
	var sets []set
	defer func() {
		for _, st := range sets {
			m.Set(st.fd, protoreflect.ValueOfString(st.s))
		}
	}()
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		path := prefix + string(fd.Name())
		switch {
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					sanitize(mv.Message(), path+"["+k.String()+"].", vs, depth+1)
					return true
				})
			}
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				item := path + "[" + strconv.Itoa(i) + "]"
				switch fd.Kind() {
				case protoreflect.StringKind:
					if s := clean(fd, l.Get(i).String(), item, vs); s != l.Get(i).String() {
						l.Set(i, protoreflect.ValueOfString(s))
					}
				case protoreflect.MessageKind, protoreflect.GroupKind:
					sanitize(l.Get(i).Message(), item+".", vs, depth+1)
				}
			}
		case fd.Kind() == protoreflect.StringKind:
			if s := clean(fd, v.String(), path, vs); s != v.String() {
				sets = append(sets, set{fd, s})
			}
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			sanitize(v.Message(), path+".", vs, depth+1)
		}
		return true
	})
}

// clean is s trimmed (unless fd is free text), with a violation of path
// when it names the nil id.
func clean(fd protoreflect.FieldDescriptor, s, path string, vs *apperr.Violations) string {
	if !freeText[fd.Name()] {
		s = strings.TrimSpace(s)
	}
	if namesNilID(s) {
		vs.Add(path, "NIL_ID", "%q names the all-zero id, which is no record", s)
	}
	return s
}

// namesNilID reports whether s is the nil UUID or a resource name with
// it as one of its ids.
func namesNilID(s string) bool {
	if !strings.Contains(s, nilUUID) || strings.ContainsAny(s, " \"'=") { // filters and prose are not names
		return false
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == nilUUID {
			return true
		}
	}
	return false
}

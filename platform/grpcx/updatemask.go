package grpcx

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/crmsuite/crm/platform/apperr"
)

// UpdateMask returns the fields an Update method changes (AIP-134): the
// mask's paths, all for "*", or, without a mask, the fields set in the
// request's resource except implicit ones. Output-only paths (which
// grpc-gateway derives from PATCH bodies that echo a whole resource) are
// skipped; a path into a message field (start_date.year, as grpc-gateway
// derives masks from PATCH bodies) names the whole field. Unknown paths
// and paths into scalars, lists and maps are InvalidArgument on
// update_mask.
func UpdateMask(mask *fieldmaskpb.FieldMask, res proto.Message, outputOnly, implicit map[string]bool, all []string) ([]string, error) {
	paths := mask.GetPaths()
	if len(paths) == 0 {
		res.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			if !implicit[string(fd.Name())] {
				paths = append(paths, string(fd.Name()))
			}
			return true
		})
	}
	var fields []string
	var vs apperr.Violations
	desc := res.ProtoReflect().Descriptor()
	seen := map[string]bool{}
	for _, p := range paths {
		if p == "*" {
			return all, nil
		}
		// A PATCH body's mask names leaves (start_date.year): the field
		// they are in is replaced whole. JSON names (creditLimit) are
		// accepted as REST clients write them.
		top, _, _ := strings.Cut(p, ".")
		fd := desc.Fields().ByName(protoreflect.Name(top))
		if fd == nil {
			fd = desc.Fields().ByJSONName(top)
		}
		switch {
		case fd == nil:
			vs.Add("update_mask", "UNKNOWN_FIELD", "%s has no field %q", desc.Name(), p)
		case strings.Contains(p, ".") && (fd.Kind() != protoreflect.MessageKind || fd.IsMap() || fd.IsList()):
			vs.Add("update_mask", "FIELD_NOT_UPDATABLE", "%q: no sub-field can be updated on its own", p)
		case outputOnly[string(fd.Name())] || seen[string(fd.Name())]:
		default:
			seen[string(fd.Name())] = true
			fields = append(fields, string(fd.Name()))
		}
	}
	return fields, vs.Err()
}

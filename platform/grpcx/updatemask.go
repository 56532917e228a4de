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
// skipped. Unknown paths and sub-paths are InvalidArgument on update_mask.
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
	for _, p := range paths {
		if p == "*" {
			return all, nil
		}
		switch {
		case outputOnly[p]:
		case strings.Contains(p, "."):
			vs.Add("update_mask", "FIELD_NOT_UPDATABLE", "%q: no sub-field can be updated on its own", p)
		case desc.Fields().ByName(protoreflect.Name(p)) == nil:
			vs.Add("update_mask", "UNKNOWN_FIELD", "%s has no field %q", desc.Name(), p)
		default:
			fields = append(fields, p)
		}
	}
	return fields, vs.Err()
}

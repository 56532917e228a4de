package rules

import (
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

// statusPrefixes are the enum value prefixes of the `status` field of the
// record types whose stages are statuses.
var statusPrefixes = map[domain.RecordType]string{
	domain.RecordLead: "STATUS_", domain.RecordOrder: "ORDER_STATUS_", domain.RecordContract: "CONTRACT_STATUS_",
}

// Statuses are the status names of records of type t (NURTURING,
// ON_HOLD, ...), from their API's enum; nil for opportunities, whose
// stages are their pipelines' ids.
func Statuses(t domain.RecordType) []string {
	prefix, ok := statusPrefixes[t]
	if !ok {
		return nil
	}
	fd := recordMessages[t].ProtoReflect().Descriptor().Fields().ByName("status")
	values := fd.Enum().Values()
	out := make([]string, 0, values.Len())
	for i := range values.Len() {
		if v := values.Get(i); v.Number() != 0 {
			out = append(out, strings.TrimPrefix(string(v.Name()), prefix))
		}
	}
	return out
}

// SlaRecord is a record as an event at at leaves it, for its SLA clocks:
// its stage (an opportunity's stage id, else its status), when it was
// created and (orders) confirmed.
func SlaRecord(r *domain.Record, m proto.Message, at time.Time) domain.SlaRecord {
	out := domain.SlaRecord{Record: r, Stage: r.Status, At: at}
	if m == nil {
		return out
	}
	if r.Type == domain.RecordOpportunity {
		if fd := m.ProtoReflect().Descriptor().Fields().ByName("stage"); fd != nil && fd.Kind() == protoreflect.StringKind {
			out.Stage = m.ProtoReflect().Get(fd).String()
		}
	}
	out.CreatedAt, _ = DateOf(m, "create_time")
	out.ConfirmedAt, _ = DateOf(m, "confirm_time")
	return out
}

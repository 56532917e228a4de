package rules

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

// statusEnums are the status enums whose values are the stages of leads,
// orders and contracts; opportunities' stages are their pipeline's.
var statusEnums = map[domain.RecordType]struct {
	desc   protoreflect.EnumDescriptor
	prefix string
}{
	domain.RecordLead:     {leadv1.Status(0).Descriptor(), "STATUS_"},
	domain.RecordOrder:    {orderv1.OrderStatus(0).Descriptor(), "ORDER_STATUS_"},
	domain.RecordContract: {orderv1.ContractStatus(0).Descriptor(), "CONTRACT_STATUS_"},
}

// StatusStages are the stages of a record type whose stages are its
// statuses (QUALIFIED, CONFIRMED, ...); nil for opportunities.
func StatusStages(t domain.RecordType) []string {
	e, ok := statusEnums[t]
	if !ok {
		return nil
	}
	var out []string
	for i := range e.desc.Values().Len() {
		if v := e.desc.Values().Get(i); v.Number() != 0 {
			out = append(out, strings.TrimPrefix(string(v.Name()), e.prefix))
		}
	}
	return out
}

// StageOf is the stage a record is at: its status without the enum's
// prefix, or an opportunity's stage id.
func StageOf(t domain.RecordType, m proto.Message) string {
	switch r := m.(type) {
	case *opportunityv1.Opportunity:
		return r.GetStage()
	case *leadv1.Lead:
		return strings.TrimPrefix(r.GetStatus().String(), "STATUS_")
	case *orderv1.Order:
		return strings.TrimPrefix(r.GetStatus().String(), "ORDER_STATUS_")
	case *orderv1.Contract:
		return strings.TrimPrefix(r.GetStatus().String(), "CONTRACT_STATUS_")
	}
	return ""
}

// PipelineOf is an opportunity's pipeline ("" for other records).
func PipelineOf(m proto.Message) string {
	if o, ok := m.(*opportunityv1.Opportunity); ok {
		return o.GetPipeline()
	}
	return ""
}

// stageEvents are the events that say a record entered a status.
var stageEvents = map[domain.RecordType]map[string]string{
	domain.RecordLead: {"QUALIFIED": "LeadQualified", "DISQUALIFIED": "LeadDisqualified"},
	domain.RecordOrder: {"DRAFT": "OrderCreated", "CONFIRMED": "OrderConfirmed", "FULFILLED": "OrderFulfilled",
		"CLOSED": "OrderClosed", "CANCELLED": "OrderCancelled"},
	domain.RecordContract: {"DRAFT": "ContractCreated", "ACTIVE": "ContractActivated", "RENEWED": "ContractRenewed",
		"NON_RENEWING": "ContractNoticeGiven", "EXPIRED": "ContractExpired", "CANCELLED": "ContractCancelled"},
}

// StageEntry is the trigger of a stage's entry actions: the event that
// says a record entered the stage and the condition that picks the stage
// (and pipeline) out of it; false when no event says so (an order put on
// hold, a lead merged).
func StageEntry(t domain.RecordType, stage, pipeline string) (eventType, condition string, ok bool) {
	switch t {
	case domain.RecordOpportunity:
		return eventsPackage + "OpportunityStageChanged", fmt.Sprintf("event.to_stage == %q && record.pipeline == %q", stage, pipeline), true
	case domain.RecordLead:
		switch stage {
		case "NEW", "CONTACTED", "NURTURING":
			return eventsPackage + "LeadStatusChanged", "event.status == Status.STATUS_" + stage, true
		}
	}
	ev, ok := stageEvents[t][stage]
	if !ok {
		return "", "", false
	}
	return eventsPackage + ev, "", true
}

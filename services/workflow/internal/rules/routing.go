package rules

import (
	"google.golang.org/protobuf/proto"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/protoenum"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

// RoutingFacts are what assignment rules routing by field read of a
// record: a lead's address region and postal code and its source (other
// records: none).
func RoutingFacts(m proto.Message) domain.RoutingFacts {
	l, ok := m.(*leadv1.Lead)
	if !ok {
		return domain.RoutingFacts{}
	}
	return domain.RoutingFacts{
		Region: domain.NormalizeTerritory(l.GetAddress().GetRegionCode()),
		Postal: domain.NormalizeTerritory(l.GetAddress().GetPostalCode()),
		Source: protoenum.Name(l.GetSource().String(), "SOURCE_"),
	}
}

// OpenStatuses are the statuses (as the projection keeps them) of the
// records of a type still being worked: what load balancing counts.
func OpenStatuses(t domain.RecordType) []string {
	switch t {
	case domain.RecordLead:
		return []string{"NEW", "CONTACTED", "NURTURING"}
	case domain.RecordOpportunity:
		return []string{"OPEN"}
	case domain.RecordOrder:
		return []string{"DRAFT", "CONFIRMED", "ON_HOLD"}
	}
	return nil
}

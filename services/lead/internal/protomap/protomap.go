// Package protomap converts between the lead domain and its protobuf forms:
// the API resource (crm.lead.v1) and the events (crm.events.v1). Both the
// gRPC port and the outbox use it, so a lead looks the same on the wire
// whichever way it travels.
package protomap

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/protoenum"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

var errNoConversion = errors.New("protomap: LeadQualified for a lead without a conversion")

// LeadName is the resource name of a lead.
func LeadName(id uuid.UUID) string { return resname.Format("leads", id) }

// ActivityName is the resource name of a lead activity (as carried over).
func ActivityName(leadID, id uuid.UUID) string {
	return LeadName(leadID) + "/activities/" + id.String()
}

// Lead returns the API form of l.
func Lead(l *domain.Lead) *leadv1.Lead {
	p := &leadv1.Lead{
		Name:        LeadName(l.ID),
		FirstName:   l.FirstName,
		LastName:    l.LastName,
		Company:     l.Company,
		Title:       l.Title,
		Email:       l.Email,
		Phone:       l.Phone,
		Website:     l.Website,
		Address:     address(l.Address),
		Source:      leadv1.Source(protoenum.Value(string(l.Source), "SOURCE_", leadv1.Source_value)),
		Campaign:    l.Campaign,
		Rating:      leadv1.Rating(protoenum.Value(string(l.Rating), "RATING_", leadv1.Rating_value)),
		Status:      status(l.Status),
		Owner:       l.Owner,
		Description: l.Description,
		CreateTime:  timestamppb.New(l.CreatedAt),
		CreatedBy:   l.CreatedBy,
		UpdateTime:  timestamppb.New(l.UpdatedAt),
		UpdatedBy:   l.UpdatedBy,
		Etag:        etag.Format(l.Version),
	}
	if len(l.CustomFields) > 0 {
		p.CustomFields = l.CustomFields
	}
	if l.NextContactAt != nil {
		p.NextContactTime = timestamppb.New(*l.NextContactAt)
	}
	if l.LastActivityAt != nil {
		p.LastActivityTime = timestamppb.New(*l.LastActivityAt)
	}
	if l.QualifiedAt != nil {
		p.QualifyTime = timestamppb.New(*l.QualifiedAt)
	}
	if l.MergedInto != uuid.Nil {
		p.MergedInto = LeadName(l.MergedInto)
	}
	p.Conversion = conversion(l.Conversion)
	lc := l.Lifecycle
	p.LifecycleStage, p.LifecycleStageChangedBy = Stage(lc.Stage), lc.ChangedBy
	p.LifecycleStageTime, p.MqlTime, p.SqlTime = tsOrNil(lc.ChangedAt), tsOrNil(lc.MQLAt), tsOrNil(lc.SQLAt)
	for _, pi := range l.Products {
		x := &leadv1.ProductInterest{Product: pi.Product, Quantity: pi.Quantity}
		if m := pi.UnitPrice; m != nil {
			x.UnitPrice = &moneypb.Money{CurrencyCode: m.Currency, Units: m.Units, Nanos: m.Nanos}
		}
		p.ProductsOfInterest = append(p.ProductsOfInterest, x)
	}
	if d := l.Disqualification; d != nil {
		p.Disqualification = &leadv1.Disqualification{
			Reason:         reason(d.Reason),
			Note:           d.Note,
			DisqualifyTime: timestamppb.New(d.At),
			DisqualifiedBy: d.By,
			PreviousStatus: status(d.PreviousStatus),
		}
	}
	return p
}

// Stage returns the API form of a lifecycle stage.
func Stage(s domain.LifecycleStage) leadv1.LifecycleStage {
	return leadv1.LifecycleStage(protoenum.Value(string(s), "LIFECYCLE_STAGE_", leadv1.LifecycleStage_value))
}

// StageFromProto returns the domain form of a lifecycle stage; an
// undefined number gives a stage the domain refuses.
func StageFromProto(s leadv1.LifecycleStage) domain.LifecycleStage {
	return domain.LifecycleStage(protoenum.Name(s.String(), "LIFECYCLE_STAGE_"))
}

func tsOrNil(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func status(s domain.Status) leadv1.Status {
	return leadv1.Status(protoenum.Value(string(s), "STATUS_", leadv1.Status_value))
}

func reason(r domain.DisqualificationReason) leadv1.DisqualificationReason {
	return leadv1.DisqualificationReason(protoenum.Value(string(r), "DISQUALIFICATION_REASON_", leadv1.DisqualificationReason_value))
}

func rating(r domain.Rating) leadv1.Rating {
	return leadv1.Rating(protoenum.Value(string(r), "RATING_", leadv1.Rating_value))
}

func address(a domain.Address) *leadv1.PostalAddress {
	if len(a.Lines) == 0 && a.Locality == "" && a.AdministrativeArea == "" && a.PostalCode == "" && a.RegionCode == "" {
		return nil
	}
	return &leadv1.PostalAddress{
		AddressLines: a.Lines, Locality: a.Locality, AdministrativeArea: a.AdministrativeArea,
		PostalCode: a.PostalCode, RegionCode: a.RegionCode,
	}
}

// LeadFromProto returns the domain form of the settable fields of p.
func LeadFromProto(p *leadv1.Lead) domain.Lead {
	l := domain.Lead{
		FirstName:    p.GetFirstName(),
		LastName:     p.GetLastName(),
		Company:      p.GetCompany(),
		Title:        p.GetTitle(),
		Email:        p.GetEmail(),
		Phone:        p.GetPhone(),
		Website:      p.GetWebsite(),
		Source:       domain.Source(protoenum.Name(p.GetSource().String(), "SOURCE_")),
		Campaign:     p.GetCampaign(),
		Rating:       domain.Rating(protoenum.Name(p.GetRating().String(), "RATING_")),
		Status:       domain.Status(protoenum.Name(p.GetStatus().String(), "STATUS_")),
		Owner:        p.GetOwner(),
		Description:  p.GetDescription(),
		CustomFields: p.GetCustomFields(),
		Lifecycle:    domain.Lifecycle{Stage: StageFromProto(p.GetLifecycleStage())},
	}
	if a := p.GetAddress(); a != nil {
		l.Address = domain.Address{
			Lines: a.GetAddressLines(), Locality: a.GetLocality(), AdministrativeArea: a.GetAdministrativeArea(),
			PostalCode: a.GetPostalCode(), RegionCode: a.GetRegionCode(),
		}
	}
	if p.GetNextContactTime() != nil {
		t := p.GetNextContactTime().AsTime()
		l.NextContactAt = &t
	}
	for _, pi := range p.GetProductsOfInterest() {
		x := domain.ProductInterest{Product: pi.GetProduct(), Quantity: pi.GetQuantity()}
		if m := pi.GetUnitPrice(); m != nil {
			x.UnitPrice = &domain.Money{Currency: m.GetCurrencyCode(), Units: m.GetUnits(), Nanos: m.GetNanos()}
		}
		l.Products = append(l.Products, x)
	}
	return l
}

// ReasonFromProto returns the domain form of a disqualification reason.
func ReasonFromProto(r leadv1.DisqualificationReason) domain.DisqualificationReason {
	return domain.DisqualificationReason(protoenum.Name(r.String(), "DISQUALIFICATION_REASON_"))
}

// DuplicateRule returns the API form of a duplicate rule.
func DuplicateRule(r domain.DuplicateRule) leadv1.DuplicateRule {
	return leadv1.DuplicateRule(protoenum.Value(string(r), "DUPLICATE_RULE_", leadv1.DuplicateRule_value))
}

// DuplicateRuleFromProto returns the domain form of a duplicate rule; ""
// for unspecified.
func DuplicateRuleFromProto(r leadv1.DuplicateRule) domain.DuplicateRule {
	return domain.DuplicateRule(protoenum.Name(r.String(), "DUPLICATE_RULE_"))
}

// Activity returns the API form of a, as LeadActivityLogged carries it.
func Activity(a domain.Activity) *leadv1.Activity {
	p := &leadv1.Activity{
		Name:       ActivityName(a.LeadID, a.ID),
		Type:       leadv1.ActivityType(protoenum.Value(string(a.Type), "ACTIVITY_TYPE_", leadv1.ActivityType_value)),
		Subject:    a.Subject,
		Body:       a.Body,
		Direction:  leadv1.Direction(protoenum.Value(string(a.Direction), "DIRECTION_", leadv1.Direction_value)),
		OccurTime:  timestamppb.New(a.OccurAt),
		Author:     a.Author,
		CreateTime: timestamppb.New(a.CreatedAt),
	}
	if a.Duration > 0 {
		p.Duration = durationpb.New(a.Duration)
	}
	return p
}

// Event returns the event message for ev, raised on l (as it is after the
// change), with envelope meta.
func Event(meta *eventsv1.EventMeta, l *domain.Lead, ev domain.Event) (proto.Message, error) {
	id, snap := l.ID.String(), Lead(l)
	switch e := ev.(type) {
	case domain.Created:
		return &eventsv1.LeadCreated{Meta: meta, LeadId: id, Lead: snap, OwnerDefaulted: l.OwnerDefaulted}, nil
	case domain.Updated:
		return &eventsv1.LeadUpdated{Meta: meta, LeadId: id, Lead: snap, ChangedFields: e.Changed}, nil
	case domain.Assigned:
		return &eventsv1.LeadAssigned{Meta: meta, LeadId: id, Lead: snap, PreviousOwner: e.PreviousOwner, Owner: e.Owner}, nil
	case domain.RatingChanged:
		return &eventsv1.LeadRatingChanged{Meta: meta, LeadId: id, Lead: snap, PreviousRating: rating(e.Previous), Rating: rating(e.Rating)}, nil
	case domain.StatusChanged:
		return &eventsv1.LeadStatusChanged{Meta: meta, LeadId: id, Lead: snap, PreviousStatus: status(e.Previous), Status: status(e.Status)}, nil
	case domain.LifecycleStageChanged:
		return &eventsv1.LeadLifecycleStageChanged{Meta: meta, LeadId: id, Lead: snap, PreviousStage: Stage(e.Previous),
			Stage: Stage(e.Stage), Backwards: e.Previous.Backwards(e.Stage)}, nil
	case domain.Disqualified:
		return &eventsv1.LeadDisqualified{Meta: meta, LeadId: id, Lead: snap, Reason: reason(e.Reason), Note: e.Note, PreviousStatus: status(e.PreviousStatus)}, nil
	case domain.Reactivated:
		return &eventsv1.LeadReactivated{Meta: meta, LeadId: id, Lead: snap, Status: status(e.Status)}, nil
	case domain.Deleted:
		return &eventsv1.LeadDeleted{Meta: meta, LeadId: id, Lead: snap}, nil
	case domain.Merged:
		ev := &eventsv1.LeadsMerged{Meta: meta, LeadId: id, Lead: snap, ChangedFields: e.Changed}
		for _, d := range e.Duplicates {
			ev.MergedLeadIds = append(ev.MergedLeadIds, d.ID.String())
			ev.MergedLeads = append(ev.MergedLeads, Lead(d))
		}
		return ev, nil
	case domain.Qualified, domain.ConversionResent:
		return leadQualified(meta, l)
	case domain.ConversionChanged:
		return &eventsv1.LeadUpdated{Meta: meta, LeadId: id, Lead: snap, ChangedFields: []string{"conversion"}}, nil
	case domain.ActivityLogged:
		return &eventsv1.LeadActivityLogged{Meta: meta, LeadId: id, Lead: snap, Activity: Activity(e.Activity)}, nil
	default:
		return nil, fmt.Errorf("protomap: no event message for %T", ev)
	}
}

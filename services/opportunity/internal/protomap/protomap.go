// Package protomap converts between the opportunity domain and its
// protobuf forms: the API resources (crm.opportunity.v1) and the events
// (crm.events.v1). The gRPC port, the outbox and the conversion consumer
// all use it, so a record looks the same whichever way it travels.
package protomap

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/protoenum"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
)

// OpportunityName is the resource name of an opportunity.
func OpportunityName(id uuid.UUID) string { return resname.Format("opportunities", id) }

// PipelineName is the resource name of a pipeline.
func PipelineName(id uuid.UUID) string { return resname.Format("pipelines", id) }

// AccountName is the resource name of an account.
func AccountName(id uuid.UUID) string { return resname.Format("accounts", id) }

// ContactName is the resource name of a contact; "" for uuid.Nil.
func ContactName(id uuid.UUID) string { return resname.FormatOptional("contacts", id) }

// LeadName is the resource name of a lead; "" for uuid.Nil.
func LeadName(id uuid.UUID) string { return resname.FormatOptional("leads", id) }

// ContractName is the resource name of a contract; "" for uuid.Nil.
func ContractName(id uuid.UUID) string { return resname.FormatOptional("contracts", id) }

func idString(id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	return id.String()
}

// Kind and the other enums both ways.
func Kind(k domain.StageKind) opportunityv1.StageKind {
	return opportunityv1.StageKind(protoenum.Value(string(k), "STAGE_KIND_", opportunityv1.StageKind_value))
}

func KindFromProto(k opportunityv1.StageKind) domain.StageKind {
	return domain.StageKind(protoenum.Name(k.String(), "STAGE_KIND_"))
}

func Forecast(c domain.ForecastCategory) opportunityv1.ForecastCategory {
	return opportunityv1.ForecastCategory(protoenum.Value(string(c), "FORECAST_CATEGORY_", opportunityv1.ForecastCategory_value))
}

func ForecastFromProto(c opportunityv1.ForecastCategory) domain.ForecastCategory {
	return domain.ForecastCategory(protoenum.Name(c.String(), "FORECAST_CATEGORY_"))
}

func Type(t domain.Type) opportunityv1.OpportunityType {
	return opportunityv1.OpportunityType(protoenum.Value(string(t), "OPPORTUNITY_TYPE_", opportunityv1.OpportunityType_value))
}

// TypeFromProto is "" for UNSPECIFIED (the default applies).
func TypeFromProto(t opportunityv1.OpportunityType) domain.Type {
	if t == opportunityv1.OpportunityType_OPPORTUNITY_TYPE_UNSPECIFIED {
		return ""
	}
	return domain.Type(protoenum.Name(t.String(), "OPPORTUNITY_TYPE_"))
}

func Interval(i domain.BillingInterval) orderv1.BillingInterval {
	return orderv1.BillingInterval(protoenum.Value(string(i), "BILLING_INTERVAL_", orderv1.BillingInterval_value))
}

// IntervalFromProto is "" for UNSPECIFIED (the default applies).
func IntervalFromProto(i orderv1.BillingInterval) domain.BillingInterval {
	if i == orderv1.BillingInterval_BILLING_INTERVAL_UNSPECIFIED {
		return ""
	}
	return domain.BillingInterval(protoenum.Name(i.String(), "BILLING_INTERVAL_"))
}

// ContractTerms and back; nil for a one-off deal.
func ContractTerms(t *domain.ContractTerms) *opportunityv1.ContractTerms {
	if t == nil {
		return nil
	}
	return &opportunityv1.ContractTerms{BillingInterval: Interval(t.Interval), TermMonths: int32(t.TermMonths), AutoRenew: t.AutoRenew}
}

func ContractTermsFromProto(t *opportunityv1.ContractTerms) *domain.ContractTerms {
	if t == nil {
		return nil
	}
	return &domain.ContractTerms{Interval: IntervalFromProto(t.GetBillingInterval()), TermMonths: int(t.GetTermMonths()), AutoRenew: t.GetAutoRenew()}
}

func State(s domain.State) opportunityv1.OpportunityState {
	return opportunityv1.OpportunityState(protoenum.Value(string(s), "OPPORTUNITY_STATE_", opportunityv1.OpportunityState_value))
}

// Date and back.
func Date(d domain.Date) *date.Date {
	if d.IsZero() {
		return nil
	}
	return &date.Date{Year: int32(d.Year), Month: int32(d.Month), Day: int32(d.Day)}
}

func DateFromProto(d *date.Date) domain.Date {
	if d == nil {
		return domain.Date{}
	}
	return domain.Date{Year: int(d.GetYear()), Month: int(d.GetMonth()), Day: int(d.GetDay())}
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// Pipeline returns the API form of p.
func Pipeline(p *domain.Pipeline) *opportunityv1.Pipeline {
	out := &opportunityv1.Pipeline{
		Name: PipelineName(p.ID), DisplayName: p.DisplayName, Default: p.Default,
		CreateTime: ts(p.CreatedAt), UpdateTime: ts(p.UpdatedAt), Etag: etag.Format(p.Version),
	}
	for _, s := range p.Stages {
		out.Stages = append(out.Stages, &opportunityv1.Stage{
			Id: s.ID, DisplayName: s.DisplayName, Kind: Kind(s.Kind), Probability: int32(s.Probability),
			ForecastCategory: Forecast(s.ForecastCategory), Retired: s.Retired,
		})
	}
	return out
}

// PipelineFromProto returns the domain form of the settable fields of p.
func PipelineFromProto(p *opportunityv1.Pipeline) domain.Pipeline {
	out := domain.Pipeline{DisplayName: p.GetDisplayName(), Default: p.GetDefault()}
	for _, s := range p.GetStages() {
		out.Stages = append(out.Stages, domain.Stage{
			ID: s.GetId(), DisplayName: s.GetDisplayName(), Kind: KindFromProto(s.GetKind()), Probability: int(s.GetProbability()),
			ForecastCategory: ForecastFromProto(s.GetForecastCategory()), Retired: s.GetRetired(),
		})
	}
	return out
}

// Opportunity returns the API form of o.
func Opportunity(o *domain.Opportunity) *opportunityv1.Opportunity {
	p := &opportunityv1.Opportunity{
		Name:                  OpportunityName(o.ID),
		DisplayName:           o.DisplayName,
		Account:               AccountName(o.AccountID),
		PrimaryContact:        ContactName(o.ContactID),
		Owner:                 o.Owner,
		SourceLead:            LeadName(o.SourceLead),
		Pipeline:              PipelineName(o.PipelineID),
		Stage:                 o.Stage,
		ExpectedCloseDate:     Date(o.ExpectedCloseDate),
		Probability:           int32(o.Probability),
		ProbabilityOverridden: o.ProbabilityOverridden,
		ForecastCategory:      Forecast(o.ForecastCategory),
		NextStep:              o.NextStep,
		Description:           o.Description,
		State:                 State(o.State),
		LossReason:            o.LossReason,
		WinReason:             o.WinReason,
		Competitor:            o.Competitor,
		CloseNote:             o.CloseNote,
		CloseTime:             ts(o.CloseTime),
		StageEnterTime:        ts(o.StageEnteredAt),
		CreateTime:            ts(o.CreatedAt),
		CreatedBy:             o.CreatedBy,
		UpdateTime:            ts(o.UpdatedAt),
		UpdatedBy:             o.UpdatedBy,
		Etag:                  etag.Format(o.Version),
		Type:                  Type(o.Type),
		RenewalContract:       ContractName(o.RenewalContract),
		RenewalTerm:           int32(o.RenewalTerm),
		ContractTerms:         ContractTerms(o.ContractTerms),
	}
	if o.Amount != nil {
		p.Amount = proto.CloneOf(o.Amount)
	}
	for _, m := range o.BuyingCommittee {
		p.BuyingCommittee = append(p.BuyingCommittee, &opportunityv1.BuyingCommitteeMember{Contact: ContactName(m.ContactID), Roles: slices.Clone(m.Roles)})
	}
	for _, li := range o.LineItems {
		p.LineItems = append(p.LineItems, &opportunityv1.LineItem{
			Product: li.Product, Quantity: li.Quantity, UnitPrice: proto.CloneOf(li.UnitPrice),
			DiscountPercent: li.DiscountPercent, Amount: proto.CloneOf(li.Amount),
		})
	}
	return p
}

// OpportunityFromProto returns the domain form of the settable fields of
// p; ok is false when a reference is not a resource name, with the field.
func OpportunityFromProto(p *opportunityv1.Opportunity) (o domain.Opportunity, badField string) {
	o = domain.Opportunity{
		DisplayName: p.GetDisplayName(), Owner: p.GetOwner(), ExpectedCloseDate: DateFromProto(p.GetExpectedCloseDate()),
		Probability: int(p.GetProbability()), ForecastCategory: ForecastFromProto(p.GetForecastCategory()),
		NextStep: p.GetNextStep(), Description: p.GetDescription(),
		Type: TypeFromProto(p.GetType()), ContractTerms: ContractTermsFromProto(p.GetContractTerms()),
	}
	if p.GetAmount() != nil {
		o.Amount = proto.CloneOf(p.GetAmount())
	}
	for _, li := range p.GetLineItems() {
		l := domain.LineItem{Product: li.GetProduct(), Quantity: li.GetQuantity(), DiscountPercent: li.GetDiscountPercent()}
		if li.GetUnitPrice() != nil {
			l.UnitPrice = proto.CloneOf(li.GetUnitPrice())
		}
		o.LineItems = append(o.LineItems, l)
	}
	if a := p.GetAccount(); a != "" {
		id, ok := resname.Parse(a, "accounts")
		if !ok {
			return o, "account"
		}
		o.AccountID = id
	}
	if c := p.GetPrimaryContact(); c != "" {
		id, ok := resname.Parse(c, "contacts")
		if !ok {
			return o, "primary_contact"
		}
		o.ContactID = id
	}
	for i, m := range p.GetBuyingCommittee() {
		id, ok := resname.Parse(m.GetContact(), "contacts")
		if !ok {
			return o, fmt.Sprintf("buying_committee[%d].contact", i)
		}
		o.BuyingCommittee = append(o.BuyingCommittee, domain.CommitteeMember{ContactID: id, Roles: slices.Clone(m.GetRoles())})
	}
	return o, ""
}

// StageChange returns the API form of c.
func StageChange(c domain.StageChange) *opportunityv1.StageChange {
	return &opportunityv1.StageChange{
		Name:      OpportunityName(c.OpportunityID) + "/stageChanges/" + c.ID.String(),
		FromStage: c.From, ToStage: c.To, Pipeline: PipelineName(c.PipelineID), Actor: c.Actor,
		ChangeTime: timestamppb.New(c.At), TimeInPreviousStage: durationpb.New(c.TimeInPrevious),
	}
}

// LossReason returns the API form of r.
func LossReason(r domain.LossReason) *opportunityv1.LossReason {
	return &opportunityv1.LossReason{Id: r.ID, DisplayName: r.DisplayName, Retired: r.Retired}
}

// OpportunityEvent returns the event message for ev about o (as it is
// after the change).
func OpportunityEvent(meta *eventsv1.EventMeta, o *domain.Opportunity, ev domain.Event) (proto.Message, error) {
	id, res := o.ID.String(), Opportunity(o)
	switch e := ev.(type) {
	case domain.OpportunityCreated:
		return &eventsv1.OpportunityCreated{Meta: meta, OpportunityId: id, Opportunity: res, SourceLeadId: idString(e.SourceLead)}, nil
	case domain.OpportunityUpdated:
		return &eventsv1.OpportunityUpdated{Meta: meta, OpportunityId: id, Opportunity: res, ChangedFields: e.Changed}, nil
	case domain.StageChanged:
		return &eventsv1.OpportunityStageChanged{Meta: meta, OpportunityId: id, Opportunity: res, FromStage: e.Change.From,
			ToStage: e.Change.To, TimeInPreviousStage: durationpb.New(e.Change.TimeInPrevious)}, nil
	case domain.OpportunityWon:
		return &eventsv1.OpportunityWon{Meta: meta, OpportunityId: id, Opportunity: res, AccountId: o.AccountID.String(),
			ContactId: idString(o.ContactID), Owner: o.Owner, Note: e.Note, Reason: e.Reason}, nil
	case domain.OpportunityLost:
		return &eventsv1.OpportunityLost{Meta: meta, OpportunityId: id, Opportunity: res, Reason: e.Reason,
			Competitor: e.Competitor, State: State(e.State)}, nil
	case domain.OpportunityReopened:
		return &eventsv1.OpportunityReopened{Meta: meta, OpportunityId: id, Opportunity: res, PreviousState: State(e.Previous)}, nil
	case domain.OpportunityDeleted:
		return &eventsv1.OpportunityDeleted{Meta: meta, OpportunityId: id, Opportunity: res}, nil
	}
	return nil, fmt.Errorf("protomap: unknown opportunity event %T", ev)
}

// PipelineChanged returns the event for a created or changed pipeline.
func PipelineChanged(meta *eventsv1.EventMeta, p *domain.Pipeline, moves map[string]string) *eventsv1.PipelineChanged {
	ev := &eventsv1.PipelineChanged{Meta: meta, PipelineId: p.ID.String(), Pipeline: Pipeline(p)}
	if len(moves) > 0 {
		ev.StageMoves = moves
	}
	return ev
}

package protomap

import (
	"strings"

	"github.com/google/uuid"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/protoenum"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

// UserName is the resource name of a user.
func UserName(id string) string { return "users/" + id }

// User returns the API form of u.
func User(u *domain.User) *workflowv1.User {
	p := &workflowv1.User{
		Name: UserName(u.ID), DisplayName: u.DisplayName, Email: u.Email, TimeZone: u.TimeZone, Active: u.Active,
		Teams: u.Teams, Territories: u.Territories, Capacity: int32(u.Capacity),
		CreateTime: ts(u.CreatedAt), CreatedBy: u.CreatedBy, UpdateTime: ts(u.UpdatedAt), UpdatedBy: u.UpdatedBy, Etag: etag.Format(u.Version),
	}
	for _, w := range u.WorkingHours {
		p.WorkingHours = append(p.WorkingHours, &workflowv1.WorkingInterval{Day: dayOfWeek(w.Day), StartTime: timeOfDay(w.Start), EndTime: timeOfDay(w.End)})
	}
	for _, r := range u.OutOfOffice {
		p.OutOfOffice = append(p.OutOfOffice, &workflowv1.OutOfOfficeRange{StartTime: ts(r.Start), EndTime: ts(r.End), Note: r.Note})
	}
	return p
}

// UserFromProto returns the domain form of an API user (its id is not
// read from the name: the caller knows which user it is).
func UserFromProto(p *workflowv1.User) domain.User {
	u := domain.User{
		DisplayName: p.GetDisplayName(), Email: p.GetEmail(), TimeZone: p.GetTimeZone(), Active: p.GetActive(),
		Teams: p.GetTeams(), Territories: p.GetTerritories(), Capacity: int(p.GetCapacity()),
		WorkingHours: WorkingHoursFromProto(p.GetWorkingHours()), OutOfOffice: OutOfOfficeFromProto(p.GetOutOfOffice()),
	}
	return u
}

// WorkingHoursFromProto reads working intervals; a time of day that is
// not whole minutes (or not a time) is given as an invalid interval, for
// the domain to refuse.
func WorkingHoursFromProto(ps []*workflowv1.WorkingInterval) []domain.WorkingInterval {
	out := make([]domain.WorkingInterval, 0, len(ps))
	for _, p := range ps {
		out = append(out, domain.WorkingInterval{Day: weekday(p.GetDay()), Start: minutes(p.GetStartTime()), End: minutes(p.GetEndTime())})
	}
	return out
}

// OutOfOfficeFromProto reads out-of-office ranges.
func OutOfOfficeFromProto(ps []*workflowv1.OutOfOfficeRange) []domain.OutOfOffice {
	out := make([]domain.OutOfOffice, 0, len(ps))
	for _, p := range ps {
		out = append(out, domain.OutOfOffice{Start: TimeOf(p.GetStartTime()), End: TimeOf(p.GetEndTime()), Note: p.GetNote()})
	}
	return out
}

// UserChanged is the event of a change of u.
func UserChanged(meta *eventsv1.EventMeta, u *domain.User) *eventsv1.UserChanged {
	return &eventsv1.UserChanged{Meta: meta, UserId: u.ID, User: User(u), Version: u.Version, Deleted: u.Deleted}
}

// ---- assignment rules ----

func AssignmentRecordType(t domain.RecordType) workflowv1.AssignmentRecordType {
	return workflowv1.AssignmentRecordType(protoenum.Value(string(t), "ASSIGNMENT_RECORD_TYPE_", workflowv1.AssignmentRecordType_value))
}

func enumName(full, prefix string) string { return protoenum.Name(full, prefix) }

// AssignmentRule returns the API form of r.
func AssignmentRule(r *domain.AssignmentRule) *workflowv1.AssignmentRule {
	p := &workflowv1.AssignmentRule{
		Name: domain.AssignmentRuleName(r.ID), DisplayName: r.DisplayName, RecordType: AssignmentRecordType(r.RecordType),
		Condition: r.Condition, Priority: int32(r.Priority),
		Strategy:    workflowv1.AssignmentStrategy(protoenum.Value(string(r.Strategy), "ASSIGNMENT_STRATEGY_", workflowv1.AssignmentStrategy_value)),
		Candidates:  candidates(r.Candidates),
		LoadMeasure: workflowv1.LoadMeasure(protoenum.Value(string(r.LoadMeasure), "LOAD_MEASURE_", workflowv1.LoadMeasure_value)),
		AnyTime:     r.AnyTime, FallbackOwner: r.FallbackOwner, Enabled: r.Enabled, Version: r.Version,
		CreateTime: ts(r.CreatedAt), CreatedBy: r.CreatedBy, UpdateTime: ts(r.UpdatedAt), UpdatedBy: r.UpdatedBy, Etag: etag.Format(r.Version),
	}
	if f := r.ByField; f != nil {
		p.ByField = &workflowv1.FieldRouting{Field: workflowv1.AssignmentField(protoenum.Value(string(f.Field), "ASSIGNMENT_FIELD_", workflowv1.AssignmentField_value))}
		for _, rt := range f.Routes {
			p.ByField.Routes = append(p.ByField.Routes, &workflowv1.FieldRoute{Values: rt.Values, Candidates: candidates(rt.Candidates)})
		}
	}
	return p
}

func candidates(c domain.Candidates) *workflowv1.AssignmentCandidates {
	return &workflowv1.AssignmentCandidates{Users: c.Users, Teams: c.Teams}
}

func candidatesFromProto(p *workflowv1.AssignmentCandidates) domain.Candidates {
	return domain.Candidates{Users: append([]string(nil), p.GetUsers()...), Teams: append([]string(nil), p.GetTeams()...)}
}

// AssignmentRuleFromProto returns the domain form of an API rule.
func AssignmentRuleFromProto(p *workflowv1.AssignmentRule) domain.AssignmentRule {
	r := domain.AssignmentRule{
		DisplayName: p.GetDisplayName(), RecordType: domain.RecordType(enumName(p.GetRecordType().String(), "ASSIGNMENT_RECORD_TYPE_")),
		Condition: p.GetCondition(), Priority: int(p.GetPriority()),
		Strategy:    domain.Strategy(enumName(p.GetStrategy().String(), "ASSIGNMENT_STRATEGY_")),
		Candidates:  candidatesFromProto(p.GetCandidates()),
		LoadMeasure: domain.LoadMeasure(enumName(p.GetLoadMeasure().String(), "LOAD_MEASURE_")),
		AnyTime:     p.GetAnyTime(), FallbackOwner: p.GetFallbackOwner(), Enabled: p.GetEnabled(),
	}
	if f := p.GetByField(); f != nil {
		r.ByField = &domain.FieldRouting{Field: domain.RoutingField(enumName(f.GetField().String(), "ASSIGNMENT_FIELD_"))}
		for _, rt := range f.GetRoutes() {
			r.ByField.Routes = append(r.ByField.Routes, domain.FieldRoute{Values: append([]string(nil), rt.GetValues()...), Candidates: candidatesFromProto(rt.GetCandidates())})
		}
	}
	return r
}

// ---- assignments ----

// AssignmentName is the name of a record's assignment.
func AssignmentName(record string) string { return record + "/assignment" }

// AssignmentRecord is the record of `<record>/assignment`.
func AssignmentRecord(name string) (string, bool) {
	record, ok := strings.CutSuffix(name, "/assignment")
	if !ok {
		return "", false
	}
	t, _, ok := domain.ParseRecordName(record)
	return record, ok && (t == domain.RecordLead || t == domain.RecordOpportunity || t == domain.RecordOrder)
}

// Assignment returns the API form of a.
func Assignment(a *domain.Assignment) *workflowv1.Assignment {
	p := &workflowv1.Assignment{
		Name: AssignmentName(a.Record), Record: a.Record, Rule: domain.AssignmentRuleName(a.Rule), RuleVersion: a.RuleVersion,
		RuleDisplayName: a.RuleDisplayName,
		Strategy:        workflowv1.AssignmentStrategy(protoenum.Value(string(a.Strategy), "ASSIGNMENT_STRATEGY_", workflowv1.AssignmentStrategy_value)),
		PreviousOwner:   a.PreviousOwner, Owner: a.Owner, Flagged: a.Flagged, RulesSkipped: a.RulesSkipped, Reason: a.Reason,
		State: workflowv1.AssignmentState(protoenum.Value(string(a.State), "ASSIGNMENT_STATE_", workflowv1.AssignmentState_value)),
		Error: a.Error, DecideTime: ts(a.DecidedAt), RoutedBy: a.RoutedBy,
		ApplyTime: ts(a.AppliedAt),
	}
	if a.Rule == uuid.Nil {
		p.Rule = ""
	}
	for _, c := range a.Candidates {
		p.Candidates = append(p.Candidates, &workflowv1.AssignmentCandidate{
			User: c.User, Team: c.Team, Eligible: c.Eligible, Chosen: c.Chosen,
			SkipReason: workflowv1.SkipReason(protoenum.Value(string(c.Skip), "SKIP_REASON_", workflowv1.SkipReason_value)),
			Detail:     c.Detail, Load: c.Load, Capacity: int32(c.Capacity),
		})
	}
	return p
}

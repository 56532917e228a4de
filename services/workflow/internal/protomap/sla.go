package protomap

import (
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/genproto/googleapis/type/dayofweek"
	"google.golang.org/genproto/googleapis/type/timeofday"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/protoenum"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/bizcal"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

// BusinessCalendarName, SlaPolicyName, SlaClockName: the resource names.
func BusinessCalendarName(id uuid.UUID) string { return resname.Format("businessCalendars", id) }
func SlaPolicyName(id uuid.UUID) string        { return resname.Format("slaPolicies", id) }
func SlaClockName(id uuid.UUID) string         { return resname.Format("slaClocks", id) }

func duration(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

// weekday maps google.type.DayOfWeek to time.Weekday (-1: unspecified).
func weekday(d dayofweek.DayOfWeek) time.Weekday {
	switch {
	case d == dayofweek.DayOfWeek_SUNDAY:
		return time.Sunday
	case d >= dayofweek.DayOfWeek_MONDAY && d <= dayofweek.DayOfWeek_SATURDAY:
		return time.Weekday(d)
	}
	return -1
}

func dayOfWeek(d time.Weekday) dayofweek.DayOfWeek {
	if d == time.Sunday {
		return dayofweek.DayOfWeek_SUNDAY
	}
	return dayofweek.DayOfWeek(d)
}

// minutes reads a time of day to the minute (-1 when it is not one:
// unset, seconds, out of range; 24:00 is the end of the day).
func minutes(t *timeofday.TimeOfDay) int {
	if t == nil || t.GetSeconds() != 0 || t.GetNanos() != 0 || t.GetMinutes() < 0 || t.GetMinutes() > 59 ||
		t.GetHours() < 0 || t.GetHours() > 24 || t.GetHours() == 24 && t.GetMinutes() != 0 {
		return -1
	}
	return int(t.GetHours())*60 + int(t.GetMinutes())
}

func timeOfDay(m int) *timeofday.TimeOfDay {
	return &timeofday.TimeOfDay{Hours: int32(m / 60), Minutes: int32(m % 60)}
}

// BusinessCalendar returns the API form of c.
func BusinessCalendar(c *domain.BusinessCalendar) *workflowv1.BusinessCalendar {
	p := &workflowv1.BusinessCalendar{
		Name: BusinessCalendarName(c.ID), DisplayName: c.DisplayName, TimeZone: c.TimeZone,
		FirstYear: int32(c.FirstYear), LastYear: int32(c.LastYear),
		CreateTime: ts(c.CreatedAt), CreatedBy: c.CreatedBy, UpdateTime: ts(c.UpdatedAt), UpdatedBy: c.UpdatedBy, Etag: etag.Format(c.Version),
	}
	for _, w := range c.WorkingHours {
		p.WorkingHours = append(p.WorkingHours, &workflowv1.WorkingInterval{Day: dayOfWeek(w.Day), StartTime: timeOfDay(w.Start), EndTime: timeOfDay(w.End)})
	}
	for _, h := range c.Holidays {
		p.Holidays = append(p.Holidays, &workflowv1.Holiday{
			Date: &date.Date{Year: int32(h.Date.Year), Month: int32(h.Date.Month), Day: int32(h.Date.Day)}, DisplayName: h.Name})
	}
	return p
}

// BusinessCalendarFromProto returns the domain form of the settable
// fields of p; times it cannot read are -1 (refused by Check).
func BusinessCalendarFromProto(p *workflowv1.BusinessCalendar) domain.BusinessCalendar {
	c := domain.BusinessCalendar{DisplayName: p.GetDisplayName(), TimeZone: p.GetTimeZone(),
		FirstYear: int(p.GetFirstYear()), LastYear: int(p.GetLastYear())}
	for _, w := range p.GetWorkingHours() {
		c.WorkingHours = append(c.WorkingHours, domain.WorkingInterval{Day: weekday(w.GetDay()), Start: minutes(w.GetStartTime()), End: minutes(w.GetEndTime())})
	}
	for _, h := range p.GetHolidays() {
		d := h.GetDate()
		c.Holidays = append(c.Holidays, domain.Holiday{Date: bizcal.Date{Year: int(d.GetYear()), Month: time.Month(d.GetMonth()), Day: int(d.GetDay())},
			Name: h.GetDisplayName()})
	}
	return c
}

func targetKind(k domain.SlaTargetKind) workflowv1.SlaTargetKind {
	return workflowv1.SlaTargetKind(protoenum.Value(string(k), "SLA_TARGET_KIND_", workflowv1.SlaTargetKind_value))
}

// SlaPolicy returns the API form of p.
func SlaPolicy(p *domain.SlaPolicy) *workflowv1.SlaPolicy {
	out := &workflowv1.SlaPolicy{
		Name: SlaPolicyName(p.ID), DisplayName: p.DisplayName, Description: p.Description, Enabled: p.Enabled,
		RecordType: RecordType(p.RecordType), Condition: p.Condition, Priority: int32(p.Priority),
		Calendar: BusinessCalendarName(p.CalendarID), WarningPercent: int32(p.WarningPercent),
		PauseStatuses: append([]string{}, p.PauseStatuses...), Version: p.Version,
		CreateTime: ts(p.CreatedAt), CreatedBy: p.CreatedBy, UpdateTime: ts(p.UpdatedAt), UpdatedBy: p.UpdatedBy, Etag: etag.Format(p.Version),
	}
	for _, t := range p.Targets {
		out.Targets = append(out.Targets, &workflowv1.SlaTarget{Kind: targetKind(t.Kind), Duration: duration(t.Duration), Stages: append([]string{}, t.Stages...)})
	}
	return out
}

// SlaPolicyFromProto returns the domain form of the settable fields of
// p; a calendar that is not `businessCalendars/{id}` is a violation of
// `calendar`.
func SlaPolicyFromProto(p *workflowv1.SlaPolicy) (domain.SlaPolicy, error) {
	out := domain.SlaPolicy{
		DisplayName: p.GetDisplayName(), Description: p.GetDescription(), Enabled: p.GetEnabled(),
		RecordType: RecordTypeFromProto(p.GetRecordType()), Condition: p.GetCondition(), Priority: int(p.GetPriority()),
		WarningPercent: int(p.GetWarningPercent()), PauseStatuses: p.GetPauseStatuses(),
	}
	for _, t := range p.GetTargets() {
		kind := domain.SlaTargetKind("")
		if t.GetKind() != workflowv1.SlaTargetKind_SLA_TARGET_KIND_UNSPECIFIED {
			kind = domain.SlaTargetKind(protoenum.Name(t.GetKind().String(), "SLA_TARGET_KIND_"))
		}
		out.Targets = append(out.Targets, domain.SlaTarget{Kind: kind, Duration: t.GetDuration().AsDuration(), Stages: t.GetStages()})
	}
	if c := p.GetCalendar(); c != "" {
		id, err := resname.ParseField(c, "businessCalendars", "calendar")
		if err != nil {
			return out, err
		}
		out.CalendarID = id
	}
	return out, nil
}

func slaStatus(s domain.SlaStatus) workflowv1.SlaStatus {
	return workflowv1.SlaStatus(protoenum.Value(string(s), "SLA_STATUS_", workflowv1.SlaStatus_value))
}

// SlaClock returns the API form of a clock as of a reading.
func SlaClock(v app.SlaClockView) *workflowv1.SlaClock {
	c := v.SlaClock
	p := &workflowv1.SlaClock{
		Name: SlaClockName(c.ID), Record: c.Record, RecordDisplayName: c.RecordName, Owner: c.Owner,
		Policy: SlaPolicyName(c.PolicyID), Target: targetKind(c.Target), Stage: c.Stage, Status: slaStatus(v.Status),
		TargetDuration: duration(c.TargetDuration), Elapsed: duration(v.Elapsed), Remaining: duration(max(0, c.TargetDuration-v.Elapsed)),
		Calendar: BusinessCalendarName(c.CalendarID), TimeZone: v.TimeZone, StartTime: ts(c.StartedAt),
		WarningTime: ts(c.WarnAt), BreachTime: ts(c.BreachAt), WarnedTime: ts(c.WarnedAt), BreachedTime: ts(c.BreachedAt), MetTime: ts(c.MetAt),
	}
	if v.Status == domain.SlaBreached {
		p.Remaining = duration(0)
	}
	for _, s := range c.Segments {
		p.RunningIntervals = append(p.RunningIntervals, &workflowv1.SlaInterval{StartTime: ts(s.Start), EndTime: ts(s.End)})
	}
	if c.Running() {
		p.RunningIntervals = append(p.RunningIntervals, &workflowv1.SlaInterval{StartTime: ts(c.RunningSince)})
	}
	return p
}

// SlaEvent is the SlaWarning or SlaBreached of a firing, with meta.
func SlaEvent(meta *eventsv1.EventMeta, f app.SlaFiring) proto.Message {
	status, at := domain.SlaWarning, f.Clock.WarnedAt
	if f.Breach {
		status, at = domain.SlaBreached, f.Clock.BreachedAt
	}
	clock := SlaClock(app.SlaClockView{SlaClock: f.Clock, TimeZone: f.TimeZone, Elapsed: f.Elapsed, Status: status})
	meta.EventId, meta.OccurTime = f.EventID.String(), ts(at)
	id := f.Clock.ID.String()
	if f.Breach {
		return &eventsv1.SlaBreached{Meta: meta, SlaClockId: id, SlaClock: clock, Record: f.Clock.Record, Owner: f.Clock.Owner}
	}
	return &eventsv1.SlaWarning{Meta: meta, SlaClockId: id, SlaClock: clock, Record: f.Clock.Record, Owner: f.Clock.Owner}
}

// SlaReportRow returns the API form of a report row.
func SlaReportRow(r domain.SlaReportRow) *workflowv1.SlaReportRow {
	p := &workflowv1.SlaReportRow{Owner: r.Owner, PolicyDisplayName: r.PolicyName, Target: targetKind(r.Target),
		Clocks: r.Clocks, Decided: r.Decided, Breached: r.Breached}
	if r.PolicyID != uuid.Nil {
		p.Policy = SlaPolicyName(r.PolicyID)
	}
	if r.Decided > 0 {
		p.BreachRate = float64(r.Breached) / float64(r.Decided)
	}
	if r.HasMedian {
		p.MedianElapsed = duration(r.Median)
	}
	return p
}

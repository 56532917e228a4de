package wire_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/genproto/googleapis/type/dayofweek"
	"google.golang.org/genproto/googleapis/type/timeofday"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/platform/testkit/inproc"
	"github.com/crmsuite/crm/services/workflow/internal/wire"
)

// startAlone runs the workflow service in the test's process with no
// record-owning service: the test publishes their events itself, with
// the times it chooses (the SLA clocks count from the events' times).
func startAlone(t *testing.T) (*suite, workflowv1.SlaServiceClient) {
	t.Helper()
	s := &suite{nats: testkit.NewNATS(t), dbURL: testkit.Database(t), addrs: map[string]string{}}
	for _, n := range append(allServices, "workflow") {
		s.addrs[n] = testkit.FreeAddr(t)
	}
	s.js = s.nats.Observer(t)
	for _, n := range allServices {
		s.nats.CreateStream(t, s.js, n, 0)
	}
	cfg := inproc.Config("workflow", s.dbURL, s.nats)
	cfg.ConsumerWorkers = 2
	cfg.TimerPollInterval = 100 * time.Millisecond
	s.svc = inproc.Start(t, cfg, wire.Spec(wire.WithServices(s.addrs), wire.WithConsumerRetries(3, 50*time.Millisecond, 2*time.Second)))
	s.wf = workflowv1.NewWorkflowServiceClient(s.svc.Conn)
	return s, workflowv1.NewSlaServiceClient(s.svc.Conn)
}

func tod(h, m int32) *timeofday.TimeOfDay { return &timeofday.TimeOfDay{Hours: h, Minutes: m} }

// officeCalendar is Berlin, Monday to Friday 09:00-12:00 and 13:00-17:00,
// with the Mondays before Christmas 2025 and 2026 off.
func officeCalendar() *workflowv1.BusinessCalendar {
	c := &workflowv1.BusinessCalendar{DisplayName: "Berlin office", TimeZone: "Europe/Berlin", FirstYear: 2025, LastYear: 2027,
		Holidays: []*workflowv1.Holiday{
			{Date: &date.Date{Year: 2025, Month: 12, Day: 22}, DisplayName: "Bridge day"},
			{Date: &date.Date{Year: 2026, Month: 12, Day: 21}, DisplayName: "Bridge day"},
		}}
	for d := dayofweek.DayOfWeek_MONDAY; d <= dayofweek.DayOfWeek_FRIDAY; d++ {
		c.WorkingHours = append(c.WorkingHours,
			&workflowv1.WorkingInterval{Day: d, StartTime: tod(9, 0), EndTime: tod(12, 0)},
			&workflowv1.WorkingInterval{Day: d, StartTime: tod(13, 0), EndTime: tod(17, 0)})
	}
	return c
}

func berlin(t *testing.T, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

func firstResponse(d time.Duration) []*workflowv1.SlaTarget {
	return []*workflowv1.SlaTarget{{Kind: workflowv1.SlaTargetKind_SLA_TARGET_KIND_FIRST_RESPONSE, Duration: durationpb.New(d)}}
}

// syntheticLead is a lead as the lead service's events would carry it.
func syntheticLead(owner string, rating leadv1.Rating, created time.Time) *leadv1.Lead {
	return &leadv1.Lead{Name: "leads/" + uuid.NewString(), LastName: "Synthetic", Owner: owner, Rating: rating,
		Status: leadv1.Status_STATUS_NEW, Source: leadv1.Source_SOURCE_WEB_FORM, CreateTime: timestamppb.New(created)}
}

func meta(at time.Time) *eventsv1.EventMeta {
	return &eventsv1.EventMeta{EventId: uuid.NewString(), OccurTime: timestamppb.New(at), Actor: "sam"}
}

func leadID(l *leadv1.Lead) string { return l.Name[len("leads/"):] }

// created, statusChanged, ratingChanged publish the lead service's
// events for l as it is, happening at at.
func (s *suite) created(t *testing.T, l *leadv1.Lead) {
	t.Helper()
	s.nats.Publish(t, s.js, "lead", &eventsv1.LeadCreated{Meta: meta(l.CreateTime.AsTime()), LeadId: leadID(l), Lead: proto.Clone(l).(*leadv1.Lead)})
}

func (s *suite) statusChanged(t *testing.T, l *leadv1.Lead, to leadv1.Status, at time.Time) {
	t.Helper()
	prev := l.Status
	l.Status = to
	s.nats.Publish(t, s.js, "lead", &eventsv1.LeadStatusChanged{Meta: meta(at), LeadId: leadID(l), Lead: proto.Clone(l).(*leadv1.Lead),
		PreviousStatus: prev, Status: to})
}

func (s *suite) ratingChanged(t *testing.T, l *leadv1.Lead, to leadv1.Rating, at time.Time) {
	t.Helper()
	prev := l.Rating
	l.Rating = to
	s.nats.Publish(t, s.js, "lead", &eventsv1.LeadRatingChanged{Meta: meta(at), LeadId: leadID(l), Lead: proto.Clone(l).(*leadv1.Lead),
		PreviousRating: prev, Rating: to})
}

// slaEvents are the SlaWarning and SlaBreached events published, by
// clock id.
func (s *suite) slaEvents(t *testing.T) (warnings map[string][]*eventsv1.SlaWarning, breaches map[string][]*eventsv1.SlaBreached) {
	t.Helper()
	warnings, breaches = map[string][]*eventsv1.SlaWarning{}, map[string][]*eventsv1.SlaBreached{}
	for _, e := range s.published(t, 0) {
		switch ev := e.(type) {
		case *eventsv1.SlaWarning:
			warnings[ev.SlaClockId] = append(warnings[ev.SlaClockId], ev)
		case *eventsv1.SlaBreached:
			breaches[ev.SlaClockId] = append(breaches[ev.SlaClockId], ev)
		}
	}
	return warnings, breaches
}

// clocks lists a record's SLA clocks as an admin.
func clocks(t *testing.T, sla workflowv1.SlaServiceClient, record string) []*workflowv1.SlaClock {
	t.Helper()
	resp, err := sla.ListSlaClocks(admin, &workflowv1.ListSlaClocksRequest{Parent: record})
	if err != nil {
		t.Fatal(err)
	}
	return resp.SlaClocks
}

func (s *suite) clockOf(t *testing.T, sla workflowv1.SlaServiceClient, record string) *workflowv1.SlaClock {
	t.Helper()
	s.known(t, record)
	var cs []*workflowv1.SlaClock
	testkit.Eventually(t, 20*time.Second, func() bool {
		cs = clocks(t, sla, record)
		return len(cs) == 1
	}, "one SLA clock on %s", record)
	return cs[0]
}

// timerDue is the due time of a clock's timer ("" when it has none).
func (s *suite) timerDue(t *testing.T, purpose, clock string) string {
	t.Helper()
	return s.query(t, `SELECT coalesce((SELECT to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') FROM timers
		WHERE purpose = $1 AND key = $2), '')`, purpose, clock[len("slaClocks/"):])
}

func utcString(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// An SLA that spans a weekend and a holiday breaches at the right
// minute: 4 business hours from Friday 15:30 (Berlin) are 1:30 on Friday
// and 2:30 on Tuesday (Saturday, Sunday and the bridge Monday off, a
// lunch break on Tuesday), so the clock warns at 75 % on Tuesday 10:30
// and breaches at 11:30, without anyone touching the lead. A lead made
// in the past fires both at once, each once; one made for next year has
// its timers at the same minutes a year on. A COLD lead gets no clock; a
// lead that came to match the policy later, with a call logged before,
// is met at the call. The report gives their breach rate and median.
// SlaBreached triggers a rule.
func TestSlaSpansWeekendAndHolidayBreachesAtTheRightMinute(t *testing.T) {
	t.Parallel()
	s, sla := startAlone(t)
	cal, err := sla.CreateBusinessCalendar(admin, &workflowv1.CreateBusinessCalendarRequest{BusinessCalendar: officeCalendar()})
	if err != nil {
		t.Fatal(err)
	}
	policy, err := sla.CreateSlaPolicy(admin, &workflowv1.CreateSlaPolicyRequest{SlaPolicy: &workflowv1.SlaPolicy{
		DisplayName: "Hot web leads: first response in 4 business hours", Enabled: true, RecordType: workflowv1.RecordType_RECORD_TYPE_LEAD,
		Condition: `record.source == Source.SOURCE_WEB_FORM && record.rating == Rating.RATING_HOT`, Calendar: cal.Name,
		Targets: firstResponse(4 * time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	if policy.WarningPercent != 75 {
		t.Fatalf("warning percent %d, want the default 75", policy.WarningPercent)
	}
	// A rule on breaches of hot leads notifies the owner's manager.
	if _, err := s.wf.CreateRule(admin, &workflowv1.CreateRuleRequest{Rule: &workflowv1.Rule{DisplayName: "Escalate breaches", Enabled: true,
		Trigger:   &workflowv1.RuleTrigger{Kind: &workflowv1.RuleTrigger_Events{Events: &workflowv1.EventTrigger{EventTypes: []string{"SlaBreached"}}}},
		Condition: `record.rating == Rating.RATING_HOT && event.sla_clock.target == crm.workflow.v1.SlaTargetKind.SLA_TARGET_KIND_FIRST_RESPONSE`,
		Actions:   []*workflowv1.RuleAction{{Kind: &workflowv1.RuleAction_Notify{Notify: &workflowv1.NotifyAction{Topic: "sla", Message: "breached"}}}}}}); err != nil {
		t.Fatal(err)
	}

	past := syntheticLead("sam", leadv1.Rating_RATING_HOT, berlin(t, "2025-12-19 15:30"))
	next := syntheticLead("sam", leadv1.Rating_RATING_HOT, berlin(t, "2026-12-18 15:30"))
	cold := syntheticLead("sam", leadv1.Rating_RATING_COLD, berlin(t, "2025-12-19 15:30"))
	later := syntheticLead("sam", leadv1.Rating_RATING_COLD, berlin(t, "2025-12-19 15:30"))
	for _, l := range []*leadv1.Lead{past, next, cold, later} {
		s.created(t, l)
	}
	s.known(t, later.Name)
	// A call on the late one, logged for 16:30 on the day it came in; it
	// turns HOT afterwards.
	if _, err := s.wf.CreateActivity(sam, &workflowv1.CreateActivityRequest{Parent: later.Name, Activity: &workflowv1.Activity{
		Type: workflowv1.ActivityType_ACTIVITY_TYPE_CALL, OccurTime: timestamppb.New(berlin(t, "2025-12-19 16:30"))}}); err != nil {
		t.Fatal(err)
	}
	s.ratingChanged(t, later, leadv1.Rating_RATING_HOT, berlin(t, "2025-12-23 09:00"))

	warnAt, breachAt := berlin(t, "2025-12-23 10:30"), berlin(t, "2025-12-23 11:30")
	clock := s.clockOf(t, sla, past.Name)
	var warnings map[string][]*eventsv1.SlaWarning
	var breaches map[string][]*eventsv1.SlaBreached
	testkit.Eventually(t, 20*time.Second, func() bool {
		warnings, breaches = s.slaEvents(t)
		return len(breaches[clock.Name[len("slaClocks/"):]]) > 0
	}, "the breach published")
	time.Sleep(500 * time.Millisecond) // anything doubled would show by now
	warnings, breaches = s.slaEvents(t)
	id := clock.Name[len("slaClocks/"):]
	if len(warnings) != 1 || len(breaches) != 1 || len(warnings[id]) != 1 || len(breaches[id]) != 1 {
		t.Fatalf("warnings %v, breaches %v: want one of each, for %s", warnings, breaches, id)
	}
	w, b := warnings[id][0], breaches[id][0]
	if got := w.Meta.OccurTime.AsTime(); !got.Equal(warnAt) {
		t.Errorf("warned at %v, want %v", got, warnAt)
	}
	if got := b.Meta.OccurTime.AsTime(); !got.Equal(breachAt) {
		t.Errorf("breached at %v, want %v", got, breachAt)
	}
	if got := b.SlaClock.BreachedTime.AsTime(); !got.Equal(breachAt) || b.SlaClock.Elapsed.AsDuration() != 4*time.Hour ||
		b.SlaClock.Status != workflowv1.SlaStatus_SLA_STATUS_BREACHED || b.Owner != "sam" || b.Record != past.Name || b.SlaClock.TimeZone != "Europe/Berlin" {
		t.Errorf("breach event %v", b)
	}
	if w.SlaClock.Status != workflowv1.SlaStatus_SLA_STATUS_WARNING || w.SlaClock.Elapsed.AsDuration() != 3*time.Hour ||
		!w.SlaClock.BreachTime.AsTime().Equal(breachAt) {
		t.Errorf("warning event %v", w)
	}
	clock = s.clockOf(t, sla, past.Name)
	if clock.Status != workflowv1.SlaStatus_SLA_STATUS_BREACHED || !clock.BreachedTime.AsTime().Equal(breachAt) || clock.Policy != policy.Name {
		t.Fatalf("clock after the breach %v", clock)
	}
	// Next year's: on track, its timers at Tuesday 10:30 and 11:30.
	future := s.clockOf(t, sla, next.Name)
	wantWarn, wantBreach := berlin(t, "2026-12-22 10:30"), berlin(t, "2026-12-22 11:30")
	if future.Status != workflowv1.SlaStatus_SLA_STATUS_ON_TRACK || !future.BreachTime.AsTime().Equal(wantBreach) || !future.WarningTime.AsTime().Equal(wantWarn) {
		t.Fatalf("next year's clock %v", future)
	}
	if got := s.timerDue(t, "sla.breach", future.Name); got != utcString(wantBreach) {
		t.Fatalf("breach timer due %q, want %s", got, utcString(wantBreach))
	}
	if got := s.timerDue(t, "sla.warning", future.Name); got != utcString(wantWarn) {
		t.Fatalf("warning timer due %q, want %s", got, utcString(wantWarn))
	}
	s.known(t, cold.Name)
	if cs := clocks(t, sla, cold.Name); len(cs) != 0 {
		t.Fatalf("a cold lead has clocks %v", cs)
	}
	met := s.clockOf(t, sla, later.Name)
	if met.Status != workflowv1.SlaStatus_SLA_STATUS_MET || !met.MetTime.AsTime().Equal(berlin(t, "2025-12-19 16:30")) ||
		met.Elapsed.AsDuration() != time.Hour || !met.StartTime.AsTime().Equal(berlin(t, "2025-12-19 15:30")) {
		t.Fatalf("the late lead's clock %v", met)
	}
	// The rule escalated the breach, once.
	testkit.Eventually(t, 10*time.Second, func() bool {
		n := 0
		for _, e := range s.published(t, 0) {
			if ev, ok := e.(*eventsv1.WorkflowNotification); ok && ev.Record == past.Name && ev.Topic == "sla" {
				n++
			}
		}
		return n == 1
	}, "one notification of the breach")

	// The report: sam's two decided first-response clocks of 2025, one
	// breached; the median of the finished one is its hour.
	report, err := sla.GetSlaReport(manager, &workflowv1.GetSlaReportRequest{
		StartTime: timestamppb.New(berlin(t, "2025-12-01 00:00")), EndTime: timestamppb.New(berlin(t, "2026-01-01 00:00"))})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.ByOwner) != 1 || len(report.ByPolicy) != 1 {
		t.Fatalf("report %v", report)
	}
	for _, row := range []*workflowv1.SlaReportRow{report.ByOwner[0], report.ByPolicy[0]} {
		if row.Clocks != 2 || row.Decided != 2 || row.Breached != 1 || row.BreachRate != 0.5 || row.MedianElapsed.AsDuration() != time.Hour ||
			row.Target != workflowv1.SlaTargetKind_SLA_TARGET_KIND_FIRST_RESPONSE {
			t.Errorf("report row %v", row)
		}
	}
	if report.ByOwner[0].Owner != "sam" || report.ByPolicy[0].Policy != policy.Name || report.ByPolicy[0].PolicyDisplayName != policy.DisplayName {
		t.Errorf("report keys %v", report)
	}
	_, err = sla.GetSlaReport(sam, &workflowv1.GetSlaReportRequest{StartTime: timestamppb.Now(), EndTime: timestamppb.Now()})
	testkit.RequireDenied(t, "a salesperson reads the report", err)
	// Reading a record's clocks follows the record's read rule.
	if _, err := sla.ListSlaClocks(sam, &workflowv1.ListSlaClocksRequest{Parent: past.Name}); err != nil {
		t.Fatalf("the owner reads its lead's clocks: %v", err)
	}
	_, err = sla.ListSlaClocks(sue, &workflowv1.ListSlaClocksRequest{Parent: past.Name})
	testkit.RequireDenied(t, "another salesperson reads the clocks", err)
}

// A paused clock resumes without losing time: a lead created on Monday
// 10:00 runs an hour, stands still in NURTURING from 11:00 until
// Wednesday 14:00 (no timers meanwhile), then has its 3 hours left: it
// breaches on Wednesday 17:00. Changing the policy's target and the
// calendar's holidays moves the running clock's deadlines; closing the
// lead finishes it. (The dates are next year's, so nothing fires: the
// test reads the clock and its timers after each event.)
func TestSlaPausedClockResumesWithoutLosingTime(t *testing.T) {
	t.Parallel()
	s, sla := startAlone(t)
	cal, err := sla.CreateBusinessCalendar(admin, &workflowv1.CreateBusinessCalendarRequest{BusinessCalendar: officeCalendar()})
	if err != nil {
		t.Fatal(err)
	}
	policy, err := sla.CreateSlaPolicy(admin, &workflowv1.CreateSlaPolicyRequest{SlaPolicy: &workflowv1.SlaPolicy{
		DisplayName: "Leads close in 4 business hours", Enabled: true, RecordType: workflowv1.RecordType_RECORD_TYPE_LEAD, Calendar: cal.Name,
		Targets:       []*workflowv1.SlaTarget{{Kind: workflowv1.SlaTargetKind_SLA_TARGET_KIND_TIME_TO_CLOSE, Duration: durationpb.New(4 * time.Hour)}},
		PauseStatuses: []string{"NURTURING"}}})
	if err != nil {
		t.Fatal(err)
	}
	l := syntheticLead("sam", leadv1.Rating_RATING_WARM, berlin(t, "2026-12-14 10:00"))
	s.created(t, l)
	c := s.clockOf(t, sla, l.Name)
	if want := berlin(t, "2026-12-14 15:00"); !c.BreachTime.AsTime().Equal(want) { // 10-12, 13-15
		t.Fatalf("running clock breaches at %v, want %v", c.BreachTime.AsTime(), want)
	}

	s.statusChanged(t, l, leadv1.Status_STATUS_NURTURING, berlin(t, "2026-12-14 11:00"))
	testkit.Eventually(t, 20*time.Second, func() bool {
		c = s.clockOf(t, sla, l.Name)
		return c.Status == workflowv1.SlaStatus_SLA_STATUS_PAUSED
	}, "the clock paused")
	if c.Elapsed.AsDuration() != time.Hour || c.BreachTime != nil || c.WarningTime != nil || len(c.RunningIntervals) != 1 {
		t.Fatalf("paused clock %v", c)
	}
	if w, b := s.timerDue(t, "sla.warning", c.Name), s.timerDue(t, "sla.breach", c.Name); w != "" || b != "" {
		t.Fatalf("a paused clock has timers: warning %q, breach %q", w, b)
	}

	s.statusChanged(t, l, leadv1.Status_STATUS_CONTACTED, berlin(t, "2026-12-16 14:00"))
	testkit.Eventually(t, 20*time.Second, func() bool {
		c = s.clockOf(t, sla, l.Name)
		return c.Status == workflowv1.SlaStatus_SLA_STATUS_ON_TRACK
	}, "the clock running again")
	wantBreach, wantWarn := berlin(t, "2026-12-16 17:00"), berlin(t, "2026-12-16 16:00")
	if c.Elapsed.AsDuration() != time.Hour || !c.BreachTime.AsTime().Equal(wantBreach) || !c.WarningTime.AsTime().Equal(wantWarn) ||
		len(c.RunningIntervals) != 2 || c.RunningIntervals[1].EndTime != nil {
		t.Fatalf("resumed clock %v", c)
	}
	if got := s.timerDue(t, "sla.breach", c.Name); got != utcString(wantBreach) {
		t.Fatalf("breach timer due %q, want %s", got, utcString(wantBreach))
	}

	// A longer target: 4h left from Wednesday 14:00 is Thursday 10:00.
	policy.Targets[0].Duration = durationpb.New(5 * time.Hour)
	if _, err := sla.UpdateSlaPolicy(admin, &workflowv1.UpdateSlaPolicyRequest{SlaPolicy: &workflowv1.SlaPolicy{Name: policy.Name, Targets: policy.Targets, Etag: policy.Etag},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"targets"}}}); err != nil {
		t.Fatal(err)
	}
	want := berlin(t, "2026-12-17 10:00")
	testkit.Eventually(t, 20*time.Second, func() bool { return s.timerDue(t, "sla.breach", c.Name) == utcString(want) }, "the breach moved to %v", want)
	// Thursday off too: Friday 10:00.
	cal.Holidays = append(cal.Holidays, &workflowv1.Holiday{Date: &date.Date{Year: 2026, Month: 12, Day: 17}})
	if _, err := sla.UpdateBusinessCalendar(admin, &workflowv1.UpdateBusinessCalendarRequest{BusinessCalendar: &workflowv1.BusinessCalendar{
		Name: cal.Name, Holidays: cal.Holidays, Etag: cal.Etag}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"holidays"}}}); err != nil {
		t.Fatal(err)
	}
	want = berlin(t, "2026-12-18 10:00")
	testkit.Eventually(t, 20*time.Second, func() bool { return s.timerDue(t, "sla.breach", c.Name) == utcString(want) }, "the breach moved to %v", want)

	// Qualified on Wednesday 15:00: met after 2 business hours.
	s.statusChanged(t, l, leadv1.Status_STATUS_QUALIFIED, berlin(t, "2026-12-16 15:00"))
	testkit.Eventually(t, 20*time.Second, func() bool {
		c = s.clockOf(t, sla, l.Name)
		return c.Status == workflowv1.SlaStatus_SLA_STATUS_MET
	}, "the clock met")
	if c.Elapsed.AsDuration() != 2*time.Hour || !c.MetTime.AsTime().Equal(berlin(t, "2026-12-16 15:00")) {
		t.Fatalf("met clock %v", c)
	}
	if w, b := s.timerDue(t, "sla.warning", c.Name), s.timerDue(t, "sla.breach", c.Name); w != "" || b != "" {
		t.Fatalf("a met clock has timers: warning %q, breach %q", w, b)
	}
}

// Bad calendars and policies are InvalidArgument naming the field, and
// save nothing; a stale etag is Aborted; a calendar in use cannot be
// deleted; calendars and policies are admins' to write.
func TestSlaBadInput(t *testing.T) {
	t.Parallel()
	s, sla := startAlone(t)
	withCal := func(f func(c *workflowv1.BusinessCalendar)) *workflowv1.BusinessCalendar {
		c := officeCalendar()
		f(c)
		return c
	}
	for name, tc := range map[string]struct {
		cal   *workflowv1.BusinessCalendar
		field string
	}{
		"overlapping intervals": {withCal(func(c *workflowv1.BusinessCalendar) {
			c.WorkingHours = append(c.WorkingHours, &workflowv1.WorkingInterval{Day: dayofweek.DayOfWeek_MONDAY, StartTime: tod(11, 0), EndTime: tod(14, 0)})
		}), "business_calendar.working_hours[10]"},
		"holiday before its years": {withCal(func(c *workflowv1.BusinessCalendar) {
			c.Holidays = append(c.Holidays, &workflowv1.Holiday{Date: &date.Date{Year: 2024, Month: 12, Day: 25}})
		}), "business_calendar.holidays[2].date"},
		"holiday after its years": {withCal(func(c *workflowv1.BusinessCalendar) {
			c.Holidays = append(c.Holidays, &workflowv1.Holiday{Date: &date.Date{Year: 2028, Month: 1, Day: 1}})
		}), "business_calendar.holidays[2].date"},
		"not a date":              {withCal(func(c *workflowv1.BusinessCalendar) { c.Holidays[0].Date.Day = 32 }), "business_calendar.holidays[0].date"},
		"time zone that is not":   {withCal(func(c *workflowv1.BusinessCalendar) { c.TimeZone = "Europe/Atlantis" }), "business_calendar.time_zone"},
		"no time zone":            {withCal(func(c *workflowv1.BusinessCalendar) { c.TimeZone = "" }), "business_calendar.time_zone"},
		"local time zone":         {withCal(func(c *workflowv1.BusinessCalendar) { c.TimeZone = "Local" }), "business_calendar.time_zone"},
		"no working time":         {withCal(func(c *workflowv1.BusinessCalendar) { c.WorkingHours = nil }), "business_calendar.working_hours"},
		"end before start":        {withCal(func(c *workflowv1.BusinessCalendar) { c.WorkingHours[0].EndTime = tod(8, 0) }), "business_calendar.working_hours[0].end_time"},
		"seconds":                 {withCal(func(c *workflowv1.BusinessCalendar) { c.WorkingHours[0].StartTime.Seconds = 30 }), "business_calendar.working_hours[0].start_time"},
		"past midnight":           {withCal(func(c *workflowv1.BusinessCalendar) { c.WorkingHours[1].EndTime = tod(24, 30) }), "business_calendar.working_hours[1].end_time"},
		"years backwards":         {withCal(func(c *workflowv1.BusinessCalendar) { c.FirstYear, c.LastYear = 2027, 2025 }), "business_calendar.last_year"},
		"no name":                 {withCal(func(c *workflowv1.BusinessCalendar) { c.DisplayName = " " }), "business_calendar.display_name"},
		"day of week unspecified": {withCal(func(c *workflowv1.BusinessCalendar) { c.WorkingHours[0].Day = 0 }), "business_calendar.working_hours[0].day"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := sla.CreateBusinessCalendar(admin, &workflowv1.CreateBusinessCalendarRequest{BusinessCalendar: tc.cal})
			if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, tc.field) {
				t.Fatalf("%v: fields %v, want %s", err, fields, tc.field)
			}
		})
	}
	if n := s.query(t, `SELECT count(*)::text FROM business_calendars`); n != "0" {
		t.Fatalf("%s calendars saved from bad input", n)
	}
	_, err := sla.CreateBusinessCalendar(sam, &workflowv1.CreateBusinessCalendarRequest{BusinessCalendar: officeCalendar()})
	testkit.RequireDenied(t, "a salesperson creates a calendar", err)
	cal, err := sla.CreateBusinessCalendar(admin, &workflowv1.CreateBusinessCalendarRequest{BusinessCalendar: officeCalendar()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sla.GetBusinessCalendar(manager, &workflowv1.GetBusinessCalendarRequest{Name: cal.Name}); err != nil {
		t.Fatalf("a manager reads a calendar: %v", err)
	}

	good := func() *workflowv1.SlaPolicy {
		return &workflowv1.SlaPolicy{DisplayName: "p", Enabled: true, RecordType: workflowv1.RecordType_RECORD_TYPE_LEAD, Calendar: cal.Name,
			Targets: firstResponse(time.Hour)}
	}
	with := func(f func(p *workflowv1.SlaPolicy)) *workflowv1.SlaPolicy {
		p := good()
		f(p)
		return p
	}
	for name, tc := range map[string]struct {
		policy *workflowv1.SlaPolicy
		field  string
	}{
		"zero target":       {with(func(p *workflowv1.SlaPolicy) { p.Targets[0].Duration = durationpb.New(0) }), "sla_policy.targets[0].duration"},
		"negative target":   {with(func(p *workflowv1.SlaPolicy) { p.Targets[0].Duration = durationpb.New(-time.Hour) }), "sla_policy.targets[0].duration"},
		"no target time":    {with(func(p *workflowv1.SlaPolicy) { p.Targets[0].Duration = nil }), "sla_policy.targets[0].duration"},
		"target too long":   {with(func(p *workflowv1.SlaPolicy) { p.Targets[0].Duration = durationpb.New(400 * 24 * time.Hour) }), "sla_policy.targets[0].duration"},
		"no targets":        {with(func(p *workflowv1.SlaPolicy) { p.Targets = nil }), "sla_policy.targets"},
		"two of a kind":     {with(func(p *workflowv1.SlaPolicy) { p.Targets = append(p.Targets, firstResponse(2*time.Hour)...) }), "sla_policy.targets[1].kind"},
		"condition syntax":  {with(func(p *workflowv1.SlaPolicy) { p.Condition = `record.rating ==` }), "sla_policy.condition"},
		"condition field":   {with(func(p *workflowv1.SlaPolicy) { p.Condition = `record.no_such_field == 1` }), "sla_policy.condition"},
		"condition type":    {with(func(p *workflowv1.SlaPolicy) { p.Condition = `record.last_name` }), "sla_policy.condition"},
		"unknown calendar":  {with(func(p *workflowv1.SlaPolicy) { p.Calendar = "businessCalendars/" + uuid.NewString() }), "sla_policy.calendar"},
		"not a calendar":    {with(func(p *workflowv1.SlaPolicy) { p.Calendar = "calendars/x" }), "sla_policy.calendar"},
		"no record type":    {with(func(p *workflowv1.SlaPolicy) { p.RecordType = workflowv1.RecordType_RECORD_TYPE_ACCOUNT }), "sla_policy.record_type"},
		"pause status":      {with(func(p *workflowv1.SlaPolicy) { p.PauseStatuses = []string{"SLEEPING"} }), "sla_policy.pause_statuses[0]"},
		"pause when closed": {with(func(p *workflowv1.SlaPolicy) { p.PauseStatuses = []string{"QUALIFIED"} }), "sla_policy.pause_statuses[0]"},
		"fulfil a lead": {with(func(p *workflowv1.SlaPolicy) {
			p.Targets[0].Kind = workflowv1.SlaTargetKind_SLA_TARGET_KIND_CONFIRM_TO_FULFIL
		}), "sla_policy.targets[0].kind"},
		"unknown stage": {with(func(p *workflowv1.SlaPolicy) {
			p.Targets = []*workflowv1.SlaTarget{{Kind: workflowv1.SlaTargetKind_SLA_TARGET_KIND_TIME_IN_STAGE, Duration: durationpb.New(time.Hour), Stages: []string{"LIMBO"}}}
		}), "sla_policy.targets[0].stages[0]"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := sla.CreateSlaPolicy(admin, &workflowv1.CreateSlaPolicyRequest{SlaPolicy: tc.policy})
			if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, tc.field) {
				t.Fatalf("%v: fields %v, want %s", err, fields, tc.field)
			}
		})
	}
	if n := s.query(t, `SELECT count(*)::text FROM sla_policies`); n != "0" {
		t.Fatalf("%s policies saved from bad input", n)
	}
	_, err = sla.CreateSlaPolicy(manager, &workflowv1.CreateSlaPolicyRequest{SlaPolicy: good()})
	testkit.RequireDenied(t, "a manager creates a policy", err)
	// A retried create makes one policy.
	req := &workflowv1.CreateSlaPolicyRequest{SlaPolicy: good(), RequestId: "0192f5a0-0000-7000-8000-0000000005a1"}
	p1, err := sla.CreateSlaPolicy(admin, req)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := sla.CreateSlaPolicy(admin, req)
	if err != nil || p2.Name != p1.Name {
		t.Fatalf("retry: %v, %v", p2, err)
	}
	// A stale etag; a change that breaks the policy.
	_, err = sla.UpdateSlaPolicy(admin, &workflowv1.UpdateSlaPolicyRequest{SlaPolicy: &workflowv1.SlaPolicy{Name: p1.Name, Priority: 3, Etag: `"0"`},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"priority"}}})
	testkit.RequireCode(t, err, codes.Aborted)
	_, err = sla.UpdateSlaPolicy(admin, &workflowv1.UpdateSlaPolicyRequest{SlaPolicy: &workflowv1.SlaPolicy{Name: p1.Name, Targets: firstResponse(-time.Minute)},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"targets"}}})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "sla_policy.targets[0].duration") {
		t.Fatalf("update to a negative target: %v", fields)
	}
	// The calendar is in use; a change of it is checked as a new one.
	_, err = sla.DeleteBusinessCalendar(admin, &workflowv1.DeleteBusinessCalendarRequest{Name: cal.Name})
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != "CALENDAR_IN_USE" {
		t.Fatalf("delete a calendar in use: %s", reason)
	}
	_, err = sla.UpdateBusinessCalendar(admin, &workflowv1.UpdateBusinessCalendarRequest{BusinessCalendar: &workflowv1.BusinessCalendar{Name: cal.Name,
		WorkingHours: []*workflowv1.WorkingInterval{{Day: dayofweek.DayOfWeek_MONDAY, StartTime: tod(11, 0), EndTime: tod(12, 0)},
			{Day: dayofweek.DayOfWeek_MONDAY, StartTime: tod(9, 0), EndTime: tod(11, 30)}}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"working_hours"}}})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "business_calendar.working_hours[0]") {
		t.Fatalf("update to overlapping hours: %v", fields)
	}
	// Rules on SLA events stand alone: no mixing with a record's events.
	_, err = s.wf.CreateRule(admin, &workflowv1.CreateRuleRequest{Rule: &workflowv1.Rule{DisplayName: "mixed",
		Trigger: &workflowv1.RuleTrigger{Kind: &workflowv1.RuleTrigger_Events{Events: &workflowv1.EventTrigger{EventTypes: []string{"LeadCreated", "SlaWarning"}}}},
		Actions: []*workflowv1.RuleAction{{Kind: &workflowv1.RuleAction_Notify{Notify: &workflowv1.NotifyAction{}}}}}})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "rule.trigger.events.event_types") {
		t.Fatalf("a rule mixing SLA and lead events: %v", fields)
	}
	// Clocks are read on records SLAs measure.
	_, err = sla.ListSlaClocks(admin, &workflowv1.ListSlaClocksRequest{Parent: "accounts/" + uuid.NewString()})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "parent") {
		t.Fatalf("clocks of an account: %v", fields)
	}
	_, err = sla.GetSlaReport(manager, &workflowv1.GetSlaReportRequest{StartTime: timestamppb.Now()})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "end_time") {
		t.Fatalf("a report without its end: %v", fields)
	}
}

// A warning and a breach fire once across restarts of the workflow
// service: a kill -9 while it fires the warnings (their transaction rolls
// back, another pass fires them), and downtime past the breaches (they
// fire late, once, at the next start). A lead answered by a call before
// its warning is met and announces nothing.
func TestSlaWarningAndBreachFireOnceAcrossRestarts(t *testing.T) {
	t.Parallel()
	s := startServices(t, "lead")
	wf := s.startProc(t)
	sla := workflowv1.NewSlaServiceClient(testkit.Dial(t, s.addrs["workflow"]))
	year := int32(time.Now().Year())
	always := &workflowv1.BusinessCalendar{DisplayName: "Around the clock", TimeZone: "UTC", FirstYear: year, LastYear: year + 1}
	for d := dayofweek.DayOfWeek_MONDAY; d <= dayofweek.DayOfWeek_SUNDAY; d++ {
		always.WorkingHours = append(always.WorkingHours, &workflowv1.WorkingInterval{Day: d, StartTime: tod(0, 0), EndTime: tod(24, 0)})
	}
	cal, err := sla.CreateBusinessCalendar(admin, &workflowv1.CreateBusinessCalendarRequest{BusinessCalendar: always})
	if err != nil {
		t.Fatal(err)
	}
	const target = 8 * time.Second
	if _, err := sla.CreateSlaPolicy(admin, &workflowv1.CreateSlaPolicyRequest{SlaPolicy: &workflowv1.SlaPolicy{
		DisplayName: "Hot leads", Enabled: true, RecordType: workflowv1.RecordType_RECORD_TYPE_LEAD, Condition: `record.rating == Rating.RATING_HOT`,
		Calendar: cal.Name, Targets: firstResponse(target), WarningPercent: 50}}); err != nil {
		t.Fatal(err)
	}
	answered := s.lead(t, "sam", &leadv1.Lead{LastName: "Answered", Rating: leadv1.Rating_RATING_HOT})
	const total = 200
	leads := make([]*leadv1.Lead, total)
	for i := range leads {
		leads[i] = &leadv1.Lead{LastName: "Waiting", Company: "Co " + uuid.NewString()[:8], Rating: leadv1.Rating_RATING_HOT}
	}
	s.importLeads(t, "sam", leads...)
	started := time.Now()
	s.known(t, answered.Name)
	if _, err := s.wf.CreateActivity(sam, &workflowv1.CreateActivityRequest{Parent: answered.Name, Activity: &workflowv1.Activity{
		Type: workflowv1.ActivityType_ACTIVITY_TYPE_CALL, Direction: workflowv1.Direction_DIRECTION_OUTBOUND}}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM timers WHERE purpose = 'sla.breach'`) == "200"
	}, "a breach timer for every waiting lead")

	// Killed while its firing transaction holds the warnings.
	testkit.Eventually(t, 20*time.Second, func() bool {
		free := s.query(t, `SELECT count(*)::text FROM (SELECT 1 FROM timers WHERE purpose = 'sla.warning' FOR UPDATE SKIP LOCKED) f`)
		return atoi(free) < total
	}, "the engine firing the warnings")
	wf.Kill()
	<-wf.Done()
	t.Logf("killed with %s of %d warnings unfired", s.query(t, `SELECT count(*)::text FROM timers WHERE purpose = 'sla.warning'`), total)
	wf.Restart()
	count := func() (warned, breached int, doubled string) {
		warnings, breaches := s.slaEvents(t)
		for id, ws := range warnings {
			if len(ws) != 1 {
				doubled = "warning of " + id
			}
		}
		for id, bs := range breaches {
			if len(bs) != 1 {
				doubled = "breach of " + id
			}
			if len(warnings[id]) == 0 {
				doubled = "breach without warning of " + id
			}
		}
		return len(warnings), len(breaches), doubled
	}
	testkit.Eventually(t, 30*time.Second, func() bool { w, _, _ := count(); return w == total }, "a warning for every waiting lead")

	// Down past the breaches: they fire late, once, at the next start.
	wf.Kill()
	<-wf.Done()
	t.Logf("down with %s of %d breaches unfired", s.query(t, `SELECT count(*)::text FROM timers WHERE purpose = 'sla.breach'`), total)
	time.Sleep(time.Until(started.Add(target + time.Second)))
	wf.Restart()
	testkit.Eventually(t, 30*time.Second, func() bool { _, b, _ := count(); return b == total }, "a breach for every waiting lead")
	time.Sleep(time.Second) // anything doubled would show by now
	if w, b, doubled := count(); w != total || b != total || doubled != "" {
		t.Fatalf("%d warnings, %d breaches for %d leads; %s", w, b, total, doubled)
	}
	if n := s.query(t, `SELECT count(*)::text FROM sla_clocks WHERE breached_at IS NOT NULL AND warned_at IS NOT NULL`); n != "200" {
		t.Fatalf("%s clocks warned and breached", n)
	}
	c := s.clockOf(t, sla, answered.Name)
	if c.Status != workflowv1.SlaStatus_SLA_STATUS_MET || c.WarnedTime != nil || c.BreachedTime != nil {
		t.Fatalf("the answered lead's clock %v", c)
	}
	if n := s.query(t, `SELECT count(*)::text FROM timers WHERE purpose LIKE 'sla.%'`); n != "0" {
		t.Fatalf("%s SLA timers left", n)
	}
}

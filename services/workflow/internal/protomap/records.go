package protomap

import (
	"fmt"
	"strings"

	"github.com/google/uuid"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/protoenum"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	"github.com/crmsuite/crm/services/workflow/internal/rules"
)

// RecordOf is the projection of a record's API message (nil if m is not
// one): the name, type, display name, owner, timeline account and status
// the workflow service keeps, with the message itself for rules.
func RecordOf(m proto.Message) *domain.Record {
	var r domain.Record
	switch v := m.(type) {
	case *leadv1.Lead:
		r = domain.Record{Name: v.GetName(), Type: domain.RecordLead, DisplayName: personName(v.GetFirstName(), v.GetLastName(), v.GetCompany()),
			Owner: v.GetOwner(), Status: protoenum.Name(v.GetStatus().String(), "STATUS_")}
		if c := v.GetConversion(); c.GetState() != leadv1.ConversionState_CONVERSION_STATE_FAILED {
			r.Account, r.Contact = c.GetAccount(), c.GetContact()
		}
	case *accountv1.Account:
		r = domain.Record{Name: v.GetName(), Type: domain.RecordAccount, DisplayName: v.GetDisplayName(), Owner: v.GetOwner(),
			Account: v.GetName(), Status: protoenum.Name(v.GetState().String(), "ACCOUNT_STATE_")}
	case *accountv1.Contact:
		r = domain.Record{Name: v.GetName(), Type: domain.RecordContact, DisplayName: personName(v.GetFirstName(), v.GetLastName(), ""),
			Owner: v.GetOwner(), Account: v.GetAccount()}
	case *opportunityv1.Opportunity:
		r = domain.Record{Name: v.GetName(), Type: domain.RecordOpportunity, DisplayName: v.GetDisplayName(), Owner: v.GetOwner(),
			Account: v.GetAccount(), Status: protoenum.Name(v.GetState().String(), "OPPORTUNITY_STATE_")}
	case *orderv1.Order:
		r = domain.Record{Name: v.GetName(), Type: domain.RecordOrder, DisplayName: v.GetDisplayName(), Owner: v.GetOwner(),
			Account: v.GetAccount(), Status: protoenum.Name(v.GetStatus().String(), "ORDER_STATUS_")}
	case *orderv1.Contract:
		r = domain.Record{Name: v.GetName(), Type: domain.RecordContract, DisplayName: v.GetDisplayName(), Owner: v.GetOwner(),
			Account: v.GetAccount(), Status: protoenum.Name(v.GetStatus().String(), "CONTRACT_STATUS_")}
	default:
		return nil
	}
	if _, _, ok := domain.ParseRecordName(r.Name); !ok {
		return nil
	}
	if r.DisplayName == "" {
		r.DisplayName = r.Name
	}
	r.Message, _ = proto.MarshalOptions{Deterministic: true}.Marshal(m)
	return &r
}

func personName(first, last, company string) string {
	if n := strings.TrimSpace(strings.TrimSpace(first) + " " + strings.TrimSpace(last)); n != "" {
		return n
	}
	return strings.TrimSpace(company)
}

// deletions are the events after which their record is gone.
var deletions = map[protoreflect.FullName]bool{
	"crm.events.v1.LeadDeleted": true, "crm.events.v1.ContactDeleted": true, "crm.events.v1.OpportunityDeleted": true,
}

// leadCreated is the trigger imported leads count as.
var leadCreated = string((&eventsv1.LeadCreated{}).ProtoReflect().Descriptor().FullName())

// EventOf reads an event of another service into what the workflow
// service applies: every record it carries (the fields holding a record
// API message, repeated ones too), merged leads, and a lead activity to
// carry over. An event carrying no record gives an Event with none.
func EventOf(m proto.Message, seq uint64) (app.Event, error) {
	meta := metaOf(m)
	ev := app.Event{ID: meta.GetEventId(), Type: string(m.ProtoReflect().Descriptor().FullName()), Actor: meta.GetActor(),
		Seq: seq, At: TimeOf(meta.GetOccurTime()), Message: m}
	deleted := deletions[m.ProtoReflect().Descriptor().FullName()]
	add := func(rm proto.Message, trigger string, event proto.Message) {
		if r := RecordOf(rm); r != nil {
			r.Deleted = deleted
			ev.Records = append(ev.Records, app.EventRecord{Record: r, Message: rm, Trigger: trigger, Event: event})
		}
	}
	switch v := m.(type) {
	case *eventsv1.LeadsImported:
		// Each lead as its own LeadCreated, to rules.
		defaulted := map[string]bool{}
		for _, id := range v.GetOwnerDefaultedLeadIds() {
			defaulted[id] = true
		}
		for _, l := range v.GetLeads() {
			id := strings.TrimPrefix(l.GetName(), "leads/")
			add(l, leadCreated, &eventsv1.LeadCreated{Meta: meta, LeadId: id, Lead: l, OwnerDefaulted: defaulted[id]})
			if n := len(ev.Records); n > 0 && ev.Records[n-1].Record.Name == l.GetName() {
				ev.Records[n-1].Assign = defaulted[id]
			}
		}
		return ev, nil
	case *eventsv1.LeadsMerged:
		add(v.GetLead(), "", nil)
		for _, l := range v.GetMergedLeads() {
			add(l, "", nil)
			ev.Merged = append(ev.Merged, l.GetName())
		}
		return ev, nil
	case *eventsv1.AccountsMerged:
		add(v.GetAccount(), "", nil)
		for _, a := range v.GetMergedAccounts() {
			add(a, "", nil)
			ev.Merged = append(ev.Merged, a.GetName())
		}
		return ev, nil
	case *eventsv1.ContactsMerged:
		add(v.GetContact(), "", nil)
		for _, c := range v.GetMergedContacts() {
			add(c, "", nil)
			ev.Merged = append(ev.Merged, c.GetName())
		}
		return ev, nil
	case *eventsv1.LeadActivityLogged:
		add(v.GetLead(), "", nil)
		a, err := LeadActivity(v.GetActivity(), v.GetLead().GetName())
		if err != nil {
			return ev, err
		}
		ev.Activities = append(ev.Activities, a)
		return ev, nil
	}
	fields := m.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Kind() != protoreflect.MessageKind || fd.IsMap() {
			continue
		}
		if _, ok := rules.RecordTypeOf(fd.Message()); !ok || !m.ProtoReflect().Has(fd) {
			continue
		}
		if fd.IsList() {
			l := m.ProtoReflect().Get(fd).List()
			for j := range l.Len() {
				add(l.Get(j).Message().Interface(), "", nil)
			}
			continue
		}
		add(m.ProtoReflect().Get(fd).Message().Interface(), "", nil)
	}
	// New records assignment rules may assign: leads whose creator named
	// no owner, every new opportunity and order.
	switch v := m.(type) {
	case *eventsv1.LeadCreated:
		markAssign(&ev, v.GetOwnerDefaulted())
	case *eventsv1.OpportunityCreated, *eventsv1.OrderCreated:
		markAssign(&ev, true)
	}
	return ev, nil
}

func markAssign(ev *app.Event, assign bool) {
	for i := range ev.Records {
		ev.Records[i].Assign = assign
	}
}

func metaOf(m proto.Message) *eventsv1.EventMeta {
	fd := m.ProtoReflect().Descriptor().Fields().ByName("meta")
	if fd == nil || fd.Message() == nil {
		return nil
	}
	meta, _ := m.ProtoReflect().Get(fd).Message().Interface().(*eventsv1.EventMeta)
	return meta
}

// LeadActivity is an activity the lead service logged, as it is carried
// over: same id, regarding the lead, logged (done) by its author.
func LeadActivity(p *leadv1.Activity, lead string) (domain.Activity, error) {
	_, rest, _ := strings.Cut(p.GetName(), "/activities/")
	id, err := uuid.Parse(rest)
	if err != nil {
		return domain.Activity{}, fmt.Errorf("lead activity %q: %w", p.GetName(), err)
	}
	a := domain.Activity{
		ID: id, Type: domain.ActivityType(protoenum.Name(p.GetType().String(), "ACTIVITY_TYPE_")), Regarding: lead,
		Subject: p.GetSubject(), Body: p.GetBody(), Direction: domain.Direction(protoenum.Name(p.GetDirection().String(), "DIRECTION_")),
		Owner: p.GetAuthor(), OccurAt: TimeOf(p.GetOccurTime()), CreatedAt: TimeOf(p.GetCreateTime()), CreatedBy: p.GetAuthor(),
	}
	if d := p.GetDuration(); d != nil {
		a.Duration = d.AsDuration()
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = a.OccurAt
	}
	return a, nil
}

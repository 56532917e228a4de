package app

import (
	"context"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

// Event is an event of another service as the workflow service applies
// it: the records it carries (as they are after it), decoded by the
// events port.
type Event struct {
	ID string
	// Type is the event message's full name.
	Type string
	// Actor who caused it.
	Actor string
	// Seq is its stream position.
	Seq uint64
	// At is when it happened.
	At      time.Time
	Message proto.Message
	// Records the event carries, each with its API message.
	Records []EventRecord
	// Merged names records merged into Records[0] (LeadsMerged): their
	// activities move to it.
	Merged []string
	// Activities an event carries (LeadActivityLogged: the lead service's
	// activities, moved here), with their ids.
	Activities []domain.Activity
}

// EventRecord is one record an event carries.
type EventRecord struct {
	Record  *domain.Record
	Message proto.Message
	// Trigger is the event type rules see for this record, and Event the
	// event message (LeadsImported counts as a LeadCreated for each lead);
	// empty: the event's own.
	Trigger string
	Event   proto.Message
	// Assign says assignment rules may assign the record: a new lead whose
	// owner was defaulted, a new opportunity or order.
	Assign bool
}

// ApplyEvent applies an event to the projection, in the caller's (the
// inbox's) transaction: the records it carries (an older event than the
// one a record was last set from changes nothing), their users, a lead's
// conversion onto its account's timeline, merged records' activities
// moved to the survivor, the lead service's activities carried over; then
// the rules it triggers run.
func (s *Service) ApplyEvent(ctx context.Context, ev Event) error {
	return s.applyEvent(ctx, ev, true)
}

// ProjectEvent applies an event to the projection only, running no rule
// (a replay: the rules ran when the event first came).
func (s *Service) ProjectEvent(ctx context.Context, ev Event) error {
	return s.applyEvent(ctx, ev, false)
}

func (s *Service) applyEvent(ctx context.Context, ev Event, runRules bool) error {
	actor := ev.Actor
	if actor == "" {
		actor = auth.Anonymous
	}
	ctx = auth.WithPrincipal(ctx, auth.Principal{Subject: actor})
	now := s.now()
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		users := []string{}
		if ev.Actor != "" {
			users = append(users, ev.Actor)
		}
		recs := make([]*domain.Record, len(ev.Records))
		for i, er := range ev.Records {
			er.Record.Seq = ev.Seq
			recs[i] = er.Record
		}
		saved, prevs, err := s.repo.SaveRecords(ctx, recs)
		if err != nil {
			return err
		}
		var current, late []EventRecord
		var reowned []string
		for i, er := range ev.Records {
			r, prev := er.Record, prevs[i]
			if r.Owner != "" {
				users = append(users, r.Owner)
			}
			if !saved[i] {
				// A later event set it already: this one was redelivered
				// after it (a failed first delivery, a consumer that died
				// before acknowledging). Its rules still run, unless the
				// record is gone.
				if prev != nil && !prev.Deleted {
					late = append(late, er)
				}
				continue
			}
			current = append(current, er)
			if prev != nil && prev.Owner != r.Owner {
				reowned = append(reowned, r.Name)
			}
			if r.Type == domain.RecordLead && r.Account != "" && (prev == nil || prev.Account != r.Account) {
				if err := s.repo.SetTimelineAccount(ctx, r.Name, r.Account); err != nil {
					return err
				}
			}
		}
		if err := s.repo.AddUsers(ctx, users...); err != nil {
			return err
		}
		if len(reowned) > 0 && s.directory != nil {
			if err := s.directory.Store.SettleAssignments(ctx, reowned); err != nil {
				return err
			}
		}
		if len(ev.Merged) > 0 && len(ev.Records) > 0 {
			if err := s.moveActivities(ctx, ev.Merged, ev.Records[0].Record, actor); err != nil {
				return err
			}
			// A merged account's or contact's timeline (the activities of
			// its contacts, opportunities, orders and converted leads) is
			// the survivor's from now on.
			if err := s.repo.MoveTimelines(ctx, ev.Records[0].Record.Type, ev.Merged, ev.Records[0].Record.Name); err != nil {
				return err
			}
		}
		for _, a := range ev.Activities {
			if err := s.importActivity(ctx, a, ev.ID); err != nil {
				return err
			}
		}
		if !runRules {
			return nil
		}
		// SLA clocks follow the records as they are now: an event
		// redelivered after a newer one changes none.
		if err := s.applySla(ctx, ev, current); err != nil {
			return err
		}
		// A creation event redelivered after a newer one still assigns
		// its record (the hand-over leaves a record someone reassigned
		// meanwhile alone).
		owners, err := s.assignNew(ctx, ev, append(slices.Clip(current), late...), now)
		if err != nil {
			return err
		}
		for _, ers := range [][]EventRecord{current, late} {
			for i, er := range ers {
				if o, ok := owners[er.Record.Name]; ok {
					// Rules' tasks go to the owner it is being handed to.
					r := *er.Record
					r.Owner = o
					ers[i].Record = &r
				}
			}
		}
		return s.runEventRules(ctx, ev, current, late, now)
	})
}

// moveActivities re-points the activities of merged records at the
// survivor.
func (s *Service) moveActivities(ctx context.Context, merged []string, survivor *domain.Record, actor string) error {
	for _, name := range merged {
		as, err := s.repo.LockActivitiesRegarding(ctx, name)
		if err != nil {
			return err
		}
		for _, a := range as {
			before := *a
			ch := a.MoveTo(survivor, actor, s.now())
			if err := s.repo.SaveActivity(ctx, &before, a, ch, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// importActivity carries over an activity the lead service logged (with
// its id, so carrying it again changes nothing).
func (s *Service) importActivity(ctx context.Context, in domain.Activity, eventID string) error {
	r, err := s.repo.GetRecord(ctx, in.Regarding)
	if err != nil {
		return err
	}
	in.RegardingType, in.RegardingName, in.Account = r.Type, r.DisplayName, r.Account
	a, ch, err := domain.NewActivity(in, in.ID, in.CreatedBy, in.CreatedAt)
	if err != nil {
		return err
	}
	created, err := s.repo.InsertActivity(ctx, a, ch, eventID)
	if err != nil || !created {
		return err
	}
	return s.slaResponded(ctx, a)
}

package wire_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apognu/gocal"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// calendar fetches a feed as a calendar app would (no bearer token) and
// parses it with a real iCalendar parser, strictly.
func (s *suite) calendar(t *testing.T, token string) map[string]gocal.Event {
	t.Helper()
	body, err := s.wf.GetCalendar(context.Background(), &workflowv1.GetCalendarRequest{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(body.ContentType, "text/calendar") {
		t.Fatalf("content type %q", body.ContentType)
	}
	p := gocal.NewParser(bytes.NewReader(body.Data))
	p.SkipBounds = true
	if err := p.Parse(); err != nil {
		t.Fatalf("the feed does not parse: %v\n%s", err, body.Data)
	}
	out := map[string]gocal.Event{}
	for _, e := range p.Events {
		if !e.Valid || e.Start == nil || e.End == nil {
			t.Fatalf("invalid event %+v", e)
		}
		out[e.Uid] = e
	}
	return out
}

// A salesperson's private feed holds its meetings, tasks and leads'
// next-contact times; a rescheduled item keeps its UID with a higher
// SEQUENCE; a revoked (or wrong) token is NOT_FOUND.
func TestCalendarFeed(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	next := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	l := s.lead(t, "sam", &leadv1.Lead{FirstName: "Ada", LastName: "Lovelace", NextContactTime: timestamppb.New(next)})
	s.lead(t, "sue", &leadv1.Lead{LastName: "Sue's", NextContactTime: timestamppb.New(next)})
	s.known(t, l.Name)
	due := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	meeting, err := s.wf.CreateActivity(sam, &workflowv1.CreateActivityRequest{Parent: l.Name, Activity: &workflowv1.Activity{
		Type: workflowv1.ActivityType_ACTIVITY_TYPE_MEETING, Subject: "Demo", DueTime: timestamppb.New(due)}})
	if err != nil {
		t.Fatal(err)
	}
	feed, err := s.wf.CreateCalendarFeed(sam, &workflowv1.CreateCalendarFeedRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if feed.Path != "/v1/calendars/"+feed.Token || feed.Feed.Owner != "sam" || !strings.HasPrefix(feed.Token, feed.Feed.TokenPrefix) {
		t.Fatalf("feed %v", feed)
	}
	if n := s.query(t, `SELECT count(*)::text FROM calendar_feeds WHERE position(convert_to($1, 'UTF8') in token_hash) > 0`, feed.Token[32:]); n != "0" {
		t.Fatal("the token is stored as it is")
	}

	cal := s.calendar(t, feed.Token)
	meetingUID := "activity-" + strings.TrimPrefix(meeting.Name, "activities/") + "@crm.example.com"
	leadUID := "lead-next-contact-" + strings.TrimPrefix(l.Name, "leads/") + "@crm.example.com"
	m, ok := cal[meetingUID]
	if !ok || !m.Start.Equal(due) || m.Sequence != 1 || !strings.Contains(m.Summary, "Demo") {
		t.Fatalf("meeting in the feed: %+v (all: %v)", m, keys(cal))
	}
	c, ok := cal[leadUID]
	if !ok || !c.Start.Equal(next) || !strings.Contains(c.Summary, "Ada Lovelace") {
		t.Fatalf("next contact in the feed: %+v (all: %v)", c, keys(cal))
	}
	callbacks := 0
	for uid := range cal {
		if uid != meetingUID && uid != leadUID {
			callbacks++ // rules' tasks are tasks too (none for an unrated lead)
		}
	}
	if callbacks != 0 {
		t.Fatalf("unexpected items: %v", keys(cal))
	}

	// Rescheduled: same UID, higher SEQUENCE; the lead's next contact too.
	if _, err := s.wf.RescheduleActivity(sam, &workflowv1.RescheduleActivityRequest{Name: meeting.Name, DueTime: timestamppb.New(due.Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.leads.UpdateLead(sam, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: l.Name, NextContactTime: timestamppb.New(next.Add(time.Hour))},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"next_contact_time"}}}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		c2, ok := s.calendar(t, feed.Token)[leadUID]
		return ok && c2.Start.Equal(next.Add(time.Hour))
	}, "the lead's new next-contact time in the feed")
	cal2 := s.calendar(t, feed.Token)
	if m2 := cal2[meetingUID]; !m2.Start.Equal(due.Add(time.Hour)) || m2.Sequence <= m.Sequence {
		t.Fatalf("rescheduled meeting %+v, was sequence %d", m2, m.Sequence)
	}
	if c2 := cal2[leadUID]; c2.Sequence <= c.Sequence {
		t.Fatalf("moved next contact: sequence %d, was %d", c2.Sequence, c.Sequence)
	}
	if len(cal2) != 2 {
		t.Fatalf("items %v: rescheduling added some", keys(cal2))
	}

	// Wrong secrets and revoked feeds are NOT_FOUND, alike.
	for _, bad := range []string{feed.Token[:len(feed.Token)-1] + "x", feed.Token[:32], "nonsense", feed.Feed.TokenPrefix} {
		_, err := s.wf.GetCalendar(context.Background(), &workflowv1.GetCalendarRequest{Token: bad})
		testkit.RequireCode(t, err, codes.NotFound)
	}
	_, err = s.wf.RevokeCalendarFeed(sue, &workflowv1.RevokeCalendarFeedRequest{Name: feed.Feed.Name})
	testkit.RequireCode(t, err, codes.NotFound)
	revoked, err := s.wf.RevokeCalendarFeed(sam, &workflowv1.RevokeCalendarFeedRequest{Name: feed.Feed.Name})
	if err != nil || revoked.RevokeTime == nil {
		t.Fatalf("revoke: %v, %v", revoked, err)
	}
	_, err = s.wf.GetCalendar(context.Background(), &workflowv1.GetCalendarRequest{Token: feed.Token})
	testkit.RequireCode(t, err, codes.NotFound)
	list, err := s.wf.ListCalendarFeeds(sam, &workflowv1.ListCalendarFeedsRequest{})
	if err != nil || len(list.Feeds) != 1 || list.Feeds[0].RevokeTime == nil {
		t.Fatalf("sam's feeds: %v, %v", list, err)
	}
}

func keys(m map[string]gocal.Event) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

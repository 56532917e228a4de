package wire_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/testkit"
)

// A conversion the account service never applies is stuck: managers list
// it and send it again, as a resend of the same LeadQualified (the same
// event id for consumers, a new message id for JetStream, so it goes out
// although the stream's duplicate window has not passed). A complete
// conversion is not sent again.
func TestStuckConversionsAreListedAndRetried(t *testing.T) {
	t.Parallel()
	s := startNoAccounts(t)
	ctx := testkit.As("alice")
	mia := testkit.As("mia", "manager")
	l := s.create(t, &leadv1.Lead{LastName: "Stuck", Company: "Stuck Ltd"})
	q, err := s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{Name: l.Name, AccountTarget: newAccount()})
	if err != nil {
		t.Fatal(err)
	}
	fresh := s.create(t, &leadv1.Lead{LastName: "Fresh", Company: "Fresh Ltd"})
	time.Sleep(50 * time.Millisecond)
	if _, err := s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{Name: fresh.Name, AccountTarget: newAccount()}); err != nil {
		t.Fatal(err)
	}
	all, err := s.client.ListStuckConversions(mia, &leadv1.ListStuckConversionsRequest{OlderThan: durationpb.New(time.Millisecond)})
	if err != nil || len(all.GetLeads()) != 2 || all.GetLeads()[0].GetName() != l.Name {
		t.Fatalf("stuck conversions %v %v", all, err)
	}
	page, err := s.client.ListStuckConversions(mia, &leadv1.ListStuckConversionsRequest{OlderThan: durationpb.New(time.Millisecond), PageSize: 1})
	if err != nil || len(page.GetLeads()) != 1 || page.GetNextPageToken() == "" {
		t.Fatalf("first page %v %v", page, err)
	}
	if none, err := s.client.ListStuckConversions(mia, &leadv1.ListStuckConversionsRequest{}); err != nil || len(none.GetLeads()) != 0 {
		t.Fatalf("nothing is stuck for 5 minutes yet: %v %v", none, err)
	}
	_, err = s.client.ListStuckConversions(testkit.As("sam", "sales"), &leadv1.ListStuckConversionsRequest{})
	testkit.RequireCode(t, err, codes.PermissionDenied)
	_, err = s.client.RetryConversion(testkit.As("sam", "sales"), &leadv1.RetryConversionRequest{Name: l.Name})
	testkit.RequireCode(t, err, codes.PermissionDenied)

	retried, err := s.client.RetryConversion(mia, &leadv1.RetryConversionRequest{Name: l.Name, RequestId: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	if c := retried.GetConversion(); c.GetRetryCount() != 1 || c.GetLastRetryTime() == nil || c.GetState() != leadv1.ConversionState_CONVERSION_STATE_PENDING {
		t.Fatalf("retried conversion %v", c)
	}
	// The stream holds the LeadQualified twice: the same event, two
	// message ids.
	msgs := s.leadQualifiedMessages(t, l.Name, 2)
	first, second := msgs[0], msgs[1]
	if first.Header.Get(events.HeaderMsgID) == second.Header.Get(events.HeaderMsgID) ||
		second.Header.Get(events.HeaderEventID) != first.Header.Get(events.HeaderMsgID) {
		t.Fatalf("resend headers: %v then %v", first.Header, second.Header)
	}
	var a, b eventsv1.LeadQualified
	if proto.Unmarshal(first.Data, &a) != nil || proto.Unmarshal(second.Data, &b) != nil ||
		a.GetMeta().GetEventId() != b.GetMeta().GetEventId() || a.GetAccount().GetAccountId() != b.GetAccount().GetAccountId() ||
		a.GetContact().GetContactId() != b.GetContact().GetContactId() {
		t.Fatalf("the resend is not the same conversion: %v / %v", &a, &b)
	}

	// Completed, it is no longer sent again.
	s.accountStream(t).publish(t, &eventsv1.ContactCreated{
		Meta: &eventsv1.EventMeta{EventId: uuid.NewString(), OccurTime: timestamppb.Now()}, ContactId: id(q.GetConversion().GetContact()), SourceLeadId: id(l.Name),
	})
	testkit.Eventually(t, 20*time.Second, func() bool {
		return s.lead(t, l.Name).GetConversion().GetState() == leadv1.ConversionState_CONVERSION_STATE_COMPLETE
	}, "conversion complete")
	_, err = s.client.RetryConversion(mia, &leadv1.RetryConversionRequest{Name: l.Name})
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != "CONVERSION_NOT_PENDING" {
		t.Fatalf("retry of a complete conversion: %s %v", reason, err)
	}
}

// leadQualifiedMessages waits for want LeadQualified messages about lead
// on the lead stream and returns them in stream order.
func (s *suite) leadQualifiedMessages(t *testing.T, lead string, want int) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	var out []*jetstream.RawStreamMsg
	testkit.Eventually(t, 20*time.Second, func() bool {
		st, err := s.js.Stream(ctx, events.StreamName(s.nats.Namespace, "lead"))
		if err != nil {
			return false
		}
		info, err := st.Info(ctx)
		if err != nil {
			return false
		}
		out = out[:0]
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if err != nil || m.Header.Get(events.HeaderType) != "crm.events.v1.LeadQualified" {
				continue
			}
			var ev eventsv1.LeadQualified
			if proto.Unmarshal(m.Data, &ev) == nil && ev.GetLeadId() == id(lead) {
				out = append(out, m)
			}
		}
		return len(out) >= want
	}, "%d LeadQualified of %s", want, lead)
	return out
}

package wire_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/workflow/internal/adapters/postgres"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	eventport "github.com/crmsuite/crm/services/workflow/internal/ports/events"
	"github.com/crmsuite/crm/services/workflow/internal/rules"
	"github.com/crmsuite/crm/services/workflow/internal/wire"
	"github.com/crmsuite/crm/services/workflow/migrations"
)

// An event can reach the workflow service after a newer event of the same
// record: JetStream redelivers an event whose first delivery failed (the
// database was down) or whose consumer died before acknowledging it after
// the events behind it. The projection keeps the newer record, but the
// late event's rules still run, as they would have in order: a HOT lead
// whose LeadCreated comes after its qualification still gets its
// call-back (found missing by TestLifecycleChaos). A late rating change
// leaves the call-back as the newer change set it, and nothing is made
// for a record deleted since.
func TestRulesRunForAnEventDeliveredAfterANewerOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testkit.Pool(t, wire.Schema, pg.MigrationSet{Name: wire.Schema, FS: migrations.FS})
	repo := postgres.New(pool, outbox.Writer{Service: "workflow"}, paging.NewCodec([]byte("test")))
	svc := app.New(repo, nil).WithRules(app.RuleConfig{Store: repo, Engine: rules.NewEngine(), Self: wire.Self})
	consumer := &eventport.Handlers{App: svc}
	deliver := func(seq uint64, ev proto.Message) {
		t.Helper()
		data, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		m := inbox.Message{EventID: uuid.NewString(), Type: string(ev.ProtoReflect().Descriptor().FullName()), Data: data, StreamSequence: seq}
		if err := pg.InTx(ctx, pool, func(ctx context.Context) error { return consumer.Apply(ctx, m) }); err != nil {
			t.Fatal(err)
		}
	}
	query := func(q string, args ...any) (n int, due time.Time) {
		t.Helper()
		if err := pool.QueryRow(ctx, q, args...).Scan(&n, &due); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n, due
	}
	callbacks := func(lead string) (int, time.Time) {
		t.Helper()
		return query(`SELECT count(*)::int, coalesce(max(due_at), 'epoch') FROM activities WHERE regarding = $1 AND key = 'callback' AND status = 'OPEN'`, lead)
	}
	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	meta := func(at time.Time) *eventsv1.EventMeta {
		return &eventsv1.EventMeta{EventId: uuid.NewString(), Actor: "sam", OccurTime: timestamppb.New(at)}
	}
	lead := func(id string, status leadv1.Status, rating leadv1.Rating) *leadv1.Lead {
		return &leadv1.Lead{Name: "leads/" + id, LastName: "Late", Company: "Late Ltd", Owner: "sam", Status: status, Rating: rating}
	}

	// Qualified (seq 2) before its creation as a HOT lead (seq 1) arrives.
	id := uuid.NewString()
	deliver(2, &eventsv1.LeadQualified{Meta: meta(t0.Add(time.Minute)), LeadId: id, Lead: lead(id, leadv1.Status_STATUS_QUALIFIED, leadv1.Rating_RATING_HOT)})
	deliver(1, &eventsv1.LeadCreated{Meta: meta(t0), LeadId: id, Lead: lead(id, leadv1.Status_STATUS_NEW, leadv1.Rating_RATING_HOT)})
	if n, due := callbacks("leads/" + id); n != 1 || !due.Equal(t0.AddDate(0, 0, 1)) {
		t.Fatalf("late LeadCreated of a HOT lead: %d call-backs due %v, want 1 due %v", n, due, t0.AddDate(0, 0, 1))
	}
	var status string
	var seq int64
	if err := pool.QueryRow(ctx, `SELECT status, seq FROM records WHERE name = $1`, "leads/"+id).Scan(&status, &seq); err != nil || seq != 2 {
		t.Fatalf("projection after the late event: status %q seq %d (%v), want the newer event's", status, seq, err)
	}

	// Rated COLD (seq 3) before the earlier WARM rating (seq 2) arrives:
	// the call-back stays as COLD set it.
	id = uuid.NewString()
	deliver(1, &eventsv1.LeadCreated{Meta: meta(t0), LeadId: id, Lead: lead(id, leadv1.Status_STATUS_NEW, leadv1.Rating_RATING_HOT)})
	cold := t0.Add(2 * time.Minute)
	deliver(3, &eventsv1.LeadRatingChanged{Meta: meta(cold), LeadId: id, Lead: lead(id, leadv1.Status_STATUS_NEW, leadv1.Rating_RATING_COLD),
		PreviousRating: leadv1.Rating_RATING_WARM, Rating: leadv1.Rating_RATING_COLD})
	deliver(2, &eventsv1.LeadRatingChanged{Meta: meta(t0.Add(time.Minute)), LeadId: id, Lead: lead(id, leadv1.Status_STATUS_NEW, leadv1.Rating_RATING_WARM),
		PreviousRating: leadv1.Rating_RATING_HOT, Rating: leadv1.Rating_RATING_WARM})
	if n, due := callbacks("leads/" + id); n != 1 || !due.Equal(cold.AddDate(0, 0, 5)) {
		t.Fatalf("late rating change: %d call-backs due %v, want 1 due %v (as COLD set it)", n, due, cold.AddDate(0, 0, 5))
	}

	// Deleted (seq 2) before its creation (seq 1) arrives: no call-back.
	id = uuid.NewString()
	deliver(2, &eventsv1.LeadDeleted{Meta: meta(t0.Add(time.Minute)), LeadId: id, Lead: lead(id, leadv1.Status_STATUS_NEW, leadv1.Rating_RATING_HOT)})
	deliver(1, &eventsv1.LeadCreated{Meta: meta(t0), LeadId: id, Lead: lead(id, leadv1.Status_STATUS_NEW, leadv1.Rating_RATING_HOT)})
	if n, _ := callbacks("leads/" + id); n != 0 {
		t.Fatalf("late LeadCreated of a deleted lead: %d call-backs", n)
	}
}

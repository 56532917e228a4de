package wire_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/natsx"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/testkit"
)

// downstream is a consumer of lead events in its own schema, as another
// service would be: it records every lead event it applies, in order.
type downstream struct {
	pool *pgxpool.Pool
	mu   sync.Mutex
	seen map[string][]string // lead id -> event types applied, in order
}

func startDownstream(t *testing.T, s *suite) *downstream {
	t.Helper()
	ctx := context.Background()
	url := testkit.ServiceURL(s.dbURL, "downstream")
	if err := pg.Bootstrap(ctx, s.dbURL, url, "downstream"); err != nil {
		t.Fatal(err)
	}
	pool, err := pg.Connect(ctx, pg.PoolConfig{URL: url, Schema: "downstream"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pg.Migrate(ctx, pool, "downstream", pg.PlatformMigrations()); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	nc, js, err := natsx.Connect(s.nats.URL, "downstream", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	d := &downstream{pool: pool, seen: map[string][]string{}}
	c := &inbox.Consumer{
		Name: "downstream", Stream: events.StreamName(s.nats.Namespace, "lead"),
		Subjects: []string{s.nats.Namespace + "crm.lead.>"}, Namespace: s.nats.Namespace,
		Pool: pool, JS: js, Logger: log, Backoff: []time.Duration{50 * time.Millisecond},
		Handler: func(ctx context.Context, m inbox.Message) error {
			ev := testkit.DecodeEvent(t, m.Type, m.Data)
			id := ev.ProtoReflect().Get(ev.ProtoReflect().Descriptor().Fields().ByName("lead_id")).String()
			d.mu.Lock()
			d.seen[id] = append(d.seen[id], string(ev.ProtoReflect().Descriptor().Name()))
			d.mu.Unlock()
			return nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

func (d *downstream) applied() map[string][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string][]string, len(d.seen))
	for k, v := range d.seen {
		out[k] = slices.Clone(v)
	}
	return out
}

func TestNATSDownWhileLeadsChangeLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	s := start(t, options{privateNATS: true})
	ctx := testkit.As("alice")

	s.nats.Stop(t)
	// Requests keep succeeding while NATS is away; each lead gets a
	// create, an update and an assignment, concurrently across leads.
	const leads = 20
	names := make([]string, leads)
	var wg sync.WaitGroup
	for i := range leads {
		wg.Go(func() {
			l, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{Company: fmt.Sprintf("Outage %d", i)}})
			if err != nil {
				t.Errorf("create during outage: %v", err)
				return
			}
			names[i] = l.Name
			if _, err := s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: l.Name, Rating: leadv1.Rating_RATING_HOT},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rating"}}}); err != nil {
				t.Errorf("update during outage: %v", err)
			}
			if _, err := s.client.AssignLead(ctx, &leadv1.AssignLeadRequest{Name: l.Name, Owner: "bob"}); err != nil {
				t.Errorf("assign during outage: %v", err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	time.Sleep(300 * time.Millisecond) // let the relay fail a few times

	s.nats.Restart(t)
	d := startDownstream(t, s)
	want := []string{"LeadCreated", "LeadUpdated", "LeadRatingChanged", "LeadAssigned"}
	testkit.Eventually(t, 30*time.Second, func() bool {
		got := d.applied()
		if len(got) < leads {
			return false
		}
		for _, evs := range got {
			if len(evs) < len(want) {
				return false
			}
		}
		return true
	}, "downstream applied every event")
	time.Sleep(200 * time.Millisecond) // anything extra would show up now
	got := d.applied()
	for _, name := range names {
		id := name[len("leads/"):]
		if !slices.Equal(got[id], want) {
			t.Fatalf("lead %s: downstream applied %v, want %v in that order, once each", id, got[id], want)
		}
	}
	// The stream itself holds each event once, in per-lead order.
	evs := s.published(t, leads*len(want))
	if len(evs) != leads*len(want) {
		t.Fatalf("stream holds %d events, want %d", len(evs), leads*len(want))
	}
	perLead := map[string][]string{}
	for _, ev := range evs {
		id := ev.ProtoReflect().Get(ev.ProtoReflect().Descriptor().Fields().ByName("lead_id")).String()
		perLead[id] = append(perLead[id], string(ev.ProtoReflect().Descriptor().Name()))
	}
	for id, types := range perLead {
		if !slices.Equal(types, want) {
			t.Fatalf("stream order for %s = %v", id, types)
		}
	}
}

package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/natsx"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

var testLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

type env struct {
	pool *pgxpool.Pool
	nats *testkit.NATS
	js   jetstream.JetStream
	ns   string
}

func setup(t *testing.T, private bool) *env {
	t.Helper()
	pool := testkit.Pool(t, "svc")
	n := testkit.NewNATS(t)
	if private {
		n = testkit.PrivateNATS(t)
	}
	nc, js, err := natsx.Connect(n.URL, t.Name(), testLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &env{pool: pool, nats: n, js: js, ns: n.Namespace}
}

func (e *env) relay() *Relay {
	return &Relay{
		Pool: e.pool, JS: e.js, Logger: testLog,
		Stream:       jetstream.StreamConfig{Name: events.StreamName(e.ns, "svc"), Subjects: events.StreamSubjects(e.ns, "svc")},
		BatchSize:    50,
		PollInterval: 10 * time.Millisecond,
		MaxBackoff:   200 * time.Millisecond,
	}
}

// appendEvent commits one event for aggregate agg with sequence seq, the way
// a repository does: lock the aggregate, then append.
func (e *env) appendEvent(t *testing.T, agg string, seq int) {
	t.Helper()
	ctx := context.Background()
	err := pg.InTx(ctx, e.pool, func(ctx context.Context) error {
		q := pg.Q(ctx, e.pool)
		if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, agg); err != nil {
			return err
		}
		return Append(ctx, q, Message{
			EventID: uuid.New(), Subject: e.ns + "crm.svc.thing_changed", Type: "test.ThingChanged",
			AggregateID: agg, Payload: []byte(agg + ":" + strconv.Itoa(seq)),
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// streamContents reads the whole stream: per aggregate, the payload
// sequence numbers in stream order, plus the total count.
func (e *env) streamContents(t *testing.T) (map[string][]int, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := e.js.Stream(ctx, events.StreamName(e.ns, "svc"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]int{}
	total := 0
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		i := strings.LastIndexByte(string(m.Data), ':')
		agg := string(m.Data[:i])
		n, _ := strconv.Atoi(string(m.Data[i+1:]))
		got[agg] = append(got[agg], n)
		total++
	}
	return got, total
}

func (e *env) outboxLen(t *testing.T) int {
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func assertInOrder(t *testing.T, got map[string][]int, aggs, perAgg int) {
	t.Helper()
	if len(got) != aggs {
		t.Fatalf("stream has %d aggregates, want %d", len(got), aggs)
	}
	for agg, seqs := range got {
		if len(seqs) != perAgg {
			t.Fatalf("%s: %d events %v, want %d", agg, len(seqs), seqs, perAgg)
		}
		for i, s := range seqs {
			if s != i {
				t.Fatalf("%s: events out of order: %v", agg, seqs)
			}
		}
	}
}

func TestSeveralRelaysPublishEachAggregateInOrderOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	const aggs, perAgg = 20, 15

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var relays sync.WaitGroup
	for range 3 {
		r := e.relay()
		relays.Go(func() { _ = r.Run(ctx) })
	}
	// Writers run concurrently with the relays, each aggregate's events in
	// order, aggregates interleaved.
	var writers sync.WaitGroup
	for a := range aggs {
		writers.Go(func() {
			for s := range perAgg {
				e.appendEvent(t, fmt.Sprintf("agg-%02d", a), s)
			}
		})
	}
	writers.Wait()
	testkit.Eventually(t, 20*time.Second, func() bool { return e.outboxLen(t) == 0 }, "outbox drained")
	cancel()
	relays.Wait()

	got, total := e.streamContents(t)
	if total != aggs*perAgg {
		t.Fatalf("stream holds %d messages, want %d", total, aggs*perAgg)
	}
	assertInOrder(t, got, aggs, perAgg)
}

func TestRelayWaitsOutNATSOutageWithoutLosingOrReordering(t *testing.T) {
	t.Parallel()
	e := setup(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := e.relay()
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()

	for s := range 5 {
		e.appendEvent(t, "a", s)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return e.outboxLen(t) == 0 }, "first events published")

	e.nats.Stop(t)
	for s := 5; s < 40; s++ {
		e.appendEvent(t, "a", s)
		e.appendEvent(t, "b", s-5)
	}
	time.Sleep(300 * time.Millisecond) // the relay fails and backs off
	if n := e.outboxLen(t); n != 70 {
		t.Fatalf("outbox holds %d rows during the outage, want 70", n)
	}
	e.nats.Restart(t)
	testkit.Eventually(t, 30*time.Second, func() bool { return e.outboxLen(t) == 0 }, "outbox drained after NATS came back")
	cancel()
	<-done

	got, total := e.streamContents(t)
	if total != 75 {
		t.Fatalf("stream holds %d messages, want 75", total)
	}
	if len(got["a"]) != 40 || len(got["b"]) != 35 {
		t.Fatalf("per aggregate: a=%d b=%d", len(got["a"]), len(got["b"]))
	}
	for agg, seqs := range got {
		for i, s := range seqs {
			if s != i {
				t.Fatalf("%s out of order: %v", agg, seqs)
			}
		}
	}
}

func TestRelayCrashBetweenPublishAndDeleteRepublishesWithSameMsgID(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	ctx := context.Background()
	for s := range 10 {
		e.appendEvent(t, "a", s)
	}
	crashing := e.relay()
	crashing.afterPublish = func() error { return errors.New("killed") }
	if _, err := crashing.RelayOnce(ctx, 100); err == nil {
		t.Fatal("crashing relay reported success")
	}
	if n := e.outboxLen(t); n != 10 {
		t.Fatalf("outbox holds %d rows after the crash, want 10", n)
	}
	n, err := e.relay().RelayOnce(ctx, 100)
	if err != nil || n != 10 {
		t.Fatalf("second relay published %d, %v", n, err)
	}
	got, total := e.streamContents(t)
	if total != 10 {
		t.Fatalf("stream holds %d messages, want 10 (JetStream dedupe by Nats-Msg-Id)", total)
	}
	assertInOrder(t, got, 1, 10)
}

func TestWriterBuildsSubjectTypeAndIDFromEvent(t *testing.T) {
	t.Parallel()
	ev := &eventsv1.LeadCreated{
		Meta:   &eventsv1.EventMeta{EventId: uuid.NewString(), OccurTime: timestamppb.Now(), Actor: "u1"},
		LeadId: "l1",
		Lead:   &leadv1.Lead{Name: "leads/l1"},
	}
	m, err := Writer{Service: "lead", Namespace: "x."}.Message(context.Background(), "l1", ev)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "x.crm.lead.lead_created" || m.Type != "crm.events.v1.LeadCreated" || m.EventID.String() != ev.Meta.EventId {
		t.Fatalf("message = %+v", m)
	}
	if _, err := (Writer{Service: "lead"}).Message(context.Background(), "l1", &eventsv1.LeadCreated{}); err == nil {
		t.Fatal("event without meta accepted")
	}
}

// A relay killed after JetStream stored its batch but before deleting the
// rows publishes them again. Within JetStream's duplicate window the stream
// drops the copies (test above); past it the copies reach consumers, whose
// inbox applies each event once.
func TestRelayCrashPastDuplicateWindowConsumerAppliesOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	ctx := context.Background()
	if _, err := e.pool.Exec(ctx, `CREATE TABLE applied (event_id uuid, payload text)`); err != nil {
		t.Fatal(err)
	}
	for s := range 5 {
		e.appendEvent(t, "a", s)
	}
	crashing := e.relay()
	crashing.Stream.Duplicates = 100 * time.Millisecond
	crashing.afterPublish = func() error { return errors.New("killed") }
	if _, err := crashing.RelayOnce(ctx, 100); err == nil {
		t.Fatal("crashing relay reported success")
	}
	time.Sleep(250 * time.Millisecond) // past the duplicate window
	if n, err := e.relay().RelayOnce(ctx, 100); err != nil || n != 5 {
		t.Fatalf("second relay published %d, %v", n, err)
	}
	if _, total := e.streamContents(t); total != 10 {
		t.Fatalf("stream holds %d messages, want 10 (5 duplicates past the window)", total)
	}

	c := &inbox.Consumer{
		Name: "applier", Stream: events.StreamName(e.ns, "svc"), Subjects: events.StreamSubjects(e.ns, "svc"),
		Namespace: e.ns, Pool: e.pool, JS: e.js, Logger: testLog,
		Handler: func(ctx context.Context, m inbox.Message) error {
			_, err := pg.Q(ctx, e.pool).Exec(ctx, `INSERT INTO applied VALUES ($1, $2)`, m.EventID, string(m.Data))
			return err
		},
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = c.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()
	count := func() (n int) {
		_ = e.pool.QueryRow(ctx, `SELECT count(*) FROM inbox WHERE consumer = 'applier'`).Scan(&n)
		return n
	}
	// All ten deliveries are processed (acked) when the consumer's inbox
	// has seen five ids and the consumer has nothing pending.
	testkit.Eventually(t, 10*time.Second, func() bool {
		info, err := c.JS.Consumer(ctx, events.StreamName(e.ns, "svc"), "applier")
		if err != nil {
			return false
		}
		ci, err := info.Info(ctx)
		return err == nil && count() == 5 && ci.NumPending == 0 && ci.NumAckPending == 0
	}, "consumer drained")
	var applied []string
	rows, _ := e.pool.Query(ctx, `SELECT payload FROM applied ORDER BY payload`)
	for rows.Next() {
		var p string
		_ = rows.Scan(&p)
		applied = append(applied, p)
	}
	if strings.Join(applied, ",") != "a:0,a:1,a:2,a:3,a:4" {
		t.Fatalf("applied = %v, want each event once", applied)
	}
}

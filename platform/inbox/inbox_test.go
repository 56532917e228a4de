package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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
	js   jetstream.JetStream
	ns   string
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	pool := testkit.Pool(t, "svc", pg.MigrationSet{Name: "svc", FS: fstest.MapFS{
		"001_effects.sql": {Data: []byte("CREATE TABLE effects (event_id uuid, body text);")},
	}})
	n := testkit.NewNATS(t)
	nc, js, err := natsx.Connect(n.URL, t.Name(), testLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: events.StreamName(n.Namespace, "src"), Subjects: events.StreamSubjects(n.Namespace, "src"),
		// A tiny duplicate window, so a republished event reaches the
		// consumer twice, as it does after JetStream's window has passed.
		Duplicates: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{pool: pool, js: js, ns: n.Namespace}
}

func (e *env) publish(t *testing.T, id, body string) {
	t.Helper()
	m := nats.NewMsg(e.ns + "crm.src.thing_happened")
	m.Data = []byte(body)
	if id != "" {
		m.Header.Set(events.HeaderMsgID, id)
	}
	m.Header.Set(events.HeaderType, "test.ThingHappened")
	if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func (e *env) consumer(h inbox.Handler) *inbox.Consumer {
	return &inbox.Consumer{
		Name: "effects", Stream: events.StreamName(e.ns, "src"), Subjects: []string{e.ns + "crm.src.>"},
		Namespace: e.ns, Pool: e.pool, JS: e.js, Logger: testLog, Handler: h,
		MaxDeliver: 3, Backoff: []time.Duration{20 * time.Millisecond}, AckWait: time.Second,
	}
}

// recordEffect is a handler whose effect is a row in the same transaction
// as the inbox record.
func (e *env) recordEffect(ctx context.Context, m inbox.Message) error {
	_, err := pg.Q(ctx, e.pool).Exec(ctx, `INSERT INTO effects VALUES ($1, $2)`, m.EventID, string(m.Data))
	return err
}

func (e *env) effects(t *testing.T) []string {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT body FROM effects ORDER BY body`)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var b string
		_ = rows.Scan(&b)
		out = append(out, b)
	}
	return out
}

func run(t *testing.T, c *inbox.Consumer) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestDuplicateDeliveriesApplyOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := uuid.NewString()
	e.publish(t, id, "one")
	time.Sleep(250 * time.Millisecond) // past the duplicate window
	e.publish(t, id, "one")
	e.publish(t, uuid.NewString(), "two")
	stream, err := e.js.Stream(context.Background(), events.StreamName(e.ns, "src"))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := stream.Info(context.Background()); err != nil || info.State.Msgs != 3 {
		t.Fatalf("stream should hold the duplicate: %+v, %v", info.State, err)
	}
	run(t, e.consumer(e.recordEffect))
	testkit.Eventually(t, 10*time.Second, func() bool { return len(e.effects(t)) >= 2 }, "effects applied")
	time.Sleep(200 * time.Millisecond)
	if got := e.effects(t); strings.Join(got, ",") != "one,two" {
		t.Fatalf("effects = %v, want [one two]", got)
	}
}

func TestTransientFailureIsRetriedAndRolledBack(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var calls atomic.Int32
	run(t, e.consumer(func(ctx context.Context, m inbox.Message) error {
		if err := e.recordEffect(ctx, m); err != nil {
			return err
		}
		if calls.Add(1) == 1 {
			return errors.New("database hiccup") // effect must roll back
		}
		return nil
	}))
	e.publish(t, uuid.NewString(), "x")
	testkit.Eventually(t, 10*time.Second, func() bool { return calls.Load() >= 2 }, "redelivered")
	time.Sleep(100 * time.Millisecond)
	if got := e.effects(t); len(got) != 1 {
		t.Fatalf("effects = %v, want exactly one", got)
	}
}

func TestPoisonMessagesGoToDeadLetterWithReason(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var reasons atomic.Value
	c := e.consumer(func(ctx context.Context, m inbox.Message) error {
		if string(m.Data) == "permanent" {
			return inbox.Permanent(errors.New("account 42 does not exist"))
		}
		return errors.New("always failing")
	})
	c.OnDeadLetter = func(ctx context.Context, m inbox.Message, reason string) error {
		reasons.Store(reason)
		return nil
	}
	run(t, c)
	e.publish(t, uuid.NewString(), "permanent")
	e.publish(t, uuid.NewString(), "transient")
	e.publish(t, "", "no-id")

	ctx := context.Background()
	dlq, err := e.js.Stream(ctx, events.StreamName(e.ns, "dlq"))
	testkit.Eventually(t, 10*time.Second, func() bool {
		if dlq == nil {
			dlq, err = e.js.Stream(ctx, events.StreamName(e.ns, "dlq"))
			if err != nil {
				return false
			}
		}
		info, err := dlq.Info(ctx)
		return err == nil && info.State.Msgs == 3
	}, "three dead letters")

	got := map[string]nats.Header{}
	for seq := uint64(1); seq <= 3; seq++ {
		m, err := dlq.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		got[string(m.Data)] = m.Header
		if m.Subject != c.DeadLetterSubject() {
			t.Fatalf("dead letter on %q, want %q", m.Subject, c.DeadLetterSubject())
		}
	}
	checks := map[string]string{
		"permanent": "account 42 does not exist",
		"transient": "always failing",
		"no-id":     "Nats-Msg-Id",
	}
	for body, want := range checks {
		h := got[body]
		if h == nil || !strings.Contains(h.Get(inbox.HeaderDLQReason), want) {
			t.Fatalf("dead letter %q: reason %q, want it to mention %q", body, h.Get(inbox.HeaderDLQReason), want)
		}
		if h.Get(inbox.HeaderDLQOriginalSubject) != e.ns+"crm.src.thing_happened" || h.Get(inbox.HeaderDLQConsumer) != "effects" {
			t.Fatalf("dead letter %q headers: %v", body, h)
		}
	}
	if got["transient"].Get(inbox.HeaderDLQDeliveries) != "3" {
		t.Fatalf("transient failure dead-lettered after %s deliveries, want 3", got["transient"].Get(inbox.HeaderDLQDeliveries))
	}
	if reasons.Load() == nil {
		t.Fatal("OnDeadLetter hook not called")
	}
	if n := len(e.effects(t)); n != 0 {
		t.Fatalf("%d effects from failed messages", n)
	}
}

// With several workers, events of different aggregates are applied
// concurrently, and each aggregate's events still in stream order.
func TestWorkersKeepEachAggregatesOrder(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const aggregates, perAggregate = 6, 20
	for i := 0; i < perAggregate; i++ {
		for a := 0; a < aggregates; a++ {
			m := nats.NewMsg(e.ns + "crm.src.thing_happened")
			m.Data = []byte(fmt.Sprintf("%d/%02d", a, i))
			m.Header.Set(events.HeaderMsgID, uuid.NewString())
			m.Header.Set(events.HeaderType, "test.ThingHappened")
			m.Header.Set(events.HeaderAggregate, fmt.Sprintf("agg-%d", a))
			if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	var mu sync.Mutex
	seen := map[string][]string{}
	var inFlight, maxInFlight atomic.Int32
	c := e.consumer(func(ctx context.Context, m inbox.Message) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			old := maxInFlight.Load()
			if n <= old || maxInFlight.CompareAndSwap(old, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond) // long enough for workers to overlap
		agg, seq, _ := strings.Cut(string(m.Data), "/")
		mu.Lock()
		seen[agg] = append(seen[agg], seq)
		mu.Unlock()
		return e.recordEffect(ctx, m)
	})
	c.Workers = 4
	run(t, c)
	testkit.Eventually(t, 20*time.Second, func() bool { return len(e.effects(t)) == aggregates*perAggregate }, "all applied")
	mu.Lock()
	defer mu.Unlock()
	for agg, seqs := range seen {
		if !sort.StringsAreSorted(seqs) || len(seqs) != perAggregate {
			t.Errorf("aggregate %s applied as %v", agg, seqs)
		}
	}
	if maxInFlight.Load() < 2 {
		t.Errorf("at most %d event applied at once with 4 workers", maxInFlight.Load())
	}
}

// With batches, a worker applies queued events together; an event id
// twice, or once more after it was applied, changes nothing; a failing
// event rolls its batch back, the others are applied one by one and only
// it is retried (and dead-lettered).
func TestBatchesApplyOnceAndIsolateAFailure(t *testing.T) {
	t.Parallel()
	e := setup(t)
	// Published before the consumer runs, so they are queued together.
	var ids []string
	for i := range 40 {
		id := uuid.NewString()
		ids = append(ids, id)
		e.publish(t, id, fmt.Sprint(i))
	}
	time.Sleep(150 * time.Millisecond)
	e.publish(t, ids[3], "3") // past the duplicate window: a redelivery
	e.publish(t, uuid.NewString(), "poison")
	var calls atomic.Int32
	c := e.consumer(func(ctx context.Context, m inbox.Message) error {
		calls.Add(1)
		if string(m.Data) == "poison" {
			return errors.New("poison")
		}
		return e.recordEffect(ctx, m)
	})
	c.Batch, c.MaxDeliver = 16, 2
	run(t, c)
	testkit.Eventually(t, 10*time.Second, func() bool { return len(e.effects(t)) >= 40 }, "40 effects")
	ctx := context.Background()
	testkit.Eventually(t, 10*time.Second, func() bool {
		dlq, err := e.js.Stream(ctx, events.StreamName(e.ns, "dlq"))
		if err != nil {
			return false
		}
		info, err := dlq.Info(ctx)
		return err == nil && info.State.Msgs == 1
	}, "the poison event dead-lettered")
	time.Sleep(200 * time.Millisecond)
	got := e.effects(t)
	seen := map[string]bool{}
	for _, g := range got {
		if seen[g] {
			t.Fatalf("effect %s applied twice", g)
		}
		seen[g] = true
	}
	if len(got) != 40 {
		t.Fatalf("%d effects, want 40", len(got))
	}
}

// lockedBuffer collects a consumer's log across goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The dead-letter stream is replicated like the services' own streams
// (NATS_STREAM_REPLICAS): an R1 copy would stop dead-lettering while its
// one member is down or drained. The test server is standalone and refuses
// more than one replica; that refusal in the consumer's log shows the
// setting reaches the server (a three-member cluster takes it).
func TestDeadLetterStreamTakesTheReplicas(t *testing.T) {
	e := setup(t)
	var logs lockedBuffer
	c := e.consumer(e.recordEffect)
	c.Replicas = 3
	c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	run(t, c)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "replicas > 1 not supported in non-clustered mode") {
		if time.Now().After(deadline) {
			t.Fatalf("the dead-letter stream was not asked for 3 replicas; consumer log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A resend (outbox.Resend: a new Nats-Msg-Id, the event's own id in
// Crm-Event-Id) gets past JetStream's duplicate window yet is the same
// event to a consumer that applied it, and a new one to a consumer that
// did not.
func TestAResendIsTheSameEventToConsumers(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := uuid.NewString()
	e.publish(t, id, "one")
	resend := func() {
		m := nats.NewMsg(e.ns + "crm.src.thing_happened")
		m.Data = []byte("one")
		m.Header.Set(events.HeaderMsgID, uuid.NewString())
		m.Header.Set(events.HeaderEventID, id)
		m.Header.Set(events.HeaderType, "test.ThingHappened")
		if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	resend() // within the window: JetStream takes it all the same
	stream, err := e.js.Stream(context.Background(), events.StreamName(e.ns, "src"))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := stream.Info(context.Background()); err != nil || info.State.Msgs != 2 {
		t.Fatalf("the stream should hold the resend: %+v, %v", info.State, err)
	}
	var seen []string
	var mu sync.Mutex
	c := e.consumer(func(ctx context.Context, m inbox.Message) error {
		mu.Lock()
		seen = append(seen, m.EventID)
		mu.Unlock()
		return e.recordEffect(ctx, m)
	})
	run(t, c)
	testkit.Eventually(t, 10*time.Second, func() bool { return len(e.effects(t)) >= 1 }, "effect applied")
	resend()
	time.Sleep(300 * time.Millisecond)
	if got := e.effects(t); len(got) != 1 {
		t.Fatalf("effects = %v, want one", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != id {
		t.Fatalf("the handler saw %v, want the event %s once", seen, id)
	}
}

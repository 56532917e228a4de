package wire_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/platform/testkit/inproc"
	"github.com/crmsuite/crm/services/lead/internal/wire"
)

// logBuffer collects a command's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// exported is the count the export's last "activities exported" line
// reports, -1 if there is none.
func (b *logBuffer) exported(t *testing.T) int {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	n := -1
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var line struct {
			Msg      string `json:"msg"`
			Exported int    `json:"exported"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if line.Msg == "activities exported" {
			n = line.Exported
		}
	}
	return n
}

// runCommand runs the lead service's command name as `lead <name> args`
// would, on the suite's database and NATS, and returns its logs.
func (s *suite) runCommand(t *testing.T, name string, args ...string) (*logBuffer, error) {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	err := service.RunCommand(context.Background(), inproc.Config("lead", s.dbURL, s.nats), log, wire.Spec(), name, args)
	return logs, err
}

// legacyActivity is a row of the lead service's activities table, as
// CreateActivity wrote them before activities moved to the workflow
// service.
type legacyActivity struct {
	id, lead           uuid.UUID
	typ, subject, body string
	direction, author  string
	duration           time.Duration
	occurAt, createdAt time.Time
}

func TestExportActivitiesPublishesEachActivityOnceWithoutAServingReplica(t *testing.T) {
	t.Parallel()
	s := start(t)
	ada := s.create(t, &leadv1.Lead{FirstName: "Ada", LastName: "Lovelace", Company: "Engines"})
	babbage := s.create(t, &leadv1.Lead{LastName: "Babbage", Company: "Engines"})
	dup := s.create(t, &leadv1.Lead{LastName: "Babbage", Company: "Engines Ltd"})
	// A lead merged after the lead service stopped moving activities: its
	// activity is exported on the lead it was merged into.
	if _, err := s.client.MergeLeads(testkit.As("mia", "manager"), &leadv1.MergeLeadsRequest{Primary: babbage.Name, Duplicates: []string{dup.Name}}); err != nil {
		t.Fatal(err)
	}
	babbage = s.lead(t, babbage.Name)
	ada = s.lead(t, ada.Name)
	const leadEvents = 4 // 3 created, 1 merge
	s.published(t, leadEvents)
	s.stop()

	at := time.Date(2026, 10, 1, 9, 30, 0, 0, time.UTC)
	acts := []legacyActivity{
		{id: uuid.Must(uuid.NewV7()), lead: uuid.MustParse(id(ada.Name)), typ: "CALL", subject: "intro call", direction: "OUTBOUND",
			duration: 15 * time.Minute, author: "alice", occurAt: at, createdAt: at.Add(time.Minute)},
		{id: uuid.Must(uuid.NewV7()), lead: uuid.MustParse(id(ada.Name)), typ: "NOTE", body: "wants a demo", author: "bob",
			occurAt: at.Add(time.Hour), createdAt: at.Add(time.Hour)},
		{id: uuid.Must(uuid.NewV7()), lead: uuid.MustParse(id(ada.Name)), typ: "EMAIL", subject: "re: demo", direction: "INBOUND",
			author: "alice", occurAt: at.Add(2 * time.Hour), createdAt: at.Add(3 * time.Hour)},
		{id: uuid.Must(uuid.NewV7()), lead: uuid.MustParse(id(babbage.Name)), typ: "MEETING", subject: "visit", duration: time.Hour,
			author: "carol", occurAt: at.Add(24 * time.Hour), createdAt: at.Add(25 * time.Hour)},
		{id: uuid.Must(uuid.NewV7()), lead: uuid.MustParse(id(dup.Name)), typ: "NOTE", body: "met at the fair", author: "bob",
			occurAt: at.Add(-24 * time.Hour), createdAt: at.Add(-24 * time.Hour)},
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, a := range acts {
		var dur *time.Duration
		if a.duration > 0 {
			dur = &a.duration
		}
		if _, err := conn.Exec(ctx, `INSERT INTO lead.activities (id, lead_id, type, subject, body, direction, duration, occur_at, author, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			a.id, a.lead, a.typ, a.subject, a.body, a.direction, dur, a.occurAt, a.author, a.createdAt); err != nil {
			t.Fatal(err)
		}
	}

	// Two to a page: three pages, each published before the next.
	logs, err := s.runCommand(t, "export-activities", "-page-size", "2")
	if err != nil {
		t.Fatal(err)
	}
	if n := logs.exported(t); n != len(acts) {
		t.Fatalf("exported %d, want %d", n, len(acts))
	}
	evs := s.published(t, leadEvents+len(acts))
	if len(evs) != leadEvents+len(acts) {
		t.Fatalf("%d events on the lead stream, want %d", len(evs), leadEvents+len(acts))
	}
	logged := map[string]*eventsv1.LeadActivityLogged{}
	for _, e := range evs {
		if l, ok := e.(*eventsv1.LeadActivityLogged); ok {
			logged[l.Meta.GetEventId()] = l
		}
	}
	if len(logged) != len(acts) {
		t.Fatalf("%d distinct LeadActivityLogged, want %d", len(logged), len(acts))
	}
	types := map[string]leadv1.ActivityType{"CALL": leadv1.ActivityType_ACTIVITY_TYPE_CALL, "NOTE": leadv1.ActivityType_ACTIVITY_TYPE_NOTE,
		"EMAIL": leadv1.ActivityType_ACTIVITY_TYPE_EMAIL, "MEETING": leadv1.ActivityType_ACTIVITY_TYPE_MEETING}
	directions := map[string]leadv1.Direction{"INBOUND": leadv1.Direction_DIRECTION_INBOUND, "OUTBOUND": leadv1.Direction_DIRECTION_OUTBOUND}
	for _, a := range acts {
		l := logged[events.LeadActivityEventID(a.id).String()]
		if l == nil {
			t.Fatalf("activity %s not exported (or not with its event id)", a.id)
		}
		owner := ada
		if a.lead != uuid.MustParse(id(ada.Name)) {
			owner = babbage // its own, or the lead it was merged into
		}
		want := &leadv1.Activity{
			Name: owner.Name + "/activities/" + a.id.String(), Type: types[a.typ], Subject: a.subject, Body: a.body,
			Direction: directions[a.direction], OccurTime: timestamppb.New(a.occurAt), Author: a.author, CreateTime: timestamppb.New(a.createdAt),
		}
		if a.duration > 0 {
			want.Duration = durationpb.New(a.duration)
		}
		if !proto.Equal(l.Activity, want) || l.LeadId != id(owner.Name) || !proto.Equal(l.Lead, owner) ||
			l.Meta.GetActor() != a.author || !l.Meta.GetOccurTime().AsTime().Equal(a.createdAt) {
			t.Errorf("activity %s exported as %v\nwant activity %v on %v", a.id, l, want, owner)
		}
	}

	// Again: nothing left to export, nothing published.
	if logs, err := s.runCommand(t, "export-activities"); err != nil || logs.exported(t) != 0 {
		t.Fatalf("second export: %v, exported %d", err, logs.exported(t))
	}
	// Every activity again, on purpose: the same event ids, so nothing new
	// on the stream (and consumers' inboxes drop them after JetStream's
	// duplicate window).
	if logs, err := s.runCommand(t, "export-activities", "-all"); err != nil || logs.exported(t) != len(acts) {
		t.Fatalf("export of all: %v, exported %d", err, logs.exported(t))
	}
	if n := len(s.published(t, leadEvents+len(acts))); n != leadEvents+len(acts) {
		t.Fatalf("%d events on the lead stream after exporting again, want %d", n, leadEvents+len(acts))
	}

	for _, args := range [][]string{{"-page-size", "0"}, {"-page-size", "10001"}, {"-nope"}, {"extra"}} {
		if _, err := s.runCommand(t, "export-activities", args...); err == nil {
			t.Errorf("export-activities %q: no error", args)
		}
	}
}

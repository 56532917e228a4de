package testkit

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/natsx"
)

// Observer connects a test client to n's JetStream, to read and publish
// events beside the services; the connection is closed when the test
// ends.
func (n *NATS) Observer(t testing.TB) jetstream.JetStream {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	nc, js, err := natsx.Connect(n.URL, "test-observer", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return js
}

// CreateStream creates (or updates) service's event stream in n's
// namespace, as that service would, with the given duplicate window (0:
// the server's default). Tests use it to stand in for a service that does
// not run; a tiny window lets a test deliver one event id twice.
func (n *NATS) CreateStream(t testing.TB, js jetstream.JetStream, service string, duplicates time.Duration) {
	t.Helper()
	if _, err := js.CreateOrUpdateStream(context.Background(), jetstream.StreamConfig{
		Name: events.StreamName(n.Namespace, service), Subjects: events.StreamSubjects(n.Namespace, service),
		Duplicates: duplicates,
	}); err != nil {
		t.Fatal(err)
	}
}

// Publish puts ev on service's stream in n's namespace as that service's
// outbox relay would: its subject, Nats-Msg-Id the event id of its meta,
// and its type header.
func (n *NATS) Publish(t testing.TB, js jetstream.JetStream, service string, ev proto.Message) {
	t.Helper()
	meta, err := events.MetaOf(ev)
	if err != nil {
		t.Fatal(err)
	}
	data, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	n.PublishRaw(t, js, events.Subject(n.Namespace, service, ev), meta.GetEventId(), string(ev.ProtoReflect().Descriptor().FullName()), data)
}

// PublishRaw publishes data on subject with the headers the relay sets:
// Nats-Msg-Id id and event type typ. Tests use it for payloads Publish
// cannot make (undecodable ones, a subject that does not match the type).
func (n *NATS) PublishRaw(t testing.TB, js jetstream.JetStream, subject, id, typ string, data []byte) {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(events.HeaderMsgID, id)
	m.Header.Set(events.HeaderType, typ)
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

// Published returns the events on service's stream in n's namespace,
// decoded, in stream order, waiting (up to 20s) until at least want are
// there.
func (n *NATS) Published(t testing.TB, js jetstream.JetStream, service string, want int) []proto.Message {
	t.Helper()
	ctx := context.Background()
	name := events.StreamName(n.Namespace, service)
	var out []proto.Message
	Eventually(t, 20*time.Second, func() bool {
		stream, err := js.Stream(ctx, name)
		if err != nil {
			return false
		}
		info, err := stream.Info(ctx)
		if err != nil || info.State.Msgs < uint64(want) {
			return false
		}
		out = out[:0]
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			m, err := stream.GetMsg(ctx, seq)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, DecodeEvent(t, m.Header.Get(events.HeaderType), m.Data))
		}
		return true
	}, "%d events on the %s stream", want, service)
	return out
}

// DecodeEvent unmarshals an event payload of type typ (a full protobuf
// message name, as in the type header), failing the test if it cannot.
func DecodeEvent(t testing.TB, typ string, data []byte) proto.Message {
	t.Helper()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typ))
	if err != nil {
		t.Fatalf("event type %q: %v", typ, err)
	}
	m := mt.New().Interface()
	if err := proto.Unmarshal(data, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// EventTypes returns the short message names of evs, e.g. LeadCreated.
func EventTypes(evs []proto.Message) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = string(e.ProtoReflect().Descriptor().Name())
	}
	return out
}

// DeadLetters returns the dead letters of consumer (crm.dlq.<consumer> in
// n's namespace), oldest first, waiting (up to 20s) until at least want
// are there.
func (n *NATS) DeadLetters(t testing.TB, js jetstream.JetStream, consumer string, want int) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	subject := n.Namespace + "crm.dlq." + consumer
	var out []*jetstream.RawStreamMsg
	Eventually(t, 20*time.Second, func() bool {
		stream, err := js.Stream(ctx, events.StreamName(n.Namespace, "dlq"))
		if err != nil {
			return false
		}
		info, err := stream.Info(ctx)
		if err != nil {
			return false
		}
		out = out[:0]
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := stream.GetMsg(ctx, seq)
			if err == nil && m.Subject == subject {
				out = append(out, m)
			}
		}
		return len(out) >= want
	}, "%d dead letters on %s", want, subject)
	return out
}

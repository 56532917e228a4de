// Package otlpsink is a tiny OTLP/gRPC trace receiver on the loopback
// interface: tests point the suite's processes at it (Env) and read the
// spans they exported, and benchmarks use it as a collector that accepts
// and drops everything.
package otlpsink

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
)

// Span is an exported span, reduced to what tests look at.
type Span struct {
	// Service is the resource's service.name.
	Service string
	Name    string
	Kind    tracepb.Span_SpanKind
	// TraceID, SpanID and ParentID in hex; ParentID is "" for a root.
	TraceID, SpanID, ParentID string
	// Links name the linked spans as "<trace id>/<span id>".
	Links []string
	// Attributes as strings (ints and bools formatted).
	Attributes map[string]string
	// Error reports an error status.
	Error bool
}

// Sink receives spans.
type Sink struct {
	collectortrace.UnimplementedTraceServiceServer
	srv  *grpc.Server
	addr string
	keep bool

	received atomic.Int64
	bytes    atomic.Int64
	mu       sync.Mutex
	spans    []Span
}

// Start listens on a free loopback port. With keep, the spans received are
// decoded and kept for Spans; without, requests are not even decoded (the
// sink then costs the machine as little as a collector elsewhere would),
// only their bytes counted (Bytes).
func Start(keep bool) (*Sink, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sink{addr: lis.Addr().String(), keep: keep}
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(64 << 20)}
	if !keep {
		opts = append(opts, grpc.ForceServerCodecV2(discardCodec{&s.bytes}))
	}
	s.srv = grpc.NewServer(opts...)
	collectortrace.RegisterTraceServiceServer(s.srv, s)
	go func() { _ = s.srv.Serve(lis) }()
	return s, nil
}

// Addr is the host:port the sink listens on.
func (s *Sink) Addr() string { return s.addr }

// Env is the environment that makes a process of the suite export its
// spans here, promptly (100ms batches).
func (s *Sink) Env() []string {
	return []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + s.addr,
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_BSP_SCHEDULE_DELAY=100",
	}
}

// Received counts the spans received so far (kept ones only).
func (s *Sink) Received() int64 { return s.received.Load() }

// Bytes counts the request bytes received so far (without keep).
func (s *Sink) Bytes() int64 { return s.bytes.Load() }

// discardCodec takes export requests without decoding them, and answers
// with an empty response (which is zero bytes on the wire).
type discardCodec struct{ n *atomic.Int64 }

func (discardCodec) Marshal(any) (mem.BufferSlice, error) { return nil, nil }

func (c discardCodec) Unmarshal(data mem.BufferSlice, _ any) error {
	c.n.Add(int64(data.Len()))
	return nil
}

func (discardCodec) Name() string { return "proto" }

// Spans returns the spans kept so far, in arrival order.
func (s *Sink) Spans() []Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Span(nil), s.spans...)
}

// Close stops the receiver.
func (s *Sink) Close() { s.srv.Stop() }

// Export receives a batch of spans.
func (s *Sink) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	var got []Span
	var n int64
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				n++
				if !s.keep {
					continue
				}
				out := Span{
					Service: service, Name: sp.GetName(), Kind: sp.GetKind(),
					TraceID: hex.EncodeToString(sp.GetTraceId()), SpanID: hex.EncodeToString(sp.GetSpanId()),
					Attributes: map[string]string{},
					Error:      sp.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR,
				}
				if p := sp.GetParentSpanId(); len(p) > 0 {
					out.ParentID = hex.EncodeToString(p)
				}
				for _, l := range sp.GetLinks() {
					out.Links = append(out.Links, hex.EncodeToString(l.GetTraceId())+"/"+hex.EncodeToString(l.GetSpanId()))
				}
				for _, kv := range sp.GetAttributes() {
					v := kv.GetValue()
					switch {
					case v.GetStringValue() != "":
						out.Attributes[kv.GetKey()] = v.GetStringValue()
					default:
						out.Attributes[kv.GetKey()] = fmt.Sprint(anyValue(v))
					}
				}
				got = append(got, out)
			}
		}
	}
	s.received.Add(n)
	if len(got) > 0 {
		s.mu.Lock()
		s.spans = append(s.spans, got...)
		s.mu.Unlock()
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func anyValue(v interface {
	GetIntValue() int64
	GetBoolValue() bool
	GetDoubleValue() float64
}) any {
	switch {
	case v.GetIntValue() != 0:
		return v.GetIntValue()
	case v.GetDoubleValue() != 0:
		return v.GetDoubleValue()
	default:
		return v.GetBoolValue()
	}
}

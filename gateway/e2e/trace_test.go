package e2e

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/platform/tracing/otlpsink"
)

// One lead conversion is one trace: the suite runs as deployed (a process
// per service and the gateway), each exporting over OTLP (configured by
// OTEL_* variables only) to an in-test receiver, and the spans of one
// QualifyLead through the gateway, into a new account and an opportunity,
// form one connected tree. It holds the gateway's request, the lead
// service's call and queries, the relay's publishes, and after the outbox
// hop the account and opportunity services' consumers (with their
// queries and calls) and the lead service's consumers completing the
// conversion.
func TestOneConversionIsOneConnectedTrace(t *testing.T) {
	t.Parallel()
	sink, err := otlpsink.Start(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Close)
	s := startStackWith(t, stackOptions{env: sink.Env()})

	lead := s.do(t, "POST", "/v1/leads", map[string]any{
		"firstName": "Grace", "lastName": "Hopper", "company": "Compilers Ltd", "email": "grace@compilers.example",
	}).want(t, 200)
	// The client's own trace context: the gateway's span continues it.
	const traceID, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	s.do(t, "POST", "/v1/"+lead.str("name")+":qualify", map[string]any{
		"newAccount":  map[string]any{"currencyCode": "GBP"},
		"opportunity": map[string]any{"amount": map[string]any{"currencyCode": "GBP", "units": "1000"}},
	}, "traceparent", "00-"+traceID+"-"+clientSpan+"-01").want(t, 200)
	s.waitConversion(t, lead.str("name"), "CONVERSION_STATE_COMPLETE")

	// What the trace must hold, as (service, span name) pairs; ns is the
	// test's events namespace, prefixed to every subject.
	ns := s.nats.Namespace
	want := [][2]string{
		{"gateway", ""}, // the HTTP server span (named by method and route)
		{"lead", "crm.lead.v1.LeadService/QualifyLead"},
		{"lead", "publish " + ns + "crm.lead.lead_qualified"},
		{"account", "process " + ns + "crm.lead.lead_qualified"},
		{"account", "publish " + ns + "crm.account.contact_created"},
		{"opportunity", "process " + ns + "crm.lead.lead_qualified"},
		{"opportunity", "publish " + ns + "crm.opportunity.opportunity_created"},
		{"lead", "process " + ns + "crm.account.contact_created"},
		{"lead", "process " + ns + "crm.opportunity.opportunity_created"},
	}
	var spans []otlpsink.Span
	var missing, gaps []string
	testkit.Eventually(t, 20*time.Second, func() bool {
		spans = nil
		for _, sp := range sink.Spans() {
			if sp.TraceID == traceID {
				spans = append(spans, sp)
			}
		}
		missing = missing[:0]
		for _, w := range want {
			if !slices.ContainsFunc(spans, func(sp otlpsink.Span) bool {
				return sp.Service == w[0] && (w[1] == "" || sp.Name == w[1])
			}) {
				missing = append(missing, w[0]+": "+w[1])
			}
		}
		gaps = disconnected(spans, clientSpan)
		return len(missing) == 0 && len(gaps) == 0
	}, "the conversion's trace: missing %v, parent not in the trace: %v", &missing, &gaps)

	// Every service touched the database inside the trace.
	for _, svc := range []string{"lead", "account", "opportunity"} {
		if !slices.ContainsFunc(spans, func(sp otlpsink.Span) bool {
			return sp.Service == svc && sp.Attributes["db.system.name"] == "postgresql"
		}) {
			t.Errorf("no Postgres span of %s in the trace", svc)
		}
	}
	// The gateway's span is the only one whose parent is the client's.
	for _, sp := range spans {
		if sp.ParentID == clientSpan && sp.Service != "gateway" {
			t.Errorf("span %s/%s hangs off the client's span", sp.Service, sp.Name)
		}
	}
	// A consumer's span is a child of the publish span of the event it
	// processes (one trace across the outbox hop, not a link).
	byID := map[string]otlpsink.Span{}
	for _, sp := range spans {
		byID[sp.SpanID] = sp
	}
	for _, sp := range spans {
		if subject, ok := strings.CutPrefix(sp.Name, "process "); ok && sp.Attributes["messaging.batch.message_count"] == "" {
			if p := byID[sp.ParentID]; p.Name != "publish "+subject {
				t.Errorf("%s's %q has parent %s/%q, want the publish span", sp.Service, sp.Name, p.Service, p.Name)
			}
		}
	}
	// No hop started a trace of its own: every publish and process span
	// the suite exported belongs to a trace that a REST request started.
	requests := map[string]bool{}
	for _, sp := range sink.Spans() {
		if sp.Service == "gateway" {
			requests[sp.TraceID] = true
		}
	}
	for _, sp := range sink.Spans() {
		if (strings.HasPrefix(sp.Name, "publish ") || strings.HasPrefix(sp.Name, "process ")) && !requests[sp.TraceID] {
			t.Errorf("%s's %q is in trace %s, which no request started", sp.Service, sp.Name, sp.TraceID)
		}
	}
	t.Logf("the conversion's trace: %d spans\n%s", len(spans), tree(spans, clientSpan))
}

// disconnected lists the spans whose parent is neither in spans nor root
// (the client's span).
func disconnected(spans []otlpsink.Span, root string) []string {
	ids := map[string]bool{root: true}
	for _, sp := range spans {
		ids[sp.SpanID] = true
	}
	var out []string
	for _, sp := range spans {
		if !ids[sp.ParentID] {
			out = append(out, sp.Service+": "+sp.Name)
		}
	}
	return out
}

// tree renders spans as an indented tree under root, services' names
// first, for the log.
func tree(spans []otlpsink.Span, root string) string {
	children := map[string][]otlpsink.Span{}
	for _, sp := range spans {
		children[sp.ParentID] = append(children[sp.ParentID], sp)
	}
	var b strings.Builder
	var walk func(id string, depth int)
	walk = func(id string, depth int) {
		cs := children[id]
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
		for _, c := range cs {
			fmt.Fprintf(&b, "%s%s: %s\n", strings.Repeat("  ", depth), c.Service, c.Name)
			walk(c.SpanID, depth+1)
		}
	}
	walk(root, 0)
	return b.String()
}

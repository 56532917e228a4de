package e2e

import (
	"regexp"
	"strings"
	"testing"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	_ "github.com/crmsuite/crm/gen/go/crm/account/v1"
	_ "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	_ "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	_ "github.com/crmsuite/crm/gen/go/crm/order/v1"
	_ "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

var idPattern = regexp.MustCompile(`^\^([a-zA-Z]+)/`)

// nilIDFields are the string fields of a request message (and of the
// messages in it, two levels down) that can carry a record's name, with
// the value naming the all-zero id each gets: its pattern's collection,
// or "records".
func nilIDFields(md protoreflect.MessageDescriptor, prefix string, depth int) map[string]string {
	out := map[string]string{}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		path := prefix + string(fd.Name())
		switch {
		case fd.IsMap():
		case fd.Kind() == protoreflect.MessageKind && !fd.IsList() && depth < 2 && !strings.HasPrefix(string(fd.Message().FullName()), "google."):
			for p, v := range nilIDFields(fd.Message(), path+".", depth+1) {
				out[p] = v
			}
		case fd.Kind() == protoreflect.StringKind && !fd.IsList():
			switch fd.Name() {
			case "filter", "order_by", "page_token", "etag", "body", "description", "note", "notes", "message", "close_note":
				continue
			}
			collection := "records"
			if rules, err := protovalidate.ResolveFieldRules(fd); err == nil {
				if m := idPattern.FindStringSubmatch(rules.GetString().GetPattern()); m != nil {
					collection = m[1]
				}
			}
			out[path] = collection + "/00000000-0000-0000-0000-000000000000"
		}
	}
	return out
}

// Every request field of every service that can name a record refuses
// the all-zero id (InvalidArgument NIL_ID on that field) before anything
// runs: `existingAccount: accounts/00000000-...` on :qualify once made a
// new account instead. The walk covers the whole class, as HostileFilters
// walks the filter fields.
func TestNilIDsAreRefusedInEveryRequestField(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	// Every service of the suite, found in the registry so that a service
	// added later is walked too; its package says which process serves it.
	byPackage := map[protoreflect.FullName]string{
		"crm.lead.v1": s.lead.Addr, "crm.account.v1": s.account.Addr, "crm.opportunity.v1": s.opps.Addr,
		"crm.order.v1": s.orders.Addr, "crm.workflow.v1": s.workflow.Addr,
	}
	addrs := map[string]string{}
	protoregistry.GlobalFiles.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		for i := range f.Services().Len() {
			svc := f.Services().Get(i)
			if addr, ok := byPackage[f.Package()]; ok {
				addrs[string(svc.FullName())] = addr
			} else if strings.HasPrefix(string(f.Package()), "crm.") {
				t.Errorf("service %s: no process serves package %s", svc.FullName(), f.Package())
			}
		}
		return true
	})
	if _, ok := addrs["crm.workflow.v1.SlaService"]; !ok {
		t.Fatalf("the registry lacks the workflow service's SlaService: %v", addrs)
	}
	// The two cases over REST: pasted whitespace around an email
	// is trimmed before validation; a qualify into the all-zero account is
	// refused, not a new account.
	lead := s.do(t, "POST", "/v1/leads", map[string]any{"lastName": "  Lovelace ", "email": "  ADA@EXAMPLE.COM ", "phone": " +44 20 7946 0000 "}).want(t, 200)
	if lead.str("email") != "ADA@EXAMPLE.COM" || lead.str("lastName") != "Lovelace" {
		t.Fatalf("not trimmed: %s", lead.raw)
	}
	bad := s.do(t, "POST", "/v1/"+lead.str("name")+":qualify", map[string]any{"existingAccount": "accounts/00000000-0000-0000-0000-000000000000"}).want(t, 400)
	if _, fields := bad.violations(); !testkit.HasField(fields, "existing_account") {
		t.Fatalf("qualify into the nil account: %s", bad.raw)
	}
	if n := s.query(t, `SELECT count(*)::text FROM account.accounts`); n != "0" {
		t.Fatalf("%s accounts made", n)
	}

	ctx := testkit.As("alice")
	checked := 0
	for svcName, addr := range addrs {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svcName))
		if err != nil {
			t.Fatalf("%s: %v", svcName, err)
		}
		conn := testkit.Dial(t, addr)
		methods := d.(protoreflect.ServiceDescriptor).Methods()
		for i := range methods.Len() {
			m := methods.Get(i)
			if m.IsStreamingClient() || m.IsStreamingServer() {
				continue // ImportLeads: its rows go through the same check (grpcx.Sanitize on every message)
			}
			for path, value := range nilIDFields(m.Input(), "", 0) {
				req := dynamicpb.NewMessage(m.Input())
				setPath(req, path, value)
				resp := dynamicpb.NewMessage(m.Output())
				err := conn.Invoke(ctx, "/"+svcName+"/"+string(m.Name()), req, resp)
				if status.Code(err) != codes.InvalidArgument {
					t.Errorf("%s.%s %s=%s: %v, want InvalidArgument", svcName, m.Name(), path, value, err)
					continue
				}
				if _, fields := violations(err); !testkit.HasField(fields, path) {
					t.Errorf("%s.%s %s=%s: fields %v", svcName, m.Name(), path, value, fields)
				}
				checked++
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d fields checked", checked)
	}
	t.Logf("%d request fields refuse the all-zero id", checked)
}

// setPath sets the string field at a dotted path, making the messages on
// the way.
func setPath(m *dynamicpb.Message, path, value string) {
	parts := strings.Split(path, ".")
	cur := protoreflect.Message(m)
	for _, p := range parts[:len(parts)-1] {
		fd := cur.Descriptor().Fields().ByName(protoreflect.Name(p))
		cur = cur.Mutable(fd).Message()
	}
	cur.Set(cur.Descriptor().Fields().ByName(protoreflect.Name(parts[len(parts)-1])), protoreflect.ValueOfString(value))
}

func violations(err error) (reason string, fields []string) {
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.Reason
		case *errdetails.BadRequest:
			for _, v := range d.FieldViolations {
				fields = append(fields, v.Field)
			}
		}
	}
	return reason, fields
}

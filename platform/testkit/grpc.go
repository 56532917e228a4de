package testkit

import (
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/crmsuite/crm/platform/authz"
)

// Dial returns a plaintext client connection to addr, closed when the test
// ends.
func Dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// RequireCode fails the test unless err is a gRPC status with code, and
// returns its google.rpc.ErrorInfo reason and the fields of its
// google.rpc.BadRequest violations. Every error the suite returns carries
// an ErrorInfo, and an InvalidArgument at least one field violation; one
// without them fails the test too.
func RequireCode(t testing.TB, err error, code codes.Code) (reason string, fields []string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Fatalf("err = %v, want %v", err, code)
	}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.Reason
		case *errdetails.BadRequest:
			for _, v := range d.FieldViolations {
				fields = append(fields, v.Field)
			}
		}
	}
	if reason == "" {
		t.Fatalf("%v: no ErrorInfo", err)
	}
	if code == codes.InvalidArgument && len(fields) == 0 {
		t.Fatalf("%v: InvalidArgument without field violations", err)
	}
	return reason, fields
}

// HasField reports whether one of fields (as RequireCode returns them) is
// field or inside it: lead.custom_fields["Bad Key"] and lead.email.x are
// inside lead.custom_fields and lead.email.
func HasField(fields []string, field string) bool {
	for _, f := range fields {
		if f == field || strings.HasPrefix(f, field+"[") || strings.HasPrefix(f, field+".") {
			return true
		}
	}
	return false
}

// Tamper returns tok with one character in the middle changed: a page
// token or etag that no longer verifies.
func Tamper(tok string) string {
	b := []byte(tok)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// RequireDenied fails the test unless err is the PermissionDenied of an
// authorization rule or ownership check (authz.Denied); what names the
// call in the failure.
func RequireDenied(t testing.TB, what string, err error) {
	t.Helper()
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("%s: err = %v, want PermissionDenied", what, err)
	}
	if reason, _ := RequireCode(t, err, codes.PermissionDenied); reason != authz.ReasonDenied {
		t.Fatalf("%s: reason %s, want %s", what, reason, authz.ReasonDenied)
	}
}

// ErrorMeta returns the google.rpc.ErrorInfo metadata of err (a gRPC
// status), failing the test when it has no ErrorInfo.
func ErrorMeta(t testing.TB, err error) map[string]string {
	t.Helper()
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetMetadata()
		}
	}
	t.Fatalf("%v: no ErrorInfo", err)
	return nil
}

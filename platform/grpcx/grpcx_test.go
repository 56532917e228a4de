package grpcx_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"

	"buf.build/go/protovalidate"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/grpcx"
)

// misbehaving fails in every way a handler can, one per lead name.
type misbehaving struct {
	leadv1.UnimplementedLeadServiceServer
}

func (misbehaving) GetLead(_ context.Context, req *leadv1.GetLeadRequest) (*leadv1.Lead, error) {
	switch req.Name {
	case "leads/00000000-0000-0000-0000-000000000001":
		panic("boom: secret internals")
	case "leads/00000000-0000-0000-0000-000000000002":
		return nil, fmt.Errorf(`pg: ERROR: relation "lead.leads" does not exist (SQLSTATE 42P01)`)
	case "leads/00000000-0000-0000-0000-000000000003":
		return nil, apperr.NotFound("LEAD_NOT_FOUND", "lead 3 not found").WithMeta("lead", "3")
	case "leads/00000000-0000-0000-0000-000000000004":
		return nil, fmt.Errorf("wrapped: %w", apperr.FailedPrecondition("LEAD_CONVERTED", "converted"))
	case "leads/00000000-0000-0000-0000-000000000005":
		return nil, context.DeadlineExceeded
	case "leads/00000000-0000-0000-0000-000000000006":
		return nil, fmt.Errorf("pg: begin: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"})
	case "leads/00000000-0000-0000-0000-000000000007":
		return nil, fmt.Errorf("pg: begin: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	}
	return &leadv1.Lead{Name: req.Name}, nil
}

func client(t *testing.T) leadv1.LeadServiceClient {
	t.Helper()
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	chain := grpcx.Chain{Logger: slog.New(slog.DiscardHandler), Validator: v, Authenticator: grpcx.HeaderAuthenticator{}}
	srv := grpc.NewServer(chain.ServerOptions()...)
	leadv1.RegisterLeadServiceServer(srv, misbehaving{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return leadv1.NewLeadServiceClient(conn)
}

func TestHandlerFailuresBecomeCanonicalStatusesWithoutLeaks(t *testing.T) {
	c := client(t)
	cases := []struct {
		name   string
		code   codes.Code
		reason string
	}{
		{"leads/00000000-0000-0000-0000-000000000001", codes.Internal, ""},
		{"leads/00000000-0000-0000-0000-000000000002", codes.Internal, "INTERNAL"},
		{"leads/00000000-0000-0000-0000-000000000003", codes.NotFound, "LEAD_NOT_FOUND"},
		{"leads/00000000-0000-0000-0000-000000000004", codes.FailedPrecondition, "LEAD_CONVERTED"},
		{"leads/00000000-0000-0000-0000-000000000005", codes.DeadlineExceeded, ""},
		// A database going away is worth a retry, and says so.
		{"leads/00000000-0000-0000-0000-000000000006", codes.Unavailable, "DATABASE_UNAVAILABLE"},
		{"leads/00000000-0000-0000-0000-000000000007", codes.Unavailable, "DATABASE_UNAVAILABLE"},
	}
	for _, tc := range cases {
		_, err := c.GetLead(context.Background(), &leadv1.GetLeadRequest{Name: tc.name})
		st := status.Convert(err)
		if st.Code() != tc.code {
			t.Fatalf("%s: code %v, want %v (%v)", tc.name, st.Code(), tc.code, err)
		}
		for _, secret := range []string{"boom", "SQLSTATE", "relation", "administrator", "dial"} {
			if strings.Contains(st.Message(), secret) {
				t.Fatalf("%s: message leaks internals: %q", tc.name, st.Message())
			}
		}
		if tc.reason != "" && reasonOf(st) != tc.reason {
			t.Fatalf("%s: reason %q, want %q", tc.name, reasonOf(st), tc.reason)
		}
	}
}

func TestInvalidRequestsGetFieldViolations(t *testing.T) {
	c := client(t)
	_, err := c.GetLead(context.Background(), &leadv1.GetLeadRequest{Name: "nope"})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code %v", st.Code())
	}
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				fields = append(fields, v.Field+":"+v.Reason)
			}
		}
	}
	if len(fields) != 1 || fields[0] != "name:STRING_PATTERN" {
		t.Fatalf("violations = %v", fields)
	}
}

func reasonOf(st *status.Status) string {
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return ei.Reason
		}
	}
	return ""
}

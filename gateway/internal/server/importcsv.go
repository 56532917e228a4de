package server

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/grpcx"
)

// CSV import: POST /v1/leads:importCsv with a CSV body (header row first)
// and the import options as query parameters. The answer streams as
// newline-delimited JSON: an ImportLeadsResponse per line (progress after
// each committed batch, then the job). A file the gateway cannot start on
// (empty, bad header, missing columns) gets a 400 status instead, and an
// error before the first line (no token, not allowed) its own status.

// csvColumns maps the documented column names to how they set a lead.
var csvColumns = map[string]func(l *leadv1.Lead, v string) error{
	"first_name":  func(l *leadv1.Lead, v string) error { l.FirstName = v; return nil },
	"last_name":   func(l *leadv1.Lead, v string) error { l.LastName = v; return nil },
	"company":     func(l *leadv1.Lead, v string) error { l.Company = v; return nil },
	"title":       func(l *leadv1.Lead, v string) error { l.Title = v; return nil },
	"email":       func(l *leadv1.Lead, v string) error { l.Email = v; return nil },
	"phone":       func(l *leadv1.Lead, v string) error { l.Phone = v; return nil },
	"website":     func(l *leadv1.Lead, v string) error { l.Website = v; return nil },
	"campaign":    func(l *leadv1.Lead, v string) error { l.Campaign = v; return nil },
	"owner":       func(l *leadv1.Lead, v string) error { l.Owner = v; return nil },
	"description": func(l *leadv1.Lead, v string) error { l.Description = v; return nil },
	"street": func(l *leadv1.Lead, v string) error {
		addr(l).AddressLines = append(addr(l).AddressLines, v)
		return nil
	},
	"city":        func(l *leadv1.Lead, v string) error { addr(l).Locality = v; return nil },
	"state":       func(l *leadv1.Lead, v string) error { addr(l).AdministrativeArea = v; return nil },
	"postal_code": func(l *leadv1.Lead, v string) error { addr(l).PostalCode = v; return nil },
	"country":     func(l *leadv1.Lead, v string) error { addr(l).RegionCode = strings.ToUpper(v); return nil },
	"source": func(l *leadv1.Lead, v string) error {
		n, err := enumValue(v, "SOURCE_", leadv1.Source_value)
		l.Source = leadv1.Source(n)
		return err
	},
	"rating": func(l *leadv1.Lead, v string) error {
		n, err := enumValue(v, "RATING_", leadv1.Rating_value)
		l.Rating = leadv1.Rating(n)
		return err
	},
	"status": func(l *leadv1.Lead, v string) error {
		n, err := enumValue(v, "STATUS_", leadv1.Status_value)
		l.Status = leadv1.Status(n)
		return err
	},
	"next_contact_time": func(l *leadv1.Lead, v string) error {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return fmt.Errorf("next_contact_time %q is not an RFC 3339 time", v)
		}
		l.NextContactTime = timestamppb.New(t)
		return nil
	},
}

// nameColumns: a file needs at least one, as a lead needs a name or a
// company.
var nameColumns = []string{"first_name", "last_name", "company"}

func addr(l *leadv1.Lead) *leadv1.PostalAddress {
	if l.Address == nil {
		l.Address = &leadv1.PostalAddress{}
	}
	return l.Address
}

// enumValue accepts HOT or RATING_HOT, any case.
func enumValue(v, prefix string, values map[string]int32) (int32, error) {
	name := strings.ToUpper(strings.TrimSpace(v))
	if n, ok := values[prefix+name]; ok && n != 0 {
		return n, nil
	}
	if n, ok := values[name]; ok && n != 0 {
		return n, nil
	}
	return 0, fmt.Errorf("%q is not a %s value", v, strings.ToLower(strings.TrimSuffix(prefix, "_")))
}

// CSVImportConfig bounds CSV uploads.
type CSVImportConfig struct {
	// MaxBodyBytes of an uploaded file.
	MaxBodyBytes int64
	// MaxRowBytes of one row; longer rows are rejected, not the file.
	MaxRowBytes int64
	// RowsPerMessage sent to the lead service.
	RowsPerMessage int
}

type csvImporter struct {
	leads leadv1.LeadServiceClient
	cfg   CSVImportConfig
}

type columnPlan struct {
	set    []func(l *leadv1.Lead, v string) error
	names  []string
	custom []string // custom field key per column, "" if not custom
}

func (c *csvImporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Progress goes out while the file still comes in: without full duplex,
	// an HTTP/1.1 server stops reading the body once the answer starts.
	if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
		writeStatus(w, status.New(codes.Internal, "streaming import not supported here"), http.StatusInternalServerError)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, c.cfg.MaxBodyBytes)
	q := r.URL.Query()
	opts, unknownAsCustom, bad := csvOptions(q)
	if bad != nil {
		writeStatus(w, bad, http.StatusBadRequest)
		return
	}
	cr := csv.NewReader(bufio.NewReaderSize(r.Body, 64<<10))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	switch {
	case errors.Is(err, io.EOF):
		writeStatus(w, badFile("EMPTY_FILE", "body", "the file is empty: a header row naming the columns comes first"), http.StatusBadRequest)
		return
	case err != nil:
		writeStatus(w, badFile("INVALID_HEADER", "body", "the header row cannot be read: "+err.Error()), http.StatusBadRequest)
		return
	}
	plan, st := planColumns(header, unknownAsCustom, opts.GetMode() == leadv1.ImportMode_IMPORT_MODE_UPSERT_BY_EMAIL)
	if st != nil {
		writeStatus(w, st, http.StatusBadRequest)
		return
	}

	ctx, cancel := context.WithCancel(outgoingContext(r))
	defer cancel()
	stream, err := c.leads.ImportLeads(ctx)
	if err != nil {
		writeStatus(w, status.Convert(err), http.StatusBadGateway)
		return
	}
	sendErr := make(chan error, 1)
	go func() { sendErr <- c.sendRows(stream, cr, plan, opts) }()

	flusher, _ := w.(http.Flusher)
	marshal := protojson.MarshalOptions{}
	for started := false; ; started = true {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !started {
			// Nothing answered yet (no token, not allowed, service down):
			// the status as for any call.
			st := status.Convert(err)
			writeStatus(w, st, runtime.HTTPStatusFromCode(st.Code()))
			return
		}
		if err != nil {
			// The answer is under way: the error is its last line.
			b, _ := protojson.Marshal(status.Convert(err).Proto())
			_, _ = w.Write(append([]byte(`{"error":`), append(b, '}', '\n')...))
			return
		}
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
		}
		b, _ := marshal.Marshal(resp)
		_, _ = w.Write(append(b, '\n'))
		if flusher != nil {
			flusher.Flush()
		}
	}
	<-sendErr
}

// sendRows streams the file's rows to the lead service.
func (c *csvImporter) sendRows(stream leadv1.LeadService_ImportLeadsClient, cr *csv.Reader, plan columnPlan, opts *leadv1.ImportOptions) error {
	defer stream.CloseSend() //nolint:errcheck
	if err := stream.Send(&leadv1.ImportLeadsRequest{Kind: &leadv1.ImportLeadsRequest_Options{Options: opts}}); err != nil {
		return err
	}
	var rows []*leadv1.ImportRow
	send := func() error {
		if len(rows) == 0 {
			return nil
		}
		err := stream.Send(&leadv1.ImportLeadsRequest{Kind: &leadv1.ImportLeadsRequest_Rows{Rows: &leadv1.ImportRows{Rows: rows}}})
		rows = nil
		return err
	}
	prev := cr.InputOffset()
	for {
		record, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		size := cr.InputOffset() - prev
		prev = cr.InputOffset()
		row := &leadv1.ImportRow{Line: int64(line)}
		var perr *csv.ParseError
		switch {
		case errors.As(err, &perr):
			row.Line, row.Unreadable = int64(perr.StartLine), "not valid CSV: "+perr.Err.Error()
		case err != nil:
			return err // the body broke off (client gone, or too large)
		case size > c.cfg.MaxRowBytes:
			row.Unreadable = fmt.Sprintf("row is %d bytes, more than the %d allowed", size, c.cfg.MaxRowBytes)
		default:
			row.Lead, row.Unreadable = plan.lead(record)
			if row.Unreadable != "" {
				row.Lead = nil
			}
		}
		rows = append(rows, row)
		if len(rows) >= c.cfg.RowsPerMessage {
			if err := send(); err != nil {
				return err
			}
		}
	}
	return send()
}

func (p columnPlan) lead(record []string) (*leadv1.Lead, string) {
	if len(record) != len(p.set) {
		return nil, fmt.Sprintf("the row has %d fields, the header %d", len(record), len(p.set))
	}
	l := &leadv1.Lead{}
	for i, v := range record {
		if !utf8.ValidString(v) {
			return nil, fmt.Sprintf("column %s is not valid UTF-8", p.names[i])
		}
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if key := p.custom[i]; key != "" {
			if l.CustomFields == nil {
				l.CustomFields = map[string]string{}
			}
			l.CustomFields[key] = v
			continue
		}
		if err := p.set[i](l, v); err != nil {
			return nil, err.Error()
		}
	}
	return l, ""
}

// planColumns checks the header and decides what each column sets.
// Columns named custom.<key>, or any unknown column when unknownAsCustom,
// become custom fields.
func planColumns(header []string, unknownAsCustom, needEmail bool) (columnPlan, *status.Status) {
	var plan columnPlan
	var violations []*errdetails.BadRequest_FieldViolation
	seen := map[string]bool{}
	for i, raw := range header {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(raw, "\ufeff")))
		field := fmt.Sprintf("header[%d]", i)
		switch {
		case !utf8.ValidString(name):
			violations = append(violations, &errdetails.BadRequest_FieldViolation{Field: field, Description: "column name is not valid UTF-8"})
		case name == "":
			violations = append(violations, &errdetails.BadRequest_FieldViolation{Field: field, Description: "column name is empty"})
		case seen[name]:
			violations = append(violations, &errdetails.BadRequest_FieldViolation{Field: field, Description: fmt.Sprintf("column %q appears twice", name)})
		}
		seen[name] = true
		set, known := csvColumns[name]
		custom := ""
		switch {
		case known:
		case strings.HasPrefix(name, "custom."):
			custom = strings.TrimPrefix(name, "custom.")
		case unknownAsCustom:
			custom = strings.NewReplacer(" ", "_", "-", "_").Replace(name)
		default:
			violations = append(violations, &errdetails.BadRequest_FieldViolation{Field: field,
				Description: fmt.Sprintf("unknown column %q (name it custom.%s, or send unknownColumns=custom_fields)", name, name)})
		}
		plan.set, plan.names, plan.custom = append(plan.set, set), append(plan.names, name), append(plan.custom, custom)
	}
	if len(violations) > 0 {
		return plan, badRequest("INVALID_HEADER", "the header row is not usable", violations)
	}
	hasName := false
	for _, c := range nameColumns {
		hasName = hasName || seen[c]
	}
	switch {
	case !hasName:
		return plan, badRequest("MISSING_COLUMN", "a lead needs a name or a company: the file needs a first_name, last_name or company column",
			[]*errdetails.BadRequest_FieldViolation{{Field: "header", Description: "no first_name, last_name or company column"}})
	case needEmail && !seen["email"]:
		return plan, badRequest("MISSING_COLUMN", "upsert by email needs an email column",
			[]*errdetails.BadRequest_FieldViolation{{Field: "header", Description: "no email column"}})
	}
	return plan, nil
}

// csvOptions reads the import options from the query string.
func csvOptions(q map[string][]string) (*leadv1.ImportOptions, bool, *status.Status) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	opts := &leadv1.ImportOptions{
		RequestId: get("requestId"), DisplayName: get("displayName"), DefaultOwner: get("defaultOwner"),
	}
	var violations []*errdetails.BadRequest_FieldViolation
	pick := func(param, prefix string, values map[string]int32) int32 {
		v := get(param)
		if v == "" {
			return 0
		}
		n, err := enumValue(v, prefix, values)
		if err != nil {
			violations = append(violations, &errdetails.BadRequest_FieldViolation{Field: param, Description: err.Error()})
		}
		return n
	}
	opts.Mode = leadv1.ImportMode(pick("mode", "IMPORT_MODE_", leadv1.ImportMode_value))
	opts.DuplicatePolicy = leadv1.DuplicatePolicy(pick("duplicatePolicy", "DUPLICATE_POLICY_", leadv1.DuplicatePolicy_value))
	opts.DefaultSource = leadv1.Source(pick("defaultSource", "SOURCE_", leadv1.Source_value))
	unknownAsCustom := false
	switch get("unknownColumns") {
	case "", "reject":
	case "custom_fields":
		unknownAsCustom = true
	default:
		violations = append(violations, &errdetails.BadRequest_FieldViolation{Field: "unknownColumns", Description: "must be reject or custom_fields"})
	}
	if len(violations) > 0 {
		return nil, false, badRequest("INVALID_ARGUMENT", "invalid import options", violations)
	}
	return opts, unknownAsCustom, nil
}

func badFile(reason, field, msg string) *status.Status {
	return badRequest(reason, msg, []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}})
}

func badRequest(reason, msg string, violations []*errdetails.BadRequest_FieldViolation) *status.Status {
	st, err := status.New(codes.InvalidArgument, msg).WithDetails(
		&errdetails.ErrorInfo{Reason: reason, Domain: grpcx.ErrorDomain},
		&errdetails.BadRequest{FieldViolations: violations},
	)
	if err != nil {
		return status.New(codes.InvalidArgument, msg)
	}
	return st
}

// outgoingContext forwards what the gateway forwards on its other routes:
// Authorization, the identity and trace headers.
func outgoingContext(r *http.Request) context.Context {
	md := metadata.MD{}
	for key, vals := range r.Header {
		switch k := strings.ToLower(key); k {
		case "authorization", "x-actor", "traceparent", "tracestate", "x-request-id":
			md.Append(k, vals...)
		}
	}
	return metadata.NewOutgoingContext(r.Context(), md)
}

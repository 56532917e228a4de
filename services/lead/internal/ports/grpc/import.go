package grpc

import (
	"context"
	"errors"
	"fmt"
	"io"

	"buf.build/go/protovalidate"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/lead/internal/app"
	"github.com/crmsuite/crm/services/lead/internal/domain"
	"github.com/crmsuite/crm/services/lead/internal/protomap"
)

// ImportConfig bounds imports.
type ImportConfig struct {
	// BatchRows are committed together (and reported as one progress).
	BatchRows int
	// MaxRows an import may have; rows beyond are refused.
	MaxRows int64
}

// ImportServer adds the import RPCs to Server.
type ImportServer struct {
	importer  *app.Importer
	cfg       ImportConfig
	validator protovalidate.Validator
	published func()
}

// WithImports lets s serve imports.
func (s *Server) WithImports(im *app.Importer, cfg ImportConfig, v protovalidate.Validator) *Server {
	if cfg.BatchRows <= 0 {
		cfg.BatchRows = 2000
	}
	s.imports = &ImportServer{importer: im, cfg: cfg, validator: v, published: s.published}
	return s
}

func (s *Server) ImportLeads(stream leadv1.LeadService_ImportLeadsServer) error {
	return s.imports.run(stream)
}

func (im *ImportServer) run(stream leadv1.LeadService_ImportLeadsServer) (err error) {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.GetOptions() == nil {
		return apperr.InvalidField("options", "OPTIONS_FIRST", "the first message of an import must be its options")
	}
	job, err := im.importer.Start(ctx, importOptions(first.GetOptions()))
	if err != nil {
		return err
	}
	if job.State == domain.ImportSucceeded {
		// Sent again after it finished: nothing to do but say so.
		for {
			if _, err := stream.Recv(); err != nil {
				break
			}
		}
		return stream.Send(&leadv1.ImportLeadsResponse{Kind: &leadv1.ImportLeadsResponse_Job{Job: importJob(job)}})
	}
	defer func() {
		if err != nil {
			// Committed batches stay; the job says why it stopped, and a
			// retry with the same request_id picks up from there.
			_ = im.importer.Finish(context.WithoutCancel(ctx), job, err)
		}
	}()

	// Rows are read, validated and prepared (their keys parsed) in one
	// goroutine while the previous batch commits in this one.
	batches := make(chan []domain.ImportRow, 1)
	var limitLine int64
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- im.read(stream, job, batches, &limitLine)
	}()
	for batch := range batches {
		_, rejections, err := im.importer.Batch(ctx, job, batch)
		if err != nil {
			go func() {
				for range batches { // let the reader finish
				}
			}()
			return err
		}
		im.published()
		progress := &leadv1.ImportProgress{Counts: importCounts(job.Counts)}
		for _, r := range rejections {
			progress.Rejections = append(progress.Rejections, importRejection(r))
		}
		if err := stream.Send(&leadv1.ImportLeadsResponse{Kind: &leadv1.ImportLeadsResponse_Progress{Progress: progress}}); err != nil {
			return err
		}
	}
	if err := <-readErr; err != nil {
		return err
	}
	if limitLine > 0 {
		return im.refuseBeyondLimit(ctx, stream, job, limitLine)
	}
	if err := im.importer.Finish(ctx, job, nil); err != nil {
		return err
	}
	return stream.Send(&leadv1.ImportLeadsResponse{Kind: &leadv1.ImportLeadsResponse_Job{Job: importJob(job)}})
}

// read receives the rows, validates and prepares them, and hands them over
// in batches. At the row limit it stops reading and sets *limitLine to the
// first line not taken.
func (im *ImportServer) read(stream leadv1.LeadService_ImportLeadsServer, job *domain.ImportJob, batches chan<- []domain.ImportRow, limitLine *int64) error {
	var batch []domain.ImportRow
	var line, taken int64
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if msg.GetOptions() != nil {
			return apperr.InvalidField("options", "OPTIONS_FIRST", "options come once, in the first message")
		}
		for _, r := range msg.GetRows().GetRows() {
			line++
			if r.GetLine() > 0 {
				line = r.GetLine()
			}
			if im.cfg.MaxRows > 0 && taken >= im.cfg.MaxRows {
				if len(batch) > 0 {
					batches <- batch
				}
				*limitLine = line
				return nil
			}
			taken++
			row := im.row(line, r)
			im.importer.Prepare(&row)
			batch = append(batch, row)
			if len(batch) >= im.cfg.BatchRows {
				batches <- batch
				batch = nil
			}
		}
	}
	if len(batch) > 0 {
		batches <- batch
	}
	return nil
}

// refuseBeyondLimit ends an import that has more rows than allowed: what
// came before the limit is imported; the job fails, saying where it
// stopped.
func (im *ImportServer) refuseBeyondLimit(ctx context.Context, stream leadv1.LeadService_ImportLeadsServer, job *domain.ImportJob, line int64) error {
	limit := fmt.Sprintf("an import may have at most %d rows; rows from line %d on were not imported", im.cfg.MaxRows, line)
	rej := domain.ImportRejection{Line: line, Reason: domain.RejectRowLimit, Message: limit}
	if _, _, err := im.importer.Batch(ctx, job, []domain.ImportRow{{Line: line, Invalid: errRowLimit}}); err != nil {
		return err
	}
	if err := im.importer.Finish(ctx, job, errors.New(limit)); err != nil {
		return err
	}
	progress := &leadv1.ImportProgress{Counts: importCounts(job.Counts), Rejections: []*leadv1.ImportRejection{importRejection(rej)}}
	if err := stream.Send(&leadv1.ImportLeadsResponse{Kind: &leadv1.ImportLeadsResponse_Progress{Progress: progress}}); err != nil {
		return err
	}
	return stream.Send(&leadv1.ImportLeadsResponse{Kind: &leadv1.ImportLeadsResponse_Job{Job: importJob(job)}})
}

var errRowLimit = apperr.ResourceExhausted(domain.RejectRowLimit, "the import's row limit was reached")

// row validates one row like CreateLead's lead; a bad row is kept, marked
// invalid, to be reported with its line.
func (im *ImportServer) row(line int64, r *leadv1.ImportRow) domain.ImportRow {
	if msg := r.GetUnreadable(); msg != "" {
		return domain.ImportRow{Line: line, Invalid: apperr.InvalidField("row", "UNREADABLE_ROW", "%s", msg)}
	}
	l := r.GetLead()
	if l == nil {
		return domain.ImportRow{Line: line, Invalid: apperr.InvalidField("lead", "LEAD_REQUIRED", "the row has no lead")}
	}
	if err := grpcx.Validate(im.validator, l); err != nil {
		return domain.ImportRow{Line: line, Invalid: err}
	}
	lead := protomap.LeadFromProto(l)
	return domain.ImportRow{Line: line, Lead: lead, Fields: lead.GivenFields()}
}

func (s *Server) GetImportJob(ctx context.Context, req *leadv1.GetImportJobRequest) (*leadv1.ImportJob, error) {
	id, err := resname.ParseField(req.GetName(), "importJobs", "name")
	if err != nil {
		return nil, err
	}
	job, err := s.imports.importer.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	return importJob(job), nil
}

func (s *Server) ListImportRejections(ctx context.Context, req *leadv1.ListImportRejectionsRequest) (*leadv1.ListImportRejectionsResponse, error) {
	id, err := resname.ParseField(req.GetParent(), "importJobs", "parent")
	if err != nil {
		return nil, err
	}
	rejections, next, err := s.imports.importer.Rejections(ctx, id, paging.Size(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &leadv1.ListImportRejectionsResponse{NextPageToken: next}
	for _, r := range rejections {
		resp.Rejections = append(resp.Rejections, importRejection(r))
	}
	return resp, nil
}

func importOptions(o *leadv1.ImportOptions) domain.ImportOptions {
	opts := domain.ImportOptions{
		DefaultOwner: o.GetDefaultOwner(), DisplayName: o.GetDisplayName(),
		DefaultSource: protomap.LeadFromProto(&leadv1.Lead{Source: o.GetDefaultSource()}).Source,
	}
	if id, err := uuid.Parse(o.GetRequestId()); err == nil {
		opts.RequestID = id
	}
	switch o.GetMode() {
	case leadv1.ImportMode_IMPORT_MODE_UPSERT_BY_EMAIL:
		opts.Mode = domain.ImportUpsertByEmail
	case leadv1.ImportMode_IMPORT_MODE_CREATE_ONLY:
		opts.Mode = domain.ImportCreateOnly
	}
	switch o.GetDuplicatePolicy() {
	case leadv1.DuplicatePolicy_DUPLICATE_POLICY_CREATE_ANYWAY:
		opts.Policy = domain.DuplicatesCreateAnyway
	case leadv1.DuplicatePolicy_DUPLICATE_POLICY_UPDATE:
		opts.Policy = domain.DuplicatesUpdate
	case leadv1.DuplicatePolicy_DUPLICATE_POLICY_SKIP:
		opts.Policy = domain.DuplicatesSkip
	}
	return opts
}

func importJob(j *domain.ImportJob) *leadv1.ImportJob {
	p := &leadv1.ImportJob{
		Name: "importJobs/" + j.ID.String(), DisplayName: j.Options.DisplayName,
		State: leadv1.ImportJob_State(leadv1.ImportJob_State_value["STATE_"+j.State]),
		Options: &leadv1.ImportOptions{
			DefaultOwner: j.Options.DefaultOwner, DisplayName: j.Options.DisplayName,
			Mode:            leadv1.ImportMode(leadv1.ImportMode_value["IMPORT_MODE_"+string(j.Options.Mode)]),
			DuplicatePolicy: leadv1.DuplicatePolicy(leadv1.DuplicatePolicy_value["DUPLICATE_POLICY_"+string(j.Options.Policy)]),
			DefaultSource:   protomap.Lead(&domain.Lead{Source: j.Options.DefaultSource}).GetSource(),
		},
		Counts: importCounts(j.Counts), CreatedBy: j.CreatedBy, CreateTime: timestamppb.New(j.CreatedAt), Error: j.Error,
	}
	if j.Options.RequestID != uuid.Nil {
		p.Options.RequestId = j.Options.RequestID.String()
	}
	if j.FinishedAt != nil {
		p.FinishTime = timestamppb.New(*j.FinishedAt)
	}
	return p
}

func importCounts(c domain.ImportCounts) *leadv1.ImportCounts {
	return &leadv1.ImportCounts{Received: c.Received, Created: c.Created, Updated: c.Updated, Skipped: c.Skipped, Rejected: c.Rejected}
}

func importRejection(r domain.ImportRejection) *leadv1.ImportRejection {
	return &leadv1.ImportRejection{Line: r.Line, Reason: r.Reason, Message: r.Message, Fields: r.Fields, Duplicates: r.Duplicates}
}

// Package grpc is the account service's gRPC API: it maps requests to use
// cases and results back, makes create and custom methods idempotent by
// request_id, and names the request fields in every validation error.
package grpc

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	auditv1 "github.com/crmsuite/crm/gen/go/crm/audit/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/customerkey"
	"github.com/crmsuite/crm/platform/idempotency"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/account/internal/app"
	"github.com/crmsuite/crm/services/account/internal/domain"
	"github.com/crmsuite/crm/services/account/internal/protomap"
)

// Server implements accountv1.AccountServiceServer.
type Server struct {
	accountv1.UnimplementedAccountServiceServer
	app  *app.Service
	idem *idempotency.Store
	// published is called after every successful change, to wake the
	// outbox relay.
	published func()
}

// New returns the gRPC API over the use cases.
func New(a *app.Service, idem *idempotency.Store, published func()) *Server {
	return &Server{app: a, idem: idem, published: published}
}

func (s *Server) CreateAccount(ctx context.Context, req *accountv1.CreateAccountRequest) (_ *accountv1.Account, err error) {
	defer s.wakeRelay(&err)
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "CreateAccount", req, func(ctx context.Context) (*accountv1.Account, error) {
		a, err := s.app.CreateAccount(ctx, protomap.AccountFromProto(req.GetAccount()), req.GetRequestId(), req.GetAllowDuplicate())
		if err != nil {
			return nil, apperr.PrefixFields(err, "account.")
		}
		return protomap.Account(a), nil
	})
}

func (s *Server) GetAccount(ctx context.Context, req *accountv1.GetAccountRequest) (*accountv1.Account, error) {
	id, err := resname.ParseField(req.GetName(), "accounts", "name")
	if err != nil {
		return nil, err
	}
	a, err := s.app.GetAccount(ctx, id)
	if err != nil {
		return nil, err
	}
	return protomap.Account(a), nil
}

func (s *Server) ListAccounts(ctx context.Context, req *accountv1.ListAccountsRequest) (*accountv1.ListAccountsResponse, error) {
	if req.GetPageSize() < 0 {
		return nil, apperr.InvalidField("page_size", "NEGATIVE_PAGE_SIZE", "page_size must not be negative")
	}
	as, next, err := s.app.ListAccounts(ctx, app.ListQuery{
		Filter: req.GetFilter(), OrderBy: req.GetOrderBy(), PageSize: paging.Size(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	resp := &accountv1.ListAccountsResponse{Accounts: make([]*accountv1.Account, len(as)), NextPageToken: next}
	for i, a := range as {
		resp.Accounts[i] = protomap.Account(a)
	}
	return resp, nil
}

func (s *Server) UpdateAccount(ctx context.Context, req *accountv1.UpdateAccountRequest) (_ *accountv1.Account, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetAccount().GetName(), "accounts", "account.name")
	if err != nil {
		return nil, err
	}
	paths, err := updateMask(req.GetUpdateMask(), req.GetAccount(), accountOutputOnly, domain.AccountFields)
	if err != nil {
		return nil, err
	}
	a, err := s.app.UpdateAccount(ctx, id, protomap.AccountFromProto(req.GetAccount()), paths, req.GetAccount().GetEtag())
	if err != nil {
		return nil, apperr.PrefixFields(err, "account.")
	}
	return protomap.Account(a), nil
}

func (s *Server) DeactivateAccount(ctx context.Context, req *accountv1.DeactivateAccountRequest) (_ *accountv1.Account, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetName(), "accounts", "name")
	if err != nil {
		return nil, err
	}
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "DeactivateAccount", req, func(ctx context.Context) (*accountv1.Account, error) {
		a, err := s.app.DeactivateAccount(ctx, id, req.GetReason(), req.GetEtag(), req.GetRequestId())
		if err != nil {
			return nil, err
		}
		return protomap.Account(a), nil
	})
}

func (s *Server) ActivateAccount(ctx context.Context, req *accountv1.ActivateAccountRequest) (_ *accountv1.Account, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetName(), "accounts", "name")
	if err != nil {
		return nil, err
	}
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "ActivateAccount", req, func(ctx context.Context) (*accountv1.Account, error) {
		a, err := s.app.ActivateAccount(ctx, id, req.GetEtag(), req.GetRequestId())
		if err != nil {
			return nil, err
		}
		return protomap.Account(a), nil
	})
}

func (s *Server) CreateContact(ctx context.Context, req *accountv1.CreateContactRequest) (_ *accountv1.Contact, err error) {
	defer s.wakeRelay(&err)
	in, ok := protomap.ContactFromProto(req.GetContact())
	if !ok {
		return nil, resname.Invalid("contact.account", "accounts", req.GetContact().GetAccount())
	}
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "CreateContact", req, func(ctx context.Context) (*accountv1.Contact, error) {
		c, err := s.app.CreateContact(ctx, in, req.GetRequestId(), req.GetAllowDuplicate())
		if err != nil {
			return nil, apperr.PrefixFields(err, "contact.")
		}
		return protomap.Contact(c), nil
	})
}

func (s *Server) GetContact(ctx context.Context, req *accountv1.GetContactRequest) (*accountv1.Contact, error) {
	id, err := resname.ParseField(req.GetName(), "contacts", "name")
	if err != nil {
		return nil, err
	}
	c, err := s.app.GetContact(ctx, id)
	if err != nil {
		return nil, err
	}
	return protomap.Contact(c), nil
}

func (s *Server) ListContacts(ctx context.Context, req *accountv1.ListContactsRequest) (*accountv1.ListContactsResponse, error) {
	if req.GetPageSize() < 0 {
		return nil, apperr.InvalidField("page_size", "NEGATIVE_PAGE_SIZE", "page_size must not be negative")
	}
	cs, next, err := s.app.ListContacts(ctx, app.ListQuery{
		Filter: req.GetFilter(), OrderBy: req.GetOrderBy(), PageSize: paging.Size(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	resp := &accountv1.ListContactsResponse{Contacts: make([]*accountv1.Contact, len(cs)), NextPageToken: next}
	for i, c := range cs {
		resp.Contacts[i] = protomap.Contact(c)
	}
	return resp, nil
}

func (s *Server) UpdateContact(ctx context.Context, req *accountv1.UpdateContactRequest) (_ *accountv1.Contact, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetContact().GetName(), "contacts", "contact.name")
	if err != nil {
		return nil, err
	}
	paths, err := updateMask(req.GetUpdateMask(), req.GetContact(), contactOutputOnly, domain.ContactFields)
	if err != nil {
		return nil, err
	}
	in, ok := protomap.ContactFromProto(req.GetContact())
	if !ok {
		return nil, resname.Invalid("contact.account", "accounts", req.GetContact().GetAccount())
	}
	c, err := s.app.UpdateContact(ctx, id, in, paths, req.GetContact().GetEtag())
	if err != nil {
		return nil, apperr.PrefixFields(err, "contact.")
	}
	return protomap.Contact(c), nil
}

func (s *Server) DeleteContact(ctx context.Context, req *accountv1.DeleteContactRequest) (_ *emptypb.Empty, err error) {
	defer s.wakeRelay(&err)
	id, err := resname.ParseField(req.GetName(), "contacts", "name")
	if err != nil {
		return nil, err
	}
	if err := s.app.DeleteContact(ctx, id, req.GetEtag()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *Server) MatchCustomers(ctx context.Context, req *accountv1.MatchCustomersRequest) (*accountv1.MatchCustomersResponse, error) {
	q := MatchQuery(req, s.app.PhoneRegion())
	accounts, contacts, err := s.app.MatchCustomers(ctx, q)
	if err != nil {
		return nil, err
	}
	resp := &accountv1.MatchCustomersResponse{}
	for _, m := range accounts {
		resp.Accounts = append(resp.Accounts, &accountv1.AccountMatch{Account: protomap.Account(m.Account), Rules: rules(m.Rules)})
	}
	for _, m := range contacts {
		resp.Contacts = append(resp.Contacts, &accountv1.ContactMatch{Contact: protomap.Contact(m.Contact), Rules: rules(m.Rules)})
	}
	return resp, nil
}

func (s *Server) FindAccountDuplicates(ctx context.Context, req *accountv1.FindAccountDuplicatesRequest) (*accountv1.FindAccountDuplicatesResponse, error) {
	id, err := resname.ParseField(req.GetName(), "accounts", "name")
	if err != nil {
		return nil, err
	}
	ms, err := s.app.FindAccountDuplicates(ctx, id)
	if err != nil {
		return nil, err
	}
	resp := &accountv1.FindAccountDuplicatesResponse{}
	for _, m := range ms {
		resp.Matches = append(resp.Matches, &accountv1.AccountMatch{Account: protomap.Account(m.Account), Rules: rules(m.Rules)})
	}
	return resp, nil
}

func (s *Server) FindContactDuplicates(ctx context.Context, req *accountv1.FindContactDuplicatesRequest) (*accountv1.FindContactDuplicatesResponse, error) {
	id, err := resname.ParseField(req.GetName(), "contacts", "name")
	if err != nil {
		return nil, err
	}
	ms, err := s.app.FindContactDuplicates(ctx, id)
	if err != nil {
		return nil, err
	}
	resp := &accountv1.FindContactDuplicatesResponse{}
	for _, m := range ms {
		resp.Matches = append(resp.Matches, &accountv1.ContactMatch{Contact: protomap.Contact(m.Contact), Rules: rules(m.Rules)})
	}
	return resp, nil
}

func (s *Server) ListAccountDuplicateGroups(ctx context.Context, req *accountv1.ListAccountDuplicateGroupsRequest) (*accountv1.ListAccountDuplicateGroupsResponse, error) {
	groups, next, err := s.duplicateGroups(ctx, "accounts", req.GetRule(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &accountv1.ListAccountDuplicateGroupsResponse{NextPageToken: next}
	for _, g := range groups {
		resp.Groups = append(resp.Groups, &accountv1.AccountDuplicateGroup{Rule: rules([]string{g.Rule})[0], Key: g.Key, Accounts: resourceNames("accounts", g.IDs)})
	}
	return resp, nil
}

func (s *Server) ListContactDuplicateGroups(ctx context.Context, req *accountv1.ListContactDuplicateGroupsRequest) (*accountv1.ListContactDuplicateGroupsResponse, error) {
	groups, next, err := s.duplicateGroups(ctx, "contacts", req.GetRule(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &accountv1.ListContactDuplicateGroupsResponse{NextPageToken: next}
	for _, g := range groups {
		resp.Groups = append(resp.Groups, &accountv1.ContactDuplicateGroup{Rule: rules([]string{g.Rule})[0], Key: g.Key, Contacts: resourceNames("contacts", g.IDs)})
	}
	return resp, nil
}

// duplicateGroups checks a ListXDuplicateGroups request (the rule must be
// one of the collection's) and pages.
func (s *Server) duplicateGroups(ctx context.Context, collection string, rule accountv1.MatchRule, pageSize int32, pageToken string) ([]app.DuplicateGroup, string, error) {
	if pageSize < 0 {
		return nil, "", apperr.InvalidField("page_size", "NEGATIVE_PAGE_SIZE", "page_size must not be negative")
	}
	allowed := app.AccountDuplicateRules
	if collection == "contacts" {
		allowed = app.ContactDuplicateRules
	}
	r := ""
	if rule != accountv1.MatchRule_MATCH_RULE_UNSPECIFIED {
		r = strings.TrimPrefix(rule.String(), "MATCH_RULE_")
		if !slices.Contains(allowed, r) {
			return nil, "", apperr.InvalidField("rule", "RULE_NOT_APPLICABLE",
				"%s duplicates are found by %s only", strings.TrimSuffix(collection, "s"), strings.Join(allowed, ", "))
		}
	}
	return s.app.ListDuplicateGroups(ctx, collection, r, paging.Size(pageSize), pageToken)
}

func resourceNames(collection string, ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = collection + "/" + id.String()
	}
	return out
}

// MatchQuery turns a request into matching keys: the same normalisation
// the stored keys went through (platform/customerkey).
func MatchQuery(req *accountv1.MatchCustomersRequest, region string) app.MatchQuery {
	limit := int(req.GetLimit())
	switch {
	case limit <= 0:
		limit = 10
	case limit > 50:
		limit = 50
	}
	q := app.MatchQuery{
		Email: customerkey.Email(req.GetEmail()), Phone: customerkey.Phone(req.GetPhone(), region),
		NameKey: customerkey.Fold(req.GetCompany()), WebsiteDomain: customerkey.Domain(req.GetWebsite()), Limit: limit,
	}
	if q.Email != "" {
		q.EmailDomain = customerkey.EmailDomain(q.Email)
	}
	return q
}

func rules(rs []string) []accountv1.MatchRule {
	out := make([]accountv1.MatchRule, len(rs))
	for i, r := range rs {
		out[i] = accountv1.MatchRule(accountv1.MatchRule_value["MATCH_RULE_"+r])
	}
	return out
}

// wakeRelay tells the outbox relay there is something to publish, when
// the call that changed something succeeded.
func (s *Server) wakeRelay(err *error) {
	if *err == nil && s.published != nil {
		s.published()
	}
}

// Output-only fields may appear in a mask (grpc-gateway derives masks from
// PATCH bodies that echo a whole resource) and are ignored.
var (
	accountOutputOnly = map[string]bool{
		"name": true, "etag": true, "state": true, "primary_contact": true, "source_lead": true, "merged_into": true,
		"create_time": true, "created_by": true, "update_time": true, "updated_by": true,
	}
	contactOutputOnly = map[string]bool{
		"name": true, "etag": true, "source_lead": true, "merged_into": true,
		"create_time": true, "created_by": true, "update_time": true, "updated_by": true,
	}
)

// updateMask returns the domain fields to update: the mask's paths, all
// updatable fields for "*", or the fields set in the request's resource
// when there is no mask (AIP-134). Unknown paths are InvalidArgument on
// update_mask; a sub-path is allowed only into custom_fields.
func updateMask(mask *fieldmaskpb.FieldMask, res proto.Message, outputOnly map[string]bool, all []domain.Field) ([]domain.Field, error) {
	paths := mask.GetPaths()
	if len(paths) == 0 {
		res.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			paths = append(paths, string(fd.Name()))
			return true
		})
	}
	var fields []domain.Field
	var vs apperr.Violations
	desc := res.ProtoReflect().Descriptor().Fields()
	for _, p := range paths {
		if p == "*" {
			return all, nil
		}
		top, sub, hasSub := strings.Cut(p, ".")
		switch {
		case outputOnly[top]:
		case desc.ByName(protoreflect.Name(top)) == nil:
			vs.Add("update_mask", "UNKNOWN_FIELD", "%s has no field %q", desc.Get(0).ContainingMessage().Name(), p)
		case hasSub && (top != string(domain.FieldCustomFields) || sub == ""):
			vs.Add("update_mask", "FIELD_NOT_UPDATABLE", "%q: only custom_fields has updatable sub-fields", p)
		default:
			fields = append(fields, domain.Field(p))
		}
	}
	return fields, vs.Err()
}

func (s *Server) ListAuditEntries(ctx context.Context, req *accountv1.ListAuditEntriesRequest) (*auditv1.ListAuditEntriesResponse, error) {
	q, collection, id, err := audit.ParseRequest(req, "accounts", "contacts")
	if err != nil {
		return nil, err
	}
	entries, next, err := s.app.ListAuditEntries(ctx, collection, id, q)
	if err != nil {
		return nil, err
	}
	return audit.Response(entries, next)
}

func (s *Server) ListContactRoles(ctx context.Context, _ *accountv1.ListContactRolesRequest) (*accountv1.ContactRoles, error) {
	rs, version, err := s.app.ContactRoles(ctx)
	if err != nil {
		return nil, err
	}
	return protomap.ContactRoles(rs, version), nil
}

func (s *Server) UpdateContactRoles(ctx context.Context, req *accountv1.UpdateContactRolesRequest) (*accountv1.ContactRoles, error) {
	in := make([]domain.ContactRole, len(req.GetRoles()))
	for i, r := range req.GetRoles() {
		in[i] = domain.ContactRole{ID: r.GetId(), DisplayName: r.GetDisplayName()}
	}
	rs, version, err := s.app.UpdateContactRoles(ctx, in, req.GetEtag())
	if err != nil {
		return nil, err
	}
	return protomap.ContactRoles(rs, version), nil
}

func (s *Server) ListUpcomingBirthdays(ctx context.Context, req *accountv1.ListUpcomingBirthdaysRequest) (*accountv1.ListUpcomingBirthdaysResponse, error) {
	if req.GetPageSize() < 0 {
		return nil, apperr.InvalidField("page_size", "NEGATIVE_PAGE_SIZE", "page_size must not be negative")
	}
	loc := time.UTC
	if tz := req.GetTimeZone(); tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil || strings.EqualFold(tz, "local") {
			return nil, apperr.InvalidField("time_zone", "UNKNOWN_TIME_ZONE", "%q is not an IANA time zone", tz)
		}
		loc = l
	}
	bs, next, err := s.app.ListUpcomingBirthdays(ctx, int(req.GetDays()), loc, app.ListQuery{
		Filter: req.GetFilter(), PageSize: paging.Size(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	resp := &accountv1.ListUpcomingBirthdaysResponse{NextPageToken: next}
	for _, b := range bs {
		resp.Birthdays = append(resp.Birthdays, &accountv1.UpcomingBirthday{
			Contact:   protomap.Contact(b.Contact),
			Date:      &date.Date{Year: int32(b.Date.Year()), Month: int32(b.Date.Month()), Day: int32(b.Date.Day())},
			DaysUntil: int32(b.DaysUntil),
			Age:       int32(b.Age),
		})
	}
	return resp, nil
}

func (s *Server) MergeAccounts(ctx context.Context, req *accountv1.MergeAccountsRequest) (_ *accountv1.MergeAccountsResponse, err error) {
	defer s.wakeRelay(&err)
	survivor, err := resname.ParseField(req.GetSurvivor(), "accounts", "survivor")
	if err != nil {
		return nil, err
	}
	merged, err := parseNames(req.GetMerged(), "accounts", "merged")
	if err != nil {
		return nil, err
	}
	typ := domain.AccountType("")
	if req.GetType() != accountv1.AccountType_ACCOUNT_TYPE_UNSPECIFIED {
		typ = protomap.AccountFromProto(&accountv1.Account{Type: req.GetType()}).Type
	}
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "MergeAccounts", req, func(ctx context.Context) (*accountv1.MergeAccountsResponse, error) {
		res, err := s.app.MergeAccounts(ctx, survivor, merged, typ, req.GetEtag(), req.GetRequestId(), req.GetDryRun())
		if err != nil {
			return nil, err
		}
		resp := &accountv1.MergeAccountsResponse{
			Account: protomap.Account(res.Account), AddedAddresses: int32(res.AddedAddresses), OpenOrders: int32(res.OpenOrders),
			DryRun: req.GetDryRun(), MovedContacts: make([]string, len(res.MovedContacts)),
		}
		for _, m := range res.Merged {
			resp.MergedAccounts = append(resp.MergedAccounts, protomap.Account(m))
		}
		for i, c := range res.MovedContacts {
			resp.MovedContacts[i] = protomap.ContactName(c)
		}
		return resp, nil
	})
}

func (s *Server) MergeContacts(ctx context.Context, req *accountv1.MergeContactsRequest) (_ *accountv1.MergeContactsResponse, err error) {
	defer s.wakeRelay(&err)
	survivor, err := resname.ParseField(req.GetSurvivor(), "contacts", "survivor")
	if err != nil {
		return nil, err
	}
	merged, err := parseNames(req.GetMerged(), "contacts", "merged")
	if err != nil {
		return nil, err
	}
	return idempotency.Do(ctx, s.idem, req.GetRequestId(), "MergeContacts", req, func(ctx context.Context) (*accountv1.MergeContactsResponse, error) {
		res, err := s.app.MergeContacts(ctx, survivor, merged, req.GetEtag(), req.GetRequestId(), req.GetDryRun())
		if err != nil {
			return nil, err
		}
		resp := &accountv1.MergeContactsResponse{Contact: protomap.Contact(res.Contact), ChangedFields: res.Changed, DryRun: req.GetDryRun()}
		for _, m := range res.Merged {
			resp.MergedContacts = append(resp.MergedContacts, protomap.Contact(m))
		}
		return resp, nil
	})
}

// parseNames parses a repeated resource-name field.
func parseNames(ns []string, collection, field string) ([]uuid.UUID, error) {
	out := make([]uuid.UUID, len(ns))
	for i, n := range ns {
		id, err := resname.ParseField(n, collection, fmt.Sprintf("%s[%d]", field, i))
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}

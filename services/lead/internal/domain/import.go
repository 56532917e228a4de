package domain

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// ImportMode says how import rows meet existing leads.
type ImportMode string

const (
	ImportCreateOnly    ImportMode = "CREATE_ONLY"
	ImportUpsertByEmail ImportMode = "UPSERT_BY_EMAIL"
)

// DuplicatePolicy says what an import does with a row that looks like an
// existing lead or an earlier row.
type DuplicatePolicy string

const (
	DuplicatesSkip         DuplicatePolicy = "SKIP"
	DuplicatesCreateAnyway DuplicatePolicy = "CREATE_ANYWAY"
	DuplicatesUpdate       DuplicatePolicy = "UPDATE"
)

// Import job states.
const (
	ImportRunning   = "RUNNING"
	ImportSucceeded = "SUCCEEDED"
	ImportFailed    = "FAILED"
)

// Rejection reasons.
const (
	RejectInvalidRow       = "INVALID_ROW"
	RejectDuplicateSkipped = "DUPLICATE_SKIPPED"
	RejectRowLimit         = "ROW_LIMIT_EXCEEDED"
)

// ImportOptions are chosen once per import.
type ImportOptions struct {
	// RequestID makes the import resumable: rows get ids derived from it
	// and their line, so sending the import again creates nothing twice.
	RequestID     uuid.UUID
	Mode          ImportMode
	Policy        DuplicatePolicy
	DefaultSource Source
	DefaultOwner  string
	DisplayName   string
}

// ImportCounts are what an import did with its rows.
type ImportCounts struct {
	Received, Created, Updated, Skipped, Rejected int64
}

// Add returns c plus d.
func (c ImportCounts) Add(d ImportCounts) ImportCounts {
	return ImportCounts{c.Received + d.Received, c.Created + d.Created, c.Updated + d.Updated, c.Skipped + d.Skipped, c.Rejected + d.Rejected}
}

// ImportJob is an import, running or finished.
type ImportJob struct {
	ID         uuid.UUID
	Options    ImportOptions
	State      string
	Attempt    int
	Counts     ImportCounts
	Error      string
	CreatedBy  string
	CreatedAt  time.Time
	FinishedAt *time.Time
}

// ImportRow is one row: the lead it describes, where it came from, and
// whether it already failed validation on the way in.
type ImportRow struct {
	Line int64
	Lead Lead
	// Fields names the fields the row gave (non-empty), for updates.
	Fields []Field
	// Invalid is the row's validation error, if any.
	Invalid error
	// Keys are the lead's duplicate keys (computed once: phone numbers are
	// costly to parse).
	Keys DuplicateKeys
}

// ImportRejection is a row an import did not take, and why.
type ImportRejection struct {
	Line       int64
	Reason     string
	Message    string
	Fields     []string
	Duplicates []string
}

// RowID is the id a row's lead gets: derived from the request id and the
// line when the import has one (so a re-sent row is recognised), else new.
func (j *ImportJob) RowID(line int64) uuid.UUID {
	if j.Options.RequestID == uuid.Nil {
		return uuid.Must(uuid.NewV7())
	}
	return uuid.NewSHA1(j.Options.RequestID, []byte("line:"+strconv.FormatInt(line, 10)))
}

// ExistingLeads is what the store knows about a batch's rows: which row
// ids are already leads (imported by an earlier attempt), and which leads
// hold each key, oldest first.
type ExistingLeads struct {
	Imported map[uuid.UUID]bool
	ByKey    map[DuplicateRule]map[string][]uuid.UUID
	// Customers are the contacts and accounts (resource names) holding
	// each key: a row like one is a duplicate as a row like a lead is,
	// except that UPDATE has no lead to update and skips it.
	Customers map[DuplicateRule]map[string][]string
}

// ImportUpdate changes an existing lead with a row's given fields.
type ImportUpdate struct {
	LeadID uuid.UUID
	Line   int64
	Patch  Lead
	Mask   []Field
}

// ImportPlan is what to do with a batch.
type ImportPlan struct {
	Creates []*Lead
	// CreateKeys are the duplicate keys of Creates, index by index.
	CreateKeys []DuplicateKeys
	Updates    []ImportUpdate
	Counts     ImportCounts
	Rejections []ImportRejection
}

// PlanImport decides, row by row in order, whether each row is rejected,
// skipped, creates a lead or updates one, by the job's mode and duplicate
// policy. Rows are compared with existing leads and with earlier rows of
// the batch (earlier batches are existing leads by then).
func (j *ImportJob) PlanImport(rows []ImportRow, existing ExistingLeads, actor string, now time.Time) ImportPlan {
	plan := ImportPlan{Counts: ImportCounts{Received: int64(len(rows))}}
	type pending struct {
		lead *Lead
		line int64
	}
	batch := map[DuplicateRule]map[string]*pending{RuleEmail: {}, RulePhone: {}, RuleCompanyAndName: {}}
	reject := func(r ImportRejection) {
		plan.Rejections = append(plan.Rejections, r)
		plan.Counts.Rejected++
	}
	for _, row := range rows {
		if row.Invalid != nil {
			reject(invalidRow(row.Line, row.Invalid))
			continue
		}
		in := row.Lead
		if in.Source == "" {
			in.Source = j.Options.DefaultSource
		}
		if in.Owner == "" {
			in.Owner, in.OwnerDefaulted = j.Options.DefaultOwner, true
		}
		l, _, err := New(in, actor, now)
		if err != nil {
			reject(invalidRow(row.Line, err))
			continue
		}
		l.ID = j.RowID(row.Line)
		if existing.Imported[l.ID] {
			plan.Counts.Skipped++
			continue
		}
		keys := row.Keys
		byRule := map[DuplicateRule]string{RuleEmail: keys.Email, RulePhone: keys.Phone, RuleCompanyAndName: keys.CompanyAndName}

		var dupLeads []uuid.UUID
		var dupRow *pending
		for _, rule := range []DuplicateRule{RuleEmail, RulePhone, RuleCompanyAndName} {
			k := byRule[rule]
			if k == "" {
				continue
			}
			for _, id := range existing.ByKey[rule][k] {
				if !containsID(dupLeads, id) {
					dupLeads = append(dupLeads, id)
				}
			}
			if p := batch[rule][k]; p != nil && dupRow == nil {
				dupRow = p
			}
		}
		var dupCustomers []string
		for _, ck := range []struct {
			rule DuplicateRule
			key  string
		}{{RuleEmail, keys.Email}, {RulePhone, keys.Phone}, {RuleCompanyName, keys.Company}, {RuleWebDomain, keys.WebDomain}} {
			if ck.key == "" {
				continue
			}
			for _, name := range existing.Customers[ck.rule][ck.key] {
				if !slices.Contains(dupCustomers, name) {
					dupCustomers = append(dupCustomers, name)
				}
			}
		}
		upsert := j.Options.Mode == ImportUpsertByEmail && keys.Email != ""
		var emailLead []uuid.UUID
		if upsert {
			emailLead = existing.ByKey[RuleEmail][keys.Email]
		}
		switch {
		case upsert && len(emailLead) > 0:
			plan.Updates = append(plan.Updates, ImportUpdate{LeadID: emailLead[0], Line: row.Line, Patch: row.Lead, Mask: row.Fields})
			continue
		case upsert && batch[RuleEmail][keys.Email] != nil:
			fill(batch[RuleEmail][keys.Email].lead, row)
			plan.Counts.Updated++
			continue
		case len(dupLeads) == 0 && dupRow == nil && len(dupCustomers) == 0:
		case j.Options.Policy == DuplicatesCreateAnyway:
		case j.Options.Policy == DuplicatesUpdate && len(dupLeads) > 0:
			plan.Updates = append(plan.Updates, ImportUpdate{LeadID: dupLeads[0], Line: row.Line, Patch: row.Lead, Mask: row.Fields})
			continue
		case j.Options.Policy == DuplicatesUpdate && dupRow != nil:
			fill(dupRow.lead, row)
			plan.Counts.Updated++
			continue
		default: // skip
			r := ImportRejection{Line: row.Line, Reason: RejectDuplicateSkipped, Message: "looks like an existing lead or an earlier row"}
			if len(dupCustomers) > 0 {
				r.Message = "looks like an existing customer (convert a lead into it instead), lead or earlier row"
			}
			for _, id := range dupLeads {
				r.Duplicates = append(r.Duplicates, "leads/"+id.String())
			}
			r.Duplicates = append(r.Duplicates, dupCustomers...)
			if dupRow != nil {
				r.Duplicates = append(r.Duplicates, fmt.Sprintf("line:%d", dupRow.line))
			}
			plan.Rejections = append(plan.Rejections, r)
			plan.Counts.Skipped++
			continue
		}
		p := &pending{lead: l, line: row.Line}
		for rule, k := range byRule {
			if k != "" && batch[rule][k] == nil {
				batch[rule][k] = p
			}
		}
		plan.Creates = append(plan.Creates, l)
		plan.CreateKeys = append(plan.CreateKeys, keys)
	}
	return plan
}

// fill copies the fields a row gave onto a lead the same batch creates.
func fill(l *Lead, row ImportRow) {
	for _, f := range row.Fields {
		if f == FieldCustomFields {
			l.CustomFields = maps.Clone(l.CustomFields)
			maps.Copy(l.CustomFields, row.Lead.CustomFields)
			continue
		}
		l.copyField(f, &row.Lead)
	}
}

func invalidRow(line int64, err error) ImportRejection {
	r := ImportRejection{Line: line, Reason: RejectInvalidRow, Message: err.Error()}
	if ae, ok := apperr.As(err); ok {
		if ae.Kind == apperr.KindResourceExhausted {
			r.Reason = ae.Reason
		}
		r.Message = ae.Message
		for _, v := range ae.Violations {
			r.Fields = append(r.Fields, v.Field)
			r.Message += "; " + v.Field + ": " + v.Description
		}
	}
	return r
}

func containsID(ids []uuid.UUID, id uuid.UUID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// ImportedFields are the fields an import row may give, in the order an
// update applies them.
var ImportedFields = []Field{
	FieldFirstName, FieldLastName, FieldCompany, FieldTitle, FieldEmail, FieldPhone, FieldWebsite, FieldAddress,
	FieldSource, FieldCampaign, FieldRating, FieldStatus, FieldOwner, FieldNextContactAt, FieldDescription, FieldCustomFields,
	FieldProducts, FieldLifecycleStage,
}

// GivenFields lists the fields of l that are set, of those an import row
// may give.
func (l *Lead) GivenFields() []Field {
	var out []Field
	for _, f := range ImportedFields {
		if f == FieldStatus {
			if l.Status != "" {
				out = append(out, f)
			}
			continue
		}
		if f == FieldCustomFields {
			if len(l.CustomFields) > 0 {
				out = append(out, f)
			}
			continue
		}
		if l.hasValue(f) {
			out = append(out, f)
		}
	}
	return out
}

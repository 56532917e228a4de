// Package domain holds the lead, its lifecycle rules and the events its
// changes raise. It knows nothing of gRPC or Postgres.
package domain

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// Status is where a lead is in the funnel.
type Status string

const (
	StatusNew          Status = "NEW"
	StatusContacted    Status = "CONTACTED"
	StatusNurturing    Status = "NURTURING"
	StatusQualified    Status = "QUALIFIED"
	StatusDisqualified Status = "DISQUALIFIED"
	// StatusMerged leads were merged into another (MergedInto); they stay,
	// read-only, for the record.
	StatusMerged Status = "MERGED"
)

// Open reports whether the lead is still being worked.
func (s Status) Open() bool {
	return s == StatusNew || s == StatusContacted || s == StatusNurturing
}

// Rating is sales' judgement of how likely the lead is to buy.
type Rating string

const (
	RatingNone Rating = ""
	RatingCold Rating = "COLD"
	RatingWarm Rating = "WARM"
	RatingHot  Rating = "HOT"
)

// Source is where the lead came from.
type Source string

const (
	SourceWebForm       Source = "WEB_FORM"
	SourceImport        Source = "IMPORT"
	SourceReferral      Source = "REFERRAL"
	SourceCampaign      Source = "CAMPAIGN"
	SourceTradeShow     Source = "TRADE_SHOW"
	SourceAdvertisement Source = "ADVERTISEMENT"
	SourceIntegration   Source = "INTEGRATION"
	SourceManual        Source = "MANUAL"
	SourceOther         Source = "OTHER"
)

// DisqualificationReason says why a lead left the funnel.
type DisqualificationReason string

const (
	ReasonNoBudget         DisqualificationReason = "NO_BUDGET"
	ReasonNoInterest       DisqualificationReason = "NO_INTEREST"
	ReasonLostToCompetitor DisqualificationReason = "LOST_TO_COMPETITOR"
	ReasonCannotContact    DisqualificationReason = "CANNOT_CONTACT"
	ReasonJunk             DisqualificationReason = "JUNK"
	ReasonOther            DisqualificationReason = "OTHER"
)

// Address is a postal address.
type Address struct {
	Lines              []string
	Locality           string
	AdministrativeArea string
	PostalCode         string
	RegionCode         string
}

// Disqualification records why and when a lead left the funnel.
type Disqualification struct {
	Reason         DisqualificationReason
	Note           string
	At             time.Time
	By             string
	PreviousStatus Status
}

// Lead is a prospective customer.
type Lead struct {
	ID               uuid.UUID
	FirstName        string
	LastName         string
	Company          string
	Title            string
	Email            string
	Phone            string
	Website          string
	Address          Address
	Source           Source
	Campaign         string
	Rating           Rating
	Status           Status
	Owner            string
	NextContactAt    *time.Time
	Description      string
	CustomFields     map[string]string
	Disqualification *Disqualification
	LastActivityAt   *time.Time
	// QualifiedAt is when a QUALIFIED lead was converted.
	QualifiedAt *time.Time
	// MergedInto is the lead a MERGED lead was merged into.
	MergedInto uuid.UUID
	// Conversion of a QUALIFIED lead.
	Conversion *Conversion
	// Lifecycle is the MQL/SQL stage; set through FieldLifecycleStage
	// (Lifecycle.Stage of a patch or a new lead).
	Lifecycle Lifecycle
	// Products the lead is interested in, in the order given.
	Products  []ProductInterest
	CreatedAt time.Time
	CreatedBy string
	UpdatedAt time.Time
	UpdatedBy string
	// Version increases with every change; the etag is derived from it.
	Version int64
	// OwnerDefaulted says, on a lead being created, that its creator named
	// no owner: Owner is a default (the creator, a web form's or an
	// import's default owner), which assignment rules may replace. Only
	// the creation event carries it; it is not stored.
	OwnerDefaulted bool
}

// Field names a settable lead field, as in the API (lower_snake_case).
type Field string

const (
	FieldFirstName      Field = "first_name"
	FieldLastName       Field = "last_name"
	FieldCompany        Field = "company"
	FieldTitle          Field = "title"
	FieldEmail          Field = "email"
	FieldPhone          Field = "phone"
	FieldWebsite        Field = "website"
	FieldAddress        Field = "address"
	FieldSource         Field = "source"
	FieldCampaign       Field = "campaign"
	FieldRating         Field = "rating"
	FieldStatus         Field = "status"
	FieldOwner          Field = "owner"
	FieldNextContactAt  Field = "next_contact_time"
	FieldDescription    Field = "description"
	FieldCustomFields   Field = "custom_fields"
	FieldLifecycleStage Field = "lifecycle_stage"
	FieldProducts       Field = "products_of_interest"
)

// UpdatableFields can change through an update; owner changes through
// Assign, the terminal statuses through conversion and Disqualify.
var UpdatableFields = []Field{
	FieldFirstName, FieldLastName, FieldCompany, FieldTitle, FieldEmail, FieldPhone, FieldWebsite,
	FieldAddress, FieldSource, FieldCampaign, FieldRating, FieldStatus, FieldNextContactAt,
	FieldDescription, FieldCustomFields, FieldLifecycleStage, FieldProducts,
}

// notSettable are the statuses only their own operations reach, and why.
var notSettable = map[Status]string{
	StatusQualified:    "a lead becomes QUALIFIED only by conversion",
	StatusDisqualified: "disqualify a lead with DisqualifyLead, giving a reason",
	StatusMerged:       "a lead becomes MERGED only by MergeLeads",
}

// New creates a lead from what the caller gave. Missing status is NEW,
// missing source MANUAL, missing owner the actor.
func New(in Lead, actor string, now time.Time) (*Lead, []Event, error) {
	l := in
	l.ID = uuid.Must(uuid.NewV7())
	l.normalize()
	if l.Status == "" {
		l.Status = StatusNew
	}
	if l.Source == "" {
		l.Source = SourceManual
	}
	if l.Owner == "" {
		l.Owner, l.OwnerDefaulted = actor, true
	}
	var vs apperr.Violations
	l.checkInvariants(&vs)
	if why, ok := notSettable[l.Status]; ok {
		vs.Add(string(FieldStatus), "STATUS_NOT_SETTABLE", "%s", why)
	}
	l.Products = normalizeProducts(string(FieldProducts), l.Products, &vs)
	stage := l.Lifecycle.Stage
	if !stage.Valid() {
		vs.Add(string(FieldLifecycleStage), "UNKNOWN_LIFECYCLE_STAGE", "%q is not a lifecycle stage (MQL, SQL)", stage)
	}
	if err := vs.Err(); err != nil {
		return nil, nil, err
	}
	l.Lifecycle = Lifecycle{}
	l.Lifecycle.setStage(stage, actor, now)
	evs := []Event{Created{}}
	if stage != StageNone {
		// Rules on stage changes see leads that start at a stage too.
		evs = append(evs, LifecycleStageChanged{Stage: stage})
	}
	l.Disqualification, l.LastActivityAt = nil, nil
	l.CreatedAt, l.CreatedBy, l.UpdatedAt, l.UpdatedBy = now, actor, now, actor
	l.Version = 1
	return &l, evs, nil
}

func (l *Lead) normalize() {
	for _, s := range []*string{&l.FirstName, &l.LastName, &l.Company, &l.Title, &l.Email, &l.Phone, &l.Website, &l.Campaign, &l.Owner} {
		*s = strings.TrimSpace(*s)
	}
	if l.CustomFields == nil {
		l.CustomFields = map[string]string{}
	}
}

// checkInvariants holds for every lead at every time.
func (l *Lead) checkInvariants(vs *apperr.Violations) {
	if l.FirstName == "" && l.LastName == "" && l.Company == "" {
		vs.Add("last_name", "NAME_OR_COMPANY_REQUIRED", "a lead needs a first name, a last name or a company")
	}
	if len(l.CustomFields) > MaxCustomFields {
		vs.Add("custom_fields", "TOO_MANY_CUSTOM_FIELDS", "a lead has at most %d custom fields", MaxCustomFields)
	}
}

// MaxCustomFields a lead may have.
const MaxCustomFields = 50

// Update sets the fields in mask to their values in patch.
func (l *Lead) Update(patch Lead, mask []Field, actor string, now time.Time) ([]Event, error) {
	if err := l.checkWritable(); err != nil {
		return nil, err
	}
	var vs apperr.Violations
	next := *l
	next.CustomFields = maps.Clone(l.CustomFields)
	patch.normalize()
	for _, f := range mask {
		switch f {
		case FieldFirstName, FieldLastName, FieldCompany, FieldTitle, FieldEmail, FieldPhone, FieldWebsite,
			FieldAddress, FieldCampaign, FieldRating, FieldNextContactAt, FieldDescription, FieldCustomFields:
			next.copyField(f, &patch)
		case FieldSource:
			next.Source = patch.Source
			if next.Source == "" {
				next.Source = SourceManual
			}
		case FieldStatus:
			why, terminal := notSettable[patch.Status]
			switch {
			case patch.Status == l.Status:
			case terminal:
				vs.Add(string(f), "STATUS_NOT_SETTABLE", "%s", why)
			case patch.Status == "":
				vs.Add(string(f), "STATUS_REQUIRED", "status cannot be cleared")
			case l.Status == StatusDisqualified:
				return nil, apperr.FailedPrecondition("LEAD_DISQUALIFIED",
					"lead %s is disqualified: reactivate it to put it back into the funnel", l.ID)
			default:
				next.Status = patch.Status
			}
		case FieldLifecycleStage:
			if !patch.Lifecycle.Stage.Valid() {
				vs.Add(string(f), "UNKNOWN_LIFECYCLE_STAGE", "%q is not a lifecycle stage (MQL, SQL)", patch.Lifecycle.Stage)
				continue
			}
			next.Lifecycle.setStage(patch.Lifecycle.Stage, actor, now)
		case FieldProducts:
			next.Products = normalizeProducts(string(f), patch.Products, &vs)
		case FieldOwner:
			if patch.Owner != l.Owner { // unchanged: an echo of the lead
				vs.Add(string(f), "FIELD_NOT_UPDATABLE", "change the owner with AssignLead")
			}
		default:
			if !next.updateSubField(f, patch) {
				vs.Add(string(f), "FIELD_NOT_UPDATABLE", "%s cannot be updated", f)
			}
		}
	}
	next.checkInvariants(&vs)
	if err := vs.Err(); err != nil {
		return nil, err
	}
	changed := l.diff(&next)
	if len(changed) == 0 {
		return nil, nil
	}
	evs := []Event{Updated{Changed: changed}}
	if next.Rating != l.Rating {
		evs = append(evs, RatingChanged{Previous: l.Rating, Rating: next.Rating})
	}
	if next.Status != l.Status {
		evs = append(evs, StatusChanged{Previous: l.Status, Status: next.Status})
	}
	if next.Lifecycle.Stage != l.Lifecycle.Stage {
		evs = append(evs, LifecycleStageChanged{Previous: l.Lifecycle.Stage, Stage: next.Lifecycle.Stage})
	}
	*l = next
	l.touch(actor, now)
	return evs, nil
}

// updateSubField sets one field of the address or one custom field
// ("address.locality", "custom_fields.tier"), as PATCH bodies name them.
func (l *Lead) updateSubField(f Field, patch Lead) bool {
	parent, sub, ok := strings.Cut(string(f), ".")
	if !ok || sub == "" {
		return false
	}
	switch Field(parent) {
	case FieldAddress:
		a, p := &l.Address, patch.Address
		switch sub {
		case "address_lines":
			a.Lines = p.Lines
		case "locality":
			a.Locality = p.Locality
		case "administrative_area":
			a.AdministrativeArea = p.AdministrativeArea
		case "postal_code":
			a.PostalCode = p.PostalCode
		case "region_code":
			a.RegionCode = p.RegionCode
		default:
			return false
		}
		return true
	case FieldCustomFields:
		if v, ok := patch.CustomFields[sub]; ok {
			l.CustomFields[sub] = v
		} else {
			delete(l.CustomFields, sub)
		}
		return true
	}
	return false
}

// diff lists the fields whose values differ between l and o.
func (l *Lead) diff(o *Lead) []string {
	var changed []string
	add := func(f Field, differs bool) {
		if differs {
			changed = append(changed, string(f))
		}
	}
	add(FieldFirstName, l.FirstName != o.FirstName)
	add(FieldLastName, l.LastName != o.LastName)
	add(FieldCompany, l.Company != o.Company)
	add(FieldTitle, l.Title != o.Title)
	add(FieldEmail, l.Email != o.Email)
	add(FieldPhone, l.Phone != o.Phone)
	add(FieldWebsite, l.Website != o.Website)
	add(FieldAddress, !addressEqual(l.Address, o.Address))
	add(FieldSource, l.Source != o.Source)
	add(FieldCampaign, l.Campaign != o.Campaign)
	add(FieldRating, l.Rating != o.Rating)
	add(FieldStatus, l.Status != o.Status)
	add(FieldNextContactAt, !timeEqual(l.NextContactAt, o.NextContactAt))
	add(FieldDescription, l.Description != o.Description)
	add(FieldCustomFields, !maps.Equal(l.CustomFields, o.CustomFields))
	add(FieldLifecycleStage, l.Lifecycle.Stage != o.Lifecycle.Stage)
	add(FieldProducts, !productsEqual(l.Products, o.Products))
	return changed
}

func addressEqual(a, b Address) bool {
	return slices.Equal(a.Lines, b.Lines) && a.Locality == b.Locality && a.AdministrativeArea == b.AdministrativeArea &&
		a.PostalCode == b.PostalCode && a.RegionCode == b.RegionCode
}

func timeEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func (l *Lead) touch(actor string, now time.Time) {
	l.UpdatedAt, l.UpdatedBy = now, actor
	l.Version++
}

// Assign hands the lead to owner. Assigning to the current owner changes
// nothing.
func (l *Lead) Assign(owner, actor string, now time.Time) ([]Event, error) {
	if err := l.checkWritable(); err != nil {
		return nil, err
	}
	owner = strings.TrimSpace(owner)
	if owner == "" {
		return nil, apperr.InvalidField("owner", "OWNER_REQUIRED", "owner is required")
	}
	if owner == l.Owner {
		return nil, nil
	}
	ev := Assigned{PreviousOwner: l.Owner, Owner: owner}
	l.Owner = owner
	l.touch(actor, now)
	return []Event{ev}, nil
}

// Disqualify takes an open lead out of the funnel.
func (l *Lead) Disqualify(reason DisqualificationReason, note, actor string, now time.Time) ([]Event, error) {
	note = strings.TrimSpace(note)
	if reason == "" {
		return nil, apperr.InvalidField("reason", "REASON_REQUIRED", "a reason is required")
	}
	if reason == ReasonOther && note == "" {
		return nil, apperr.InvalidField("note", "NOTE_REQUIRED", "say why in the note when the reason is OTHER")
	}
	if err := l.checkWritable(); err != nil {
		return nil, err
	}
	switch {
	case l.Status == StatusDisqualified:
		return nil, apperr.FailedPrecondition("LEAD_ALREADY_DISQUALIFIED", "lead %s is already disqualified", l.ID)
	}
	l.Disqualification = &Disqualification{Reason: reason, Note: note, At: now, By: actor, PreviousStatus: l.Status}
	l.Status = StatusDisqualified
	l.touch(actor, now)
	return []Event{Disqualified{Reason: reason, Note: note, PreviousStatus: l.Disqualification.PreviousStatus}}, nil
}

// Reactivate puts a disqualified lead back at the status it had.
func (l *Lead) Reactivate(actor string, now time.Time) ([]Event, error) {
	if l.Status != StatusDisqualified || l.Disqualification == nil {
		return nil, apperr.FailedPrecondition("LEAD_NOT_DISQUALIFIED",
			"only a disqualified lead can be reactivated; lead %s is %s", l.ID, l.Status)
	}
	status := l.Disqualification.PreviousStatus
	if !status.Open() {
		status = StatusNew
	}
	l.Status = status
	l.Disqualification = nil
	l.touch(actor, now)
	return []Event{Reactivated{Status: status}}, nil
}

// CheckDelete refuses to delete a converted lead: it is the record of the
// conversion the account and opportunity point back to.
func (l *Lead) CheckDelete() error {
	switch l.Status {
	case StatusQualified:
		return apperr.FailedPrecondition("LEAD_CONVERTED", "lead %s was converted and is kept as the record of it", l.ID)
	case StatusMerged:
		return apperr.FailedPrecondition("LEAD_MERGED", "lead %s was merged into %s and is kept as the record of it", l.ID, l.MergedInto)
	}
	return nil
}

// checkWritable refuses changes to converted and merged leads: they are
// records of what happened to them.
func (l *Lead) checkWritable() error {
	switch l.Status {
	case StatusQualified:
		return errConverted(l.ID)
	case StatusMerged:
		return apperr.FailedPrecondition("LEAD_MERGED", "lead %s was merged into %s and can no longer change", l.ID, l.MergedInto).
			WithMeta("merged_into", "leads/"+l.MergedInto.String())
	}
	return nil
}

func errConverted(id uuid.UUID) error {
	return apperr.FailedPrecondition("LEAD_CONVERTED", "lead %s was converted and can no longer change", id)
}

// ErrNotFound is returned for a lead that does not exist.
func ErrNotFound(id uuid.UUID) error {
	return apperr.NotFound("LEAD_NOT_FOUND", "lead %s not found", id)
}

package domain

import (
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// MergeableFields are the fields a merge can take from any of the leads.
var MergeableFields = []Field{
	FieldFirstName, FieldLastName, FieldCompany, FieldTitle, FieldEmail, FieldPhone, FieldWebsite, FieldAddress,
	FieldSource, FieldCampaign, FieldRating, FieldOwner, FieldNextContactAt, FieldDescription, FieldCustomFields,
	FieldProducts,
}

// Merge folds dups into l. sources names, per field, the lead whose value l
// keeps; other fields keep l's value, or take the first non-empty value of
// dups (in order) when l's is empty; custom fields not named are united,
// l's winning. The duplicates become MERGED, pointing at l. l's status,
// history and id stay.
func (l *Lead) Merge(dups []*Lead, sources map[Field]uuid.UUID, actor string, now time.Time) ([]Event, error) {
	var vs apperr.Violations
	byID := map[uuid.UUID]*Lead{l.ID: l}
	for i, d := range dups {
		if d.ID == l.ID {
			vs.Add("duplicates", "PRIMARY_AMONG_DUPLICATES", "the primary lead %s is also listed as a duplicate", l.ID)
		}
		if _, seen := byID[d.ID]; seen && d.ID != l.ID {
			vs.Add("duplicates", "REPEATED_DUPLICATE", "lead %s is listed twice (position %d)", d.ID, i)
		}
		byID[d.ID] = d
	}
	for f, src := range sources {
		if !slices.Contains(MergeableFields, f) {
			vs.Add("field_sources["+string(f)+"]", "FIELD_NOT_MERGEABLE", "%s is not a field a merge can choose", f)
		} else if _, ok := byID[src]; !ok {
			vs.Add("field_sources["+string(f)+"]", "SOURCE_NOT_IN_MERGE", "lead %s is neither the primary nor one of the duplicates", src)
		}
	}
	if err := vs.Err(); err != nil {
		return nil, err
	}
	for _, x := range append([]*Lead{l}, dups...) {
		switch x.Status {
		case StatusMerged:
			return nil, apperr.FailedPrecondition("LEAD_ALREADY_MERGED",
				"lead %s was already merged into %s; merge into that lead instead", x.ID, x.MergedInto).
				WithMeta("lead", "leads/"+x.ID.String()).WithMeta("merged_into", "leads/"+x.MergedInto.String())
		case StatusQualified:
			return nil, apperr.FailedPrecondition("LEAD_CONVERTED",
				"lead %s was converted into an account; a converted lead cannot be merged", x.ID).
				WithMeta("lead", "leads/"+x.ID.String())
		}
	}

	next := *l
	next.CustomFields = maps.Clone(l.CustomFields)
	for _, f := range MergeableFields {
		if src, ok := sources[f]; ok {
			next.copyField(f, byID[src])
			continue
		}
		if f == FieldCustomFields {
			for i := len(dups) - 1; i >= 0; i-- {
				for k, v := range dups[i].CustomFields {
					if _, own := l.CustomFields[k]; !own {
						next.CustomFields[k] = v
					}
				}
			}
			continue
		}
		for _, d := range dups {
			if !next.hasValue(f) {
				next.copyField(f, d)
			}
		}
	}
	// Their activities move to l (the workflow service moves them when it
	// sees the merge), so l's last activity is the latest of them all.
	for _, d := range dups {
		if d.LastActivityAt != nil && (next.LastActivityAt == nil || d.LastActivityAt.After(*next.LastActivityAt)) {
			t := *d.LastActivityAt
			next.LastActivityAt = &t
		}
	}
	var cs apperr.Violations
	next.checkInvariants(&cs)
	if err := cs.Err(); err != nil {
		return nil, err
	}
	changed := l.diff(&next)
	if next.Owner != l.Owner {
		changed = append(changed, string(FieldOwner))
	}
	for _, d := range dups {
		d.Status, d.MergedInto = StatusMerged, l.ID
		d.touch(actor, now)
	}
	*l = next
	l.touch(actor, now)
	return []Event{Merged{Duplicates: dups, Changed: changed}}, nil
}

func (l *Lead) hasValue(f Field) bool {
	switch f {
	case FieldFirstName:
		return l.FirstName != ""
	case FieldLastName:
		return l.LastName != ""
	case FieldCompany:
		return l.Company != ""
	case FieldTitle:
		return l.Title != ""
	case FieldEmail:
		return l.Email != ""
	case FieldPhone:
		return l.Phone != ""
	case FieldWebsite:
		return l.Website != ""
	case FieldAddress:
		return !addressEqual(l.Address, Address{})
	case FieldSource:
		return l.Source != ""
	case FieldCampaign:
		return l.Campaign != ""
	case FieldRating:
		return l.Rating != RatingNone
	case FieldOwner:
		return l.Owner != ""
	case FieldNextContactAt:
		return l.NextContactAt != nil
	case FieldDescription:
		return l.Description != ""
	case FieldProducts:
		return len(l.Products) > 0
	case FieldLifecycleStage:
		return l.Lifecycle.Stage != StageNone
	}
	return true
}

func (l *Lead) copyField(f Field, from *Lead) {
	switch f {
	case FieldFirstName:
		l.FirstName = from.FirstName
	case FieldLastName:
		l.LastName = from.LastName
	case FieldCompany:
		l.Company = from.Company
	case FieldTitle:
		l.Title = from.Title
	case FieldEmail:
		l.Email = from.Email
	case FieldPhone:
		l.Phone = from.Phone
	case FieldWebsite:
		l.Website = from.Website
	case FieldAddress:
		l.Address = from.Address
	case FieldSource:
		l.Source = from.Source
	case FieldCampaign:
		l.Campaign = from.Campaign
	case FieldRating:
		l.Rating = from.Rating
	case FieldOwner:
		l.Owner = from.Owner
	case FieldNextContactAt:
		l.NextContactAt = from.NextContactAt
	case FieldDescription:
		l.Description = from.Description
	case FieldProducts:
		l.Products = slices.Clone(from.Products)
	case FieldCustomFields:
		l.CustomFields = maps.Clone(from.CustomFields)
		if l.CustomFields == nil {
			l.CustomFields = map[string]string{}
		}
	}
}

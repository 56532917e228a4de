package rules

import (
	"strings"
	"testing"
	"time"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

func TestConditionsAreTypeChecked(t *testing.T) {
	e := NewEngine()
	types := []string{"crm.events.v1.LeadCreated", "crm.events.v1.LeadRatingChanged"}
	if err := e.Compile(`record.rating == Rating.RATING_HOT && record.source != Source.SOURCE_IMPORT`, domain.RecordLead, types); err != nil {
		t.Fatal(err)
	}
	for cond, want := range map[string]string{
		`record.rating ==`:                            "Syntax error",
		`record.ratin == Rating.RATING_HOT`:           "undefined field 'ratin'",
		`record.first_name`:                           "not a boolean",
		`event.previous_rating == Rating.RATING_COLD`: "for LeadCreated",
	} {
		err := e.Compile(cond, domain.RecordLead, types)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", cond, err, want)
		}
	}
	// The README's example, and the seeded rules' shape.
	if err := e.Compile(`record.amount.units > 10000`, domain.RecordOpportunity, []string{"crm.events.v1.OpportunityWon"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Compile(`record.rating == Rating.RATING_HOT && record.status in [Status.STATUS_NEW, Status.STATUS_CONTACTED]`, domain.RecordLead, types); err != nil {
		t.Fatal(err)
	}
	hot := &leadv1.Lead{Rating: leadv1.Rating_RATING_HOT}
	ok, err := e.Eval(`record.rating == Rating.RATING_HOT && event.previous_rating == Rating.RATING_COLD`, domain.RecordLead, hot,
		&eventsv1.LeadRatingChanged{Lead: hot, PreviousRating: leadv1.Rating_RATING_COLD})
	if err != nil || !ok {
		t.Fatalf("eval: %v, %v", ok, err)
	}
}

func TestEventTypesAndFields(t *testing.T) {
	if full, rt, err := EventType("LeadRatingChanged"); err != nil || full != "crm.events.v1.LeadRatingChanged" || rt != domain.RecordLead {
		t.Fatal(full, rt, err)
	}
	for _, bad := range []string{"LeadsImported", "Nope", "crm.lead.v1.Lead", "PipelineChanged"} {
		if _, _, err := EventType(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if err := CheckUpdate(domain.RecordLead, "rating", []byte(`"RATING_WARM"`)); err != nil {
		t.Fatal(err)
	}
	for field, v := range map[string]string{"ratin": `"RATING_WARM"`, "rating": `"LUKEWARM"`, "name": `"leads/x"`, "create_time": `"2027-01-01T00:00:00Z"`} {
		if err := CheckUpdate(domain.RecordLead, field, []byte(v)); err == nil {
			t.Errorf("update %s=%s accepted", field, v)
		}
	}
	if err := CheckDateField(domain.RecordContact, "birthday", true); err != nil {
		t.Fatal(err)
	}
	if err := CheckDateField(domain.RecordLead, "next_contact_time", true); err == nil {
		t.Fatal("a yearly instant accepted")
	}
	tt := &domain.TimeTrigger{Yearly: true, Offset: -24 * time.Hour}
	bd := time.Date(1990, 2, 28, 0, 0, 0, 0, time.UTC)
	if got := NextDue(bd, tt, time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2028, 2, 27, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("next birthday reminder %v", got)
	}
}

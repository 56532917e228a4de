package resname

import (
	"testing"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

func TestFormatParseRoundTrip(t *testing.T) {
	id := uuid.New()
	name := Format("leads", id)
	if name != "leads/"+id.String() {
		t.Fatalf("Format = %q", name)
	}
	got, ok := Parse(name, "leads")
	if !ok || got != id {
		t.Fatalf("Parse(%q) = %v, %v", name, got, ok)
	}
}

func TestFormatOptional(t *testing.T) {
	if got := FormatOptional("contacts", uuid.Nil); got != "" {
		t.Fatalf("FormatOptional(Nil) = %q, want empty", got)
	}
	id := uuid.New()
	if got := FormatOptional("contacts", id); got != "contacts/"+id.String() {
		t.Fatalf("FormatOptional = %q", got)
	}
}

func TestParseRejects(t *testing.T) {
	id := uuid.New().String()
	for _, name := range []string{
		"",
		id,
		"leads/",
		"leads/not-a-uuid",
		"accounts/" + id,
		"leadsx/" + id,
		"leads/" + id + "/activities/" + id,
		"leads/" + id + "/",
		"Leads/" + id,
	} {
		if got, ok := Parse(name, "leads"); ok || got != uuid.Nil {
			t.Errorf("Parse(%q) = %v, %v; want Nil, false", name, got, ok)
		}
	}
}

func TestParseField(t *testing.T) {
	id := uuid.New()
	if got, err := ParseField(Format("accounts", id), "accounts", "name"); err != nil || got != id {
		t.Fatalf("ParseField = %v, %v", got, err)
	}
	_, err := ParseField("contacts/"+id.String(), "accounts", "account.name")
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.KindInvalidArgument || e.Reason != ReasonInvalidName {
		t.Fatalf("ParseField error = %#v", err)
	}
	if len(e.Violations) != 1 || e.Violations[0].Field != "account.name" || e.Violations[0].Reason != ReasonInvalidName {
		t.Fatalf("violations = %+v", e.Violations)
	}
}

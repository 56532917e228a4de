package audit

import (
	"context"
	"encoding/json"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/auth"
)

func lead() *leadv1.Lead {
	return &leadv1.Lead{
		Name: "leads/0199", LastName: "Lovelace", Company: "Analytical Engines", Rating: leadv1.Rating_RATING_WARM,
		Address:      &leadv1.PostalAddress{AddressLines: []string{"1 Lane"}, Locality: "London"},
		CustomFields: map[string]string{"b": "2", "a": "1", "c": "3"},
		CreateTime:   timestamppb.Now(), UpdateTime: timestamppb.Now(), Etag: `W/"1"`, CreatedBy: "alice", UpdatedBy: "alice",
	}
}

func fields(cs []Change) map[string][2]string {
	out := map[string][2]string{}
	for _, c := range cs {
		out[c.Field] = [2]string{string(c.Old), string(c.New)}
	}
	return out
}

func TestDiff(t *testing.T) {
	before := lead()
	after := lead()
	after.Rating = leadv1.Rating_RATING_HOT
	after.Company = ""
	after.Title = "CTO"
	after.Address.AddressLines = append(after.Address.AddressLines, "Floor 2")
	after.Etag, after.UpdatedBy, after.UpdateTime = `W/"2"`, "bob", timestamppb.Now()
	got, err := Diff(before, after)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"company": {`"Analytical Engines"`, ""},
		"title":   {"", `"CTO"`},
		"address": {`{"addressLines":["1 Lane"],"locality":"London"}`, `{"addressLines":["1 Lane","Floor 2"],"locality":"London"}`},
		"rating":  {`"RATING_WARM"`, `"RATING_HOT"`},
	}
	if f := fields(got); len(f) != len(want) {
		t.Fatalf("changes = %v, want %v", f, want)
	} else {
		for k, v := range want {
			if f[k] != v {
				t.Errorf("%s: %v, want %v", k, f[k], v)
			}
		}
	}
	// In field order: company (4) before title (5) before address (9).
	if got[0].Field != "company" || got[1].Field != "title" || got[2].Field != "address" {
		t.Errorf("order = %v", got)
	}
	// The same map built in another order is no change.
	again := lead()
	again.CustomFields = map[string]string{"c": "3", "a": "1", "b": "2"}
	if got, _ := Diff(before, again); len(got) != 0 {
		t.Errorf("equal leads differ: %v", got)
	}
}

func TestNewEntries(t *testing.T) {
	ctx := auth.WithOnBehalfOf(auth.WithPrincipal(context.Background(), auth.Principal{Subject: "alice"}), "bob")
	created, err := New(ctx, nil, lead(), "req-1")
	if err != nil {
		t.Fatal(err)
	}
	f := fields(created.Changes)
	if created.Action != Create || created.Record != "leads/0199" || created.RecordType != "crm.lead.v1.Lead" ||
		created.Actor != "alice" || created.OnBehalfOf != "bob" || created.RequestID != "req-1" ||
		f["custom_fields"] != [2]string{"", `{"a":"1","b":"2","c":"3"}`} || f["last_name"] != [2]string{"", `"Lovelace"`} {
		t.Errorf("created = %+v", created)
	}
	for _, skip := range []string{"name", "etag", "create_time", "update_time", "created_by", "updated_by", "first_name"} {
		if _, ok := f[skip]; ok {
			t.Errorf("creation records %s", skip)
		}
	}
	// A typed nil is a deletion, not an update of every field.
	var gone *leadv1.Lead
	deleted, err := New(ctx, lead(), gone, "")
	if err != nil {
		t.Fatal(err)
	}
	if deleted.Action != Delete || deleted.Record != "leads/0199" || fields(deleted.Changes)["rating"] != [2]string{`"RATING_WARM"`, ""} {
		t.Errorf("deleted = %+v", deleted)
	}
	if e, err := New(ctx, lead(), lead(), ""); e != nil || err != nil {
		t.Errorf("unchanged = %+v, %v", e, err)
	}
	// A consumer's change names the event and the user who caused it.
	ev := WithEvent(ctx, "crm.events.v1.ContactCreated", "carol")
	after := lead()
	after.Rating = leadv1.Rating_RATING_HOT
	e, err := New(ev, lead(), after, "")
	if err != nil {
		t.Fatal(err)
	}
	if e.Method != "event:crm.events.v1.ContactCreated" || e.Actor != "carol" || e.Action != Update {
		t.Errorf("consumer entry = %+v", e)
	}
	if e, _ := New(WithEvent(ctx, "crm.events.v1.X", ""), nil, lead(), ""); e.Actor != "alice" {
		t.Errorf("event without actor: %+v", e)
	}
	// Stored changes read back as JSON values.
	b, _ := json.Marshal(created.Changes)
	var back []Change
	if err := json.Unmarshal(b, &back); err != nil || len(back) != len(created.Changes) || back[0].Old != nil {
		t.Errorf("round trip = %v, %v", back, err)
	}
	if _, err := Proto(Entry{Record: "leads/0199", ID: 7, Action: Update, Changes: back}); err != nil {
		t.Error(err)
	}
}

func BenchmarkNewCreate(b *testing.B) {
	ctx := auth.WithPrincipal(context.Background(), auth.Principal{Subject: "alice"})
	l := lead()
	for b.Loop() {
		if _, err := New(ctx, nil, l, ""); err != nil {
			b.Fatal(err)
		}
	}
}

package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/crmsuite/crm/platform/testkit"
)

// A yearly time rule on the contacts' birthday reminds the owner over
// REST: the birthday travels in the contact events to the workflow
// service, whose durable timer fires at the birthday plus the rule's
// offset. The offset ("the day before, at this hour") makes it fire
// seconds after the contact is made. The contact is on a supplier's
// account with roles, and it is listed among the upcoming birthdays.
func TestBirthdayReminderForTheOwnerOverREST(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	supplier := s.do(t, "POST", "/v1/accounts", map[string]any{"displayName": "Steel Supply", "relationship": "ACCOUNT_RELATIONSHIP_SUPPLIER"}).want(t, 200)
	if supplier.str("relationship") != "ACCOUNT_RELATIONSHIP_SUPPLIER" {
		t.Fatalf("supplier: %s", supplier.raw)
	}
	if bad := s.do(t, "POST", "/v1/accounts", map[string]any{"displayName": "X", "relationship": "ACCOUNT_RELATIONSHIP_FRIEND"}); bad.status != 400 {
		t.Fatalf("unknown relationship: %d %s", bad.status, bad.raw)
	}

	// Midnight (UTC) of tomorrow is the birthday; the rule fires its
	// offset before it, a few seconds from now.
	now := time.Now().UTC()
	tomorrow := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	offset := -tomorrow.Sub(now.Add(8 * time.Second)).Truncate(time.Second)
	rule := s.do(t, "POST", "/v1/rules", map[string]any{
		"displayName": "Birthday wishes", "enabled": true,
		"trigger": map[string]any{"time": map[string]any{"recordType": "RECORD_TYPE_CONTACT", "field": "birthday",
			"offset": fmt.Sprintf("%ds", int64(offset.Seconds())), "yearly": true}},
		"actions": []any{map[string]any{"createTask": map[string]any{"type": "ACTIVITY_TYPE_CALL", "subject": "Birthday: call to congratulate",
			"key": "birthday", "dueInDays": 1}}},
	}).want(t, 200)

	contact := s.do(t, "POST", "/v1/contacts", map[string]any{"firstName": "Bea", "lastName": "Day", "owner": "bob",
		"account": supplier.str("name"), "roles": []string{"procurement", "decision_maker"},
		"birthday": map[string]any{"year": 1980, "month": int(tomorrow.Month()), "day": tomorrow.Day()}}).want(t, 200)
	name := contact.str("name")
	if _, fields := s.do(t, "POST", "/v1/contacts", map[string]any{"lastName": "X", "roles": []string{"astrologer"}}).want(t, 400).violations(); !testkit.HasField(fields, "contact.roles[0]") {
		t.Fatalf("unknown role: %v", fields)
	}
	// Listed among the next two days' birthdays, filtered by role.
	upcoming := s.do(t, "GET", "/v1/contacts:upcomingBirthdays?days=2&filter=role%20%3D%20%22procurement%22", nil).want(t, 200)
	if bs := upcoming.list("birthdays"); len(bs) != 1 || bs[0]["contact"].(map[string]any)["name"] != name || bs[0]["daysUntil"] != float64(1) {
		t.Fatalf("upcoming birthdays: %s", upcoming.raw)
	}

	// The contact sits on a customer's buying committee.
	customer := s.do(t, "POST", "/v1/accounts", map[string]any{"displayName": "Buyer Inc"}).want(t, 200)
	opp := s.do(t, "POST", "/v1/opportunities", map[string]any{"displayName": "Steel deal", "account": customer.str("name"),
		"buyingCommittee": []any{map[string]any{"contact": name, "roles": []string{"technical", "influencer"}}}}).want(t, 200)
	got := s.do(t, "GET", "/v1/"+opp.str("name"), nil).want(t, 200)
	if ms := got.list("buyingCommittee"); len(ms) != 1 || ms[0]["contact"] != name {
		t.Fatalf("buying committee: %s", got.raw)
	}
	bad := s.do(t, "PATCH", "/v1/"+opp.str("name"), map[string]any{"account": customer.str("name"),
		"buyingCommittee": []any{map[string]any{"contact": name, "roles": []string{"astrologer"}}}}).want(t, 400)
	if _, fields := bad.violations(); !testkit.HasField(fields, "opportunity.buying_committee[0].roles[0]") {
		t.Fatalf("unknown committee role: %s", bad.raw)
	}
	missing := s.do(t, "PATCH", "/v1/"+opp.str("name"), map[string]any{"account": customer.str("name"),
		"buyingCommittee": []any{map[string]any{"contact": "contacts/0199c7a4-0000-7000-8000-00000000abcd", "roles": []string{"finance"}}}})
	if reason, _ := missing.violations(); missing.status != 400 || reason != "CONTACT_NOT_FOUND" {
		t.Fatalf("unknown committee contact: %d %s", missing.status, missing.raw)
	}

	bob := testkit.Bearer("bob")
	var task map[string]any
	testkit.Eventually(t, 40*time.Second, func() bool {
		for _, tk := range s.do(t, "GET", "/v1/tasks", nil, "Authorization", bob).want(t, 200).list("tasks") {
			if tk["regarding"] == name && tk["key"] == "birthday" {
				task = tk
				return true
			}
		}
		return false
	}, "the birthday reminder on bob's list")
	if task["type"] != "ACTIVITY_TYPE_CALL" || task["owner"] != "bob" {
		t.Fatalf("reminder %v", task)
	}
	runs := s.do(t, "GET", "/v1/"+rule.str("name")+"/runs", nil).want(t, 200)
	if rs := runs.list("runs"); len(rs) != 1 || rs[0]["status"] != "RULE_RUN_STATUS_SUCCEEDED" {
		t.Fatalf("runs: %s", runs.raw)
	}
}

package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/crmsuite/crm/platform/testkit"
)

// SLAs over REST: an admin defines a calendar (a bad time zone is a 400
// naming the field) and a policy for hot leads; a hot lead made over REST
// gets a first-response clock, readable under the lead, and a logged call
// meets it.
func TestSlaOverREST(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	var hours []map[string]any
	for _, day := range []string{"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"} {
		hours = append(hours, map[string]any{"day": day, "startTime": map[string]any{}, "endTime": map[string]any{"hours": 24}})
	}
	year := time.Now().Year()
	cal := map[string]any{"displayName": "Always", "timeZone": "Mars/Olympus_Mons", "firstYear": year, "lastYear": year + 1, "workingHours": hours}
	bad := s.do(t, "POST", "/v1/businessCalendars", cal).want(t, 400)
	if _, fields := bad.violations(); !testkit.HasField(fields, "business_calendar.time_zone") {
		t.Fatalf("bad time zone: %s", bad.raw)
	}
	cal["timeZone"] = "Europe/Berlin"
	created := s.do(t, "POST", "/v1/businessCalendars", cal).want(t, 200)
	s.do(t, "POST", "/v1/slaPolicies", map[string]any{"displayName": "Hot leads", "enabled": true, "recordType": "RECORD_TYPE_LEAD",
		"condition": "record.rating == Rating.RATING_HOT", "calendar": created.str("name"),
		"targets": []map[string]any{{"kind": "SLA_TARGET_KIND_FIRST_RESPONSE", "duration": "14400s"}}}).want(t, 200)
	lead := s.do(t, "POST", "/v1/leads", map[string]any{"lastName": "Lovelace", "rating": "RATING_HOT"}).want(t, 200)
	name := lead.str("name")
	var clock map[string]any
	testkit.Eventually(t, 20*time.Second, func() bool {
		cs := s.do(t, "GET", "/v1/"+name+"/slaClocks", nil).want(t, 200).list("slaClocks")
		if len(cs) == 1 {
			clock = cs[0]
		}
		return clock != nil
	}, "the lead's first-response clock")
	if clock["status"] != "SLA_STATUS_ON_TRACK" || clock["timeZone"] != "Europe/Berlin" || clock["breachTime"] == nil {
		t.Fatalf("clock %v", clock)
	}
	s.do(t, "POST", "/v1/"+name+"/activities", map[string]any{"type": "ACTIVITY_TYPE_CALL", "direction": "DIRECTION_OUTBOUND"}).want(t, 200)
	met := s.do(t, "GET", "/v1/"+name+"/slaClocks", nil).want(t, 200).list("slaClocks")
	if len(met) != 1 || met[0]["status"] != "SLA_STATUS_MET" {
		t.Fatalf("after the call: %v", met)
	}
	report := s.do(t, "GET", fmt.Sprintf("/v1/slaReport?startTime=%d-01-01T00:00:00Z&endTime=%d-01-01T00:00:00Z", year, year+1), nil).want(t, 200)
	if rows := report.list("byOwner"); len(rows) != 1 || rows[0]["clocks"] != "1" {
		t.Fatalf("report %s", report.raw)
	}
}

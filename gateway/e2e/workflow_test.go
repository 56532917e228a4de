package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crmsuite/crm/platform/testkit"
)

// Activities over REST at the paths the lead service used to serve
// (/v1/leads/{id}/activities, now the workflow service's), the lead's
// last_activity_time following them, a hot lead's call-back on the
// caller's to-do list, and a calendar feed a calendar app fetches with no
// token (text/calendar).
func TestActivitiesTasksAndCalendarOverREST(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	lead := s.do(t, "POST", "/v1/leads", map[string]any{"lastName": "Hopper", "company": "Navy", "rating": "RATING_HOT"}).want(t, 200)
	name := lead.str("name")
	call := s.do(t, "POST", "/v1/"+name+"/activities", map[string]any{"type": "ACTIVITY_TYPE_CALL", "subject": "first call",
		"direction": "DIRECTION_OUTBOUND"}).want(t, 200)
	if call.str("regarding") != name || call.str("status") != "ACTIVITY_STATUS_DONE" {
		t.Fatalf("logged call: %s", call.raw)
	}
	listed := s.do(t, "GET", "/v1/"+name+"/activities?filter=type%20%3D%20CALL%20AND%20status%20%3D%20DONE", nil).want(t, 200)
	if as := listed.list("activities"); len(as) != 1 || as[0]["name"] != call.str("name") {
		t.Fatalf("the lead's calls: %s", listed.raw)
	}
	// The lead's last activity time follows, from the workflow service's
	// events.
	testkit.Eventually(t, 20*time.Second, func() bool {
		return s.do(t, "GET", "/v1/"+name, nil).want(t, 200).str("lastActivityTime") != ""
	}, "the lead's last activity time")
	// The seeded rule gave the hot lead's owner (alice) a call-back.
	testkit.Eventually(t, 20*time.Second, func() bool {
		return len(s.do(t, "GET", "/v1/tasks", nil).want(t, 200).list("tasks")) == 1
	}, "the call-back on alice's to-do list")
	task := s.do(t, "GET", "/v1/tasks", nil).list("tasks")[0]
	if task["regarding"] != name || task["key"] != "callback" || task["type"] != "ACTIVITY_TYPE_CALL" {
		t.Fatalf("call-back %v", task)
	}
	// Leads from a CSV import get theirs too (the importer owns them).
	r := s.importCSV(t, "", "last_name,company,rating\nTuring,Bletchley,HOT\nHamilton,Apollo,COLD\n")
	if r.status != 200 || r.count("created") != "2" {
		t.Fatalf("csv import: %d %s", r.status, r.body)
	}
	importer := testkit.Bearer("importer")
	testkit.Eventually(t, 20*time.Second, func() bool {
		return len(s.do(t, "GET", "/v1/tasks", nil, "Authorization", importer).want(t, 200).list("tasks")) == 2
	}, "a call-back for each imported lead")
	// Bad input is a 400 with the field.
	bad := s.do(t, "POST", "/v1/"+name+"/activities", map[string]any{"type": "ACTIVITY_TYPE_CALL", "duration": "90000s"}).want(t, 400)
	if _, fields := bad.violations(); !testkit.HasField(fields, "activity.duration") {
		t.Fatalf("bad duration: %s", bad.raw)
	}

	feed := s.do(t, "POST", "/v1/calendarFeeds", map[string]any{}).want(t, 200)
	path := feed.str("path")
	req, err := http.NewRequest("GET", s.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.http.Do(req) // no Authorization: calendar apps send none
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/calendar") ||
		!strings.Contains(string(body), "BEGIN:VCALENDAR") || !strings.Contains(string(body), "UID:activity-"+strings.TrimPrefix(task["name"].(string), "activities/")) {
		t.Fatalf("calendar: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	s.do(t, "POST", "/v1/"+feed.body["feed"].(map[string]any)["name"].(string)+":revoke", map[string]any{}).want(t, 200)
	s.do(t, "GET", path, nil, "Authorization", "").want(t, 404)
}

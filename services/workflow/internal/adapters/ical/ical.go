// Package ical renders calendar feeds as iCalendar (RFC 5545) documents,
// with github.com/arran4/golang-ical. Every item is a VEVENT (calendar
// apps show VEVENTs; many ignore VTODOs): a task at its due time, a
// meeting for its duration, a lead's next-contact time for 15 minutes.
package ical

import (
	"strings"
	"time"

	ics "github.com/arran4/golang-ical"

	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

// ContentType of the document.
const ContentType = "text/calendar; charset=utf-8"

// UIDDomain makes items' UIDs globally unique (RFC 5545 3.8.4.7).
const UIDDomain = "crm.example.com"

// Render returns the calendar of owner's items. baseURL, if set, links
// each item to its record's page.
func Render(owner string, items []domain.CalendarItem, now time.Time, baseURL string) []byte {
	cal := ics.NewCalendarFor("crm.example.com//CRM workflow")
	cal.SetMethod(ics.MethodPublish)
	cal.SetXWRCalName("CRM: " + owner)
	cal.SetRefreshInterval("PT15M")
	cal.SetXPublishedTTL("PT15M")
	for _, it := range items {
		e := cal.AddEvent(it.UID + "@" + UIDDomain)
		e.SetDtStampTime(now)
		e.SetSequence(int(it.Sequence))
		e.SetStartAt(it.Start)
		e.SetEndAt(it.End)
		e.SetSummary(it.Summary)
		if it.Description != "" {
			e.SetDescription(it.Description)
		}
		if !it.Updated.IsZero() {
			e.SetLastModifiedAt(it.Updated)
		}
		switch {
		case it.Cancelled:
			e.SetStatus(ics.ObjectStatusCancelled)
		default:
			e.SetStatus(ics.ObjectStatusConfirmed)
		}
		if it.Done {
			e.AddCategory("DONE")
		}
		if baseURL != "" && it.Record != "" {
			e.SetURL(strings.TrimRight(baseURL, "/") + "/v1/" + it.Record)
		}
	}
	return []byte(cal.Serialize())
}

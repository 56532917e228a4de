package wire_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/grpc/codes"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func isLeap(y int) bool { return time.Date(y, 2, 29, 0, 0, 0, 0, time.UTC).Month() == 2 }

// nextCelebration is when a birthday (month, day) is next celebrated on
// or after today: February 29 on February 28 in common years.
func nextCelebration(today time.Time, month time.Month, day int) time.Time {
	for y := today.Year(); ; y++ {
		d := time.Date(y, month, day, 0, 0, 0, 0, time.UTC)
		if month == 2 && day == 29 && !isLeap(y) {
			d = time.Date(y, 2, 28, 0, 0, 0, 0, time.UTC)
		}
		if !d.Before(today) {
			return d
		}
	}
}

// Contacts by upcoming birthday: soonest first, today included, across
// the year's end, February 29 on February 28 in common years, with the
// age turned, filtered like ListContacts, paged; the birthday is in the
// contact events.
func TestUpcomingBirthdays(t *testing.T) {
	t.Parallel()
	s := start(t)
	now := time.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	bday := func(d time.Time, year int) *date.Date {
		return &date.Date{Year: int32(year), Month: int32(d.Month()), Day: int32(d.Day())}
	}
	in5, in40, yesterday := today.AddDate(0, 0, 5), today.AddDate(0, 0, 40), today.AddDate(0, 0, -1)
	todays := s.contact(t, &accountv1.Contact{LastName: "Today", Birthday: bday(today, 1990)})
	soon := s.contact(t, &accountv1.Contact{LastName: "Soon", Birthday: bday(in5, 0), Owner: "bob"})
	later := s.contact(t, &accountv1.Contact{LastName: "Later", Birthday: bday(in40, 0)})
	// Yesterday's birthday is next year's: almost a year away, past the
	// year's end for most of the year.
	past := s.contact(t, &accountv1.Contact{LastName: "Past", Birthday: bday(yesterday, 2000)})
	leap := s.contact(t, &accountv1.Contact{LastName: "Leap", Birthday: &date.Date{Month: 2, Day: 29}})
	s.contact(t, &accountv1.Contact{LastName: "NoBirthday"})

	list := func(req *accountv1.ListUpcomingBirthdaysRequest) []*accountv1.UpcomingBirthday {
		t.Helper()
		resp, err := s.client.ListUpcomingBirthdays(testkit.As("sam", "sales"), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Birthdays
	}
	names := func(bs []*accountv1.UpcomingBirthday) []string {
		var out []string
		for _, b := range bs {
			out = append(out, b.Contact.LastName)
		}
		return out
	}
	// expect lists who has a birthday in the days days from today, soonest
	// first (then oldest first, as the ids are).
	type born struct {
		name  string
		month time.Month
		day   int
	}
	people := []born{{"Today", today.Month(), today.Day()}, {"Soon", in5.Month(), in5.Day()}, {"Later", in40.Month(), in40.Day()},
		{"Past", yesterday.Month(), yesterday.Day()}, {"Leap", 2, 29}}
	expect := func(today time.Time, days int) []string {
		var out []string
		for d := range days {
			for _, p := range people {
				if nextCelebration(today, p.month, p.day).Equal(today.AddDate(0, 0, d)) {
					out = append(out, p.name)
				}
			}
		}
		return out
	}
	// The default window is 30 days.
	got := list(&accountv1.ListUpcomingBirthdaysRequest{})
	if want := expect(today, 30); !slices.Equal(names(got), want) {
		t.Fatalf("30 days: %v, want %v", names(got), want)
	}
	for _, b := range got {
		if b.Contact.Name == todays.Name && (b.DaysUntil != 0 || b.Age != int32(today.Year()-1990) ||
			b.Date.Year != int32(today.Year()) || b.Date.Month != int32(today.Month()) || b.Date.Day != int32(today.Day())) {
			t.Fatalf("today's = %v", b)
		}
		if b.Contact.Name == soon.Name && (b.DaysUntil != 5 || b.Age != 0) {
			t.Fatalf("in 5 days = %v", b)
		}
	}
	// A whole year: everyone with a birthday, in order of days until it;
	// yesterday's is a year away, February 29 where it falls this year.
	all := list(&accountv1.ListUpcomingBirthdaysRequest{Days: 366})
	if want := expect(today, 366); !slices.Equal(names(all), want) || len(all) != 5 {
		t.Fatalf("366 days: %v, want %v", names(all), want)
	}
	for i, b := range all {
		if i > 0 && b.DaysUntil < all[i-1].DaysUntil {
			t.Fatalf("not soonest first: %v", names(all))
		}
		var wantDate time.Time
		switch b.Contact.Name {
		case past.Name:
			wantDate = nextCelebration(today, yesterday.Month(), yesterday.Day())
			if b.Age != int32(wantDate.Year()-2000) {
				t.Fatalf("yesterday's age: %v", b)
			}
		case leap.Name:
			wantDate = nextCelebration(today, 2, 29)
		case later.Name:
			wantDate = in40
		default:
			continue
		}
		gotDate := time.Date(int(b.Date.Year), time.Month(b.Date.Month), int(b.Date.Day), 0, 0, 0, 0, time.UTC)
		if !gotDate.Equal(wantDate) || b.DaysUntil != int32(wantDate.Sub(today).Hours()/24) {
			t.Fatalf("%s: %v on %v, want %v", b.Contact.LastName, b.DaysUntil, gotDate, wantDate)
		}
	}
	// Filtered as ListContacts; paged one at a time in the same order.
	if got := list(&accountv1.ListUpcomingBirthdaysRequest{Days: 366, Filter: `owner = "bob"`}); len(got) != 1 || got[0].Contact.Name != soon.Name {
		t.Fatalf("bob's: %v", names(got))
	}
	var paged []string
	token := ""
	for {
		resp, err := s.client.ListUpcomingBirthdays(testkit.As("x"), &accountv1.ListUpcomingBirthdaysRequest{Days: 366, PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, names(resp.Birthdays)...)
		if token = resp.NextPageToken; token == "" {
			break
		}
	}
	if len(paged) != 5 {
		t.Fatalf("paged: %v, want %v", paged, names(all))
	}
	for i := range paged {
		if paged[i] != all[i].Contact.LastName {
			t.Fatalf("paged: %v, want %v", paged, names(all))
		}
	}
	// A page token of another window is refused.
	first, err := s.client.ListUpcomingBirthdays(testkit.As("x"), &accountv1.ListUpcomingBirthdaysRequest{Days: 366, PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.client.ListUpcomingBirthdays(testkit.As("x"), &accountv1.ListUpcomingBirthdaysRequest{Days: 30, PageSize: 1, PageToken: first.NextPageToken})
	testkit.RequireCode(t, err, codes.InvalidArgument)

	// Bad input.
	for _, c := range []struct {
		req   *accountv1.ListUpcomingBirthdaysRequest
		field string
	}{
		{&accountv1.ListUpcomingBirthdaysRequest{Days: 367}, "days"},
		{&accountv1.ListUpcomingBirthdaysRequest{Days: -1}, "days"},
		{&accountv1.ListUpcomingBirthdaysRequest{TimeZone: "Mars/Olympus"}, "time_zone"},
		{&accountv1.ListUpcomingBirthdaysRequest{Filter: `birthday = "x"`}, "filter"},
		{&accountv1.ListUpcomingBirthdaysRequest{PageSize: -1}, "page_size"},
	} {
		_, err := s.client.ListUpcomingBirthdays(testkit.As("x"), c.req)
		if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, c.field) {
			t.Fatalf("%v: %v, want %s", c.req, fields, c.field)
		}
	}
	// "Today" is the time zone's: in Kiritimati (UTC+14) it is often
	// tomorrow already.
	kiri, err := time.LoadLocation("Pacific/Kiritimati")
	if err != nil {
		t.Fatal(err)
	}
	kNow := time.Now().In(kiri)
	kToday := time.Date(kNow.Year(), kNow.Month(), kNow.Day(), 0, 0, 0, 0, time.UTC)
	if got, want := list(&accountv1.ListUpcomingBirthdaysRequest{Days: 2, TimeZone: "Pacific/Kiritimati"}), expect(kToday, 2); !slices.Equal(names(got), want) {
		t.Fatalf("two days in Kiritimati: %v, want %v", names(got), want)
	}
	// Not a date: refused, on create.
	for _, b := range []*date.Date{{Year: 2023, Month: 2, Day: 29}, {Month: 13, Day: 1}, {Month: 4, Day: 31}, {Year: 1990}} {
		_, err := s.client.CreateContact(testkit.As("alice"), &accountv1.CreateContactRequest{Contact: &accountv1.Contact{LastName: "Bad", Birthday: b}})
		if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "contact.birthday") {
			t.Fatalf("birthday %v: %v", b, fields)
		}
	}
	// The contact events carry the birthday (the workflow service's yearly
	// time triggers read it from them).
	evs := s.published(t, 6)
	if cc := evs[0].(*eventsv1.ContactCreated); cc.Contact.Birthday.GetYear() != 1990 || cc.Contact.Birthday.GetDay() != int32(today.Day()) {
		t.Fatalf("ContactCreated = %v", cc)
	}
}

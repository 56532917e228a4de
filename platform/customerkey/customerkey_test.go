package customerkey

import "testing"

func TestPhone(t *testing.T) {
	cases := []struct{ raw, region, want string }{
		{"+49 30 123456", "", "+4930123456"},
		{"030 123456", "DE", "+4930123456"},
		{"(415) 555-0134", "US", "+14155550134"},
		{"+1 415.555.0134", "DE", "+14155550134"},
		{"030 123456", "", "030123456"},
		{"", "DE", ""},
	}
	for _, c := range cases {
		if got := Phone(c.raw, c.region); got != c.want {
			t.Errorf("Phone(%q, %q) = %q, want %q", c.raw, c.region, got, c.want)
		}
	}
}

func TestEmailKeepsPlusAddressing(t *testing.T) {
	if Email("  Ada+CRM@Example.COM ") != "ada+crm@example.com" {
		t.Fatal("case and space not folded")
	}
	if Email("ada+crm@example.com") == Email("ada@example.com") {
		t.Fatal("plus-addressed email matched its base address")
	}
}

func TestDomain(t *testing.T) {
	cases := map[string]string{
		"https://www.Example.com/about": "example.com",
		"example.com":                   "example.com",
		"shop.example.co.uk":            "shop.example.co.uk",
		"http://[::1]:8080":             "::1",
		"":                              "",
	}
	for in, want := range cases {
		if got := Domain(in); got != want {
			t.Errorf("Domain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEmailDomain(t *testing.T) {
	cases := map[string]string{
		"ada@Engines.example": "engines.example",
		"ada@gmail.com":       "",
		"not-an-email":        "",
	}
	for in, want := range cases {
		if got := EmailDomain(in); got != want {
			t.Errorf("EmailDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFold(t *testing.T) {
	if Fold("  Analytical   ENGINES ") != "analytical engines" {
		t.Fatal(Fold("  Analytical   ENGINES "))
	}
}

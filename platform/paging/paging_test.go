package paging

import (
	"testing"

	"github.com/crmsuite/crm/platform/apperr"
)

type cursor struct {
	T  string `json:"t"`
	ID string `json:"id"`
}

func TestTokenRoundTripsForTheSameQueryOnly(t *testing.T) {
	c := NewCodec([]byte("secret"))
	tok, err := c.Encode("leads|status = STATUS_NEW|create_time desc", cursor{"2026-01-01", "id-1"})
	if err != nil {
		t.Fatal(err)
	}
	var got cursor
	if err := c.Decode(tok, "leads|status = STATUS_NEW|create_time desc", &got); err != nil || got.ID != "id-1" {
		t.Fatalf("decode = %+v, %v", got, err)
	}
	for name, tc := range map[string]struct{ token, query string }{
		"other query":   {tok, "leads||create_time desc"},
		"tampered":      {tok[:len(tok)-3] + "AAA", "leads|status = STATUS_NEW|create_time desc"},
		"flipped body":  {"x" + tok[1:], "leads|status = STATUS_NEW|create_time desc"},
		"not base64":    {"%%%", "q"},
		"empty payload": {"", "q"},
	} {
		err := c.Decode(tc.token, tc.query, &got)
		if ae, ok := apperr.As(err); !ok || ae.Kind != apperr.KindInvalidArgument || ae.Violations[0].Field != "page_token" {
			t.Fatalf("%s: err = %v, want InvalidArgument on page_token", name, err)
		}
	}
	if err := NewCodec([]byte("other secret")).Decode(tok, "leads|status = STATUS_NEW|create_time desc", &got); err == nil {
		t.Fatal("token signed with another key accepted")
	}
}

func TestSizeCoercesToDefaultAndMax(t *testing.T) {
	for req, want := range map[int32]int{0: DefaultPageSize, 1: 1, 500: 500, 501: MaxPageSize, 1 << 30: MaxPageSize} {
		if got := Size(req); got != want {
			t.Fatalf("Size(%d) = %d, want %d", req, got, want)
		}
	}
}

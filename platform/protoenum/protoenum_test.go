package protoenum

import "testing"

func TestNameAndValue(t *testing.T) {
	values := map[string]int32{"STATUS_UNSPECIFIED": 0, "STATUS_NEW": 1, "STATUS_WORKING": 2}
	for full, want := range map[string]string{"STATUS_NEW": "NEW", "STATUS_WORKING": "WORKING", "STATUS_UNSPECIFIED": ""} {
		if got := Name(full, "STATUS_"); got != want {
			t.Errorf("Name(%s) = %q, want %q", full, got, want)
		}
	}
	for name, want := range map[string]int32{"NEW": 1, "WORKING": 2, "": 0, "GONE": 0} {
		if got := Value(name, "STATUS_", values); got != want {
			t.Errorf("Value(%q) = %d, want %d", name, got, want)
		}
	}
}

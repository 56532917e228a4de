package domain

import (
	"slices"
	"testing"
	"time"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func codes(w []BirthdayDay) [][]int {
	out := make([][]int, len(w))
	for i, d := range w {
		out[i] = d.Codes
	}
	return out
}

// The window wraps into the next year; February 29 birthdays are
// celebrated on February 28 in common years and on February 29 in leap
// years; every birthday appears once however long the window.
func TestBirthdayWindow(t *testing.T) {
	if got := codes(BirthdayWindow(day(2026, 12, 30), 4)); !slices.EqualFunc(got, [][]int{{1230}, {1231}, {101}, {102}}, slices.Equal) {
		t.Fatalf("year wrap: %v", got)
	}
	if got := codes(BirthdayWindow(day(2027, 2, 27), 3)); !slices.EqualFunc(got, [][]int{{227}, {228, 229}, {301}}, slices.Equal) {
		t.Fatalf("common year: %v", got)
	}
	if got := codes(BirthdayWindow(day(2028, 2, 27), 4)); !slices.EqualFunc(got, [][]int{{227}, {228}, {229}, {301}}, slices.Equal) {
		t.Fatalf("leap year: %v", got)
	}
	w := BirthdayWindow(day(2027, 3, 1), 366)
	seen := map[int]int{}
	for _, d := range w {
		for _, c := range d.Codes {
			seen[c]++
		}
	}
	if len(seen) != 366 || seen[301] != 1 || seen[229] != 1 || w[365].Date != day(2028, 2, 29) || !slices.Equal(w[365].Codes, []int{229}) {
		t.Fatalf("a year from March 1, 2027: %d codes, 301 x%d, 229 x%d, last %v %v", len(seen), seen[301], seen[229], w[365].Date, w[365].Codes)
	}
}

func TestValidBirthdayAndRoleIDs(t *testing.T) {
	for d, want := range map[Date]bool{
		{0, 2, 29}: true, {2024, 2, 29}: true, {2023, 2, 29}: false, {1990, 4, 31}: false,
		{1990, 0, 1}: false, {0, 12, 31}: true, {-1, 1, 1}: false, {1990, 1, 0}: false,
	} {
		if got := d.ValidBirthday(); got != want {
			t.Errorf("%v: %v", d, got)
		}
	}
	for in, want := range map[string]string{"Decision maker": "decision_maker", " IT  security!": "it_security", "": ""} {
		if got := RoleIDOf(in); got != want {
			t.Errorf("RoleIDOf(%q) = %q, want %q", in, got, want)
		}
	}
}

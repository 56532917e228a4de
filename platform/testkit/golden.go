package testkit

import (
	"os"
	"testing"
)

// Golden fails the test unless the file at path holds want; with
// UPDATE_GOLDEN=1 in the environment it writes want there instead.
func Golden(t testing.TB, path, want string) {
	t.Helper()
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want {
		t.Fatalf("%s is stale (%v): regenerate it with UPDATE_GOLDEN=1 go test -run %s", path, err, t.Name())
	}
}

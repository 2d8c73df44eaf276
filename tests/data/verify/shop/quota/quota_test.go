package quota

import "testing"

func TestAllowThree(t *testing.T) {
	l := New()
	for i := range 3 {
		if !l.Allow("k") {
			t.Fatalf("call %d refused", i)
		}
	}
	if l.Allow("k") {
		t.Fatal("fourth call allowed")
	}
}

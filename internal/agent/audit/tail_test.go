package audit

import (
	"fmt"
	"path/filepath"
	"testing"
)

func TestTail(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	if got, err := Tail(path, 5); err != nil || len(got) != 0 {
		t.Fatalf("Tail of a missing log = %v, %v", got, err)
	}
	for i := range 3000 { // well past what Tail reads
		if err := Append(path, Entry{Object: fmt.Sprintf("obj/%d", i), Action: "configure", Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Tail(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Object != "obj/2999" || got[2].Object != "obj/2997" {
		t.Errorf("Tail(3) = %+v, want obj/2999, 2998, 2997", got)
	}
}

package agentbin

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestFor(t *testing.T) {
	t.Parallel()
	if _, err := For("sparc64"); err == nil || !strings.Contains(err.Error(), "sparc64") {
		t.Errorf("unsupported architecture: %v", err)
	}
	b, err := For("x86_64")
	_, statErr := os.Stat("dist/steward-agent-linux-amd64.gz")
	switch {
	case statErr != nil:
		// A plain `go build`: the error says how to get a usable provider.
		if !errors.Is(err, ErrNotBuilt) || !strings.Contains(err.Error(), "make build") {
			t.Errorf("without built agents: %v, want ErrNotBuilt naming make build", err)
		}
	case err != nil:
		t.Fatal(err)
	default:
		// An ELF executable for the requested architecture.
		if len(b.Data) < 4 || string(b.Data[1:4]) != "ELF" || b.Arch != "amd64" || len(b.SHA256) != 64 {
			t.Errorf("embedded agent: arch %s, %d bytes, sha %q", b.Arch, len(b.Data), b.SHA256)
		}
	}
}

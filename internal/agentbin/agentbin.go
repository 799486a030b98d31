// Package agentbin holds the steward-agent binaries the provider installs on
// hosts. `make build` cross-compiles the agent for every supported
// architecture into dist/ (static, stripped, gzip-compressed) before building
// the provider, which embeds them. A provider built with a plain `go build`
// embeds none and says so instead of failing in obscure ways.
package agentbin

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
)

//go:embed all:dist
var dist embed.FS

// ErrNotBuilt means the provider was built without agent binaries.
var ErrNotBuilt = errors.New("this provider was built without the steward-agent binaries: build it with `make build` (a plain `go build` does not include them)")

// goArch maps `uname -m` to the Go architecture of the agent build.
var goArch = map[string]string{
	"x86_64":  "amd64",
	"amd64":   "amd64",
	"aarch64": "arm64",
	"arm64":   "arm64",
}

// Supported lists the `uname -m` values an agent is built for.
func Supported() []string { return []string{"x86_64", "aarch64"} }

// OverrideEnv names an environment variable that points at a directory laid
// out like dist/ (steward-agent-linux-<arch>.gz and VERSION) whose agents are
// shipped instead of the embedded ones: for custom builds, and for tests that
// ship a deliberately broken agent.
const OverrideEnv = "STEWARD_AGENT_DIST"

// Binary is one agent executable, ready to upload.
type Binary struct {
	Version string // The agent's version, as `steward-agent version` reports it.
	Arch    string // Go architecture, e.g. "amd64".
	Data    []byte // The uncompressed executable.
	SHA256  string // Hex SHA-256 of Data.
}

// embedded decompresses and digests each embedded agent once per process:
// the provider asks for the agent on every plan of every steward_host, and
// the embedded files never change. The override directory is read afresh on
// every call, since tests point it at new builds.
var embedded = func() map[string]func() (Binary, error) {
	m := map[string]func() (Binary, error){}
	for _, arch := range goArch {
		m[arch] = sync.OnceValues(func() (Binary, error) { return load(dist, "dist/", arch) })
	}
	return m
}()

// For returns the agent for a host whose `uname -m` is machine. Its Data is
// shared between callers and must not be modified.
func For(machine string) (Binary, error) {
	arch, ok := goArch[machine]
	if !ok {
		return Binary{}, fmt.Errorf("no steward-agent build for architecture %q (supported: %v)", machine, Supported())
	}
	if dir := os.Getenv(OverrideEnv); dir != "" {
		return load(os.DirFS(dir), "", arch)
	}
	return embedded[arch]()
}

// load reads <prefix>steward-agent-linux-<arch>.gz and <prefix>VERSION from src.
func load(src fs.FS, prefix, arch string) (Binary, error) {
	name := prefix + "steward-agent-linux-" + arch + ".gz"
	versionFile := prefix + "VERSION"
	gz, err := fs.ReadFile(src, name)
	if errors.Is(err, fs.ErrNotExist) {
		return Binary{}, ErrNotBuilt
	}
	if err != nil {
		return Binary{}, fmt.Errorf("read embedded %s: %w", name, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return Binary{}, fmt.Errorf("decompress embedded %s: %w", name, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return Binary{}, fmt.Errorf("decompress embedded %s: %w", name, err)
	}
	version, err := fs.ReadFile(src, versionFile)
	if err != nil {
		return Binary{}, fmt.Errorf("read the agent version (%s): %w", versionFile, err)
	}
	sum := sha256.Sum256(data)
	return Binary{Version: strings.TrimSpace(string(version)), Arch: arch, Data: data, SHA256: hex.EncodeToString(sum[:])}, nil
}

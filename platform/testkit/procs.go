package testkit

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsuite/crm/platform/localpg"
	"github.com/crmsuite/crm/platform/procs"
)

var (
	buildMu  sync.Mutex
	built    = map[string]string{}
	buildDir string
)

// Binary builds the main package pkg (an import path in the workspace) once
// per test process and returns the path of the binary.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[pkg]; ok {
		return bin
	}
	if buildDir == "" {
		buildDir = filepath.Join(root(), "bin")
	}
	bin := filepath.Join(buildDir, filepath.Base(pkg))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("testkit: build %s: %v\n%s", pkg, err, out)
	}
	built[pkg] = bin
	return bin
}

// Proc is a suite process started by a test.
type Proc struct {
	*procs.Proc
	Addr string
	bin  string
	env  []string
	t    testing.TB
}

// StartProc runs bin with env and waits until it listens on addr. Its
// output goes to the test log when the test fails or runs verbose. It is
// stopped when the test ends.
func StartProc(t testing.TB, name, bin, addr string, env ...string) *Proc {
	t.Helper()
	p := &Proc{Addr: addr, bin: bin, env: env, t: t}
	p.start(name)
	t.Cleanup(func() {
		select {
		case <-p.Done():
		default:
			_ = p.Stop(10 * time.Second)
		}
	})
	return p
}

func (p *Proc) start(name string) {
	p.t.Helper()
	proc, err := procs.Start(name, p.bin, p.env, testWriter{p.t})
	if err != nil {
		p.t.Fatal(err)
	}
	p.Proc = proc
	if err := proc.WaitTCP(p.Addr, time.Minute); err != nil {
		p.t.Fatal(err)
	}
}

// Restart starts the process again (after Kill or Stop) with the same
// binary, environment and address.
func (p *Proc) Restart() {
	p.t.Helper()
	p.start(p.Name)
}

// FreeAddr returns a free 127.0.0.1:port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := localpg.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	if os.Getenv("TESTKIT_QUIET") == "" {
		w.t.Log(strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

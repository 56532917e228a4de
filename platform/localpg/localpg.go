// Package localpg runs a private PostgreSQL server from the machine's
// PostgreSQL binaries: for tests (a throwaway cluster in a temp dir) and for
// `make run` (a persistent cluster under .data/). It is not used in
// production, where DATABASE_URL points at a managed server.
package localpg

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options for Start.
type Options struct {
	// DataDir holds the cluster. An existing cluster is reused.
	DataDir string
	// Port to listen on (127.0.0.1); 0 picks a free one.
	Port int
	// Throwaway turns off fsync and friends: much faster, and a crash loses
	// the data. For tests only.
	Throwaway bool
	// CrashSafe keeps commits synchronous in a Throwaway cluster: a crash
	// of the server (kill -9), though not of the machine, then loses no
	// committed transaction. For fault tests that crash it.
	CrashSafe bool
	// LogFile receives the server log; empty means DataDir/postgres.log.
	LogFile string
	// SharedBuffers is PostgreSQL's cache size; default 256MB.
	SharedBuffers string
}

// Server is a running PostgreSQL server.
type Server struct {
	// URL connects as the superuser "postgres" to database "postgres".
	URL     string
	Port    int
	DataDir string
	cmd     *exec.Cmd
	done    chan struct{}
}

// Start initialises DataDir if needed and starts the server. When the
// process runs as root, initdb and postgres run as the "postgres" user,
// because PostgreSQL refuses to run as root.
func Start(ctx context.Context, o Options) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	// Parents must be traversable by the postgres user; the cluster itself
	// is private to it.
	if err := os.MkdirAll(filepath.Dir(o.DataDir), 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := chownTree(o.DataDir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(o.DataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		out, err := command(cred, filepath.Join(bin, "initdb"),
			"-D", o.DataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("localpg: initdb: %v: %s", err, out)
		}
	}
	port := o.Port
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	logFile := o.LogFile
	if logFile == "" {
		logFile = filepath.Join(o.DataDir, "postgres.log")
	}
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := []string{
		"-D", o.DataDir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + o.DataDir,
		"-c", "max_connections=400",
		"-c", "shared_buffers=" + cmp.Or(o.SharedBuffers, "256MB"),
		"-c", "max_wal_size=4GB",
	}
	if o.Throwaway {
		args = append(args, "-c", "fsync=off", "-c", "full_page_writes=off")
		if !o.CrashSafe {
			// Commits return before their WAL leaves the server's memory.
			args = append(args, "-c", "synchronous_commit=off")
		}
	}
	cmd := command(cred, filepath.Join(bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Die with us: a test binary killed by a timeout must not leave servers.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("localpg: start postgres: %w", err)
	}
	s := &Server{
		URL:     fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		Port:    port,
		DataDir: o.DataDir,
		cmd:     cmd,
		done:    make(chan struct{}),
	}
	go func() { _ = cmd.Wait(); close(s.done) }()
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("localpg: %w (log: %s)", err, logFile)
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, s.URL)
		if err == nil {
			_ = conn.Close(ctx)
			return nil
		}
		select {
		case <-s.done:
			return errors.New("postgres exited during start-up")
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop shuts the server down (fast shutdown: sessions are ended, committed
// data is kept) and waits for it to exit.
func (s *Server) Stop() error {
	if s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	return nil
}

// Kill crashes the server: SIGKILL to the postmaster and to every one of
// its processes (each backend is in a session of its own, so the process
// group is not enough), as if the machine under them had died, though the
// operating system keeps what they wrote. Start it again on the same
// DataDir and Port: it recovers from its WAL. Linux only (it reads /proc).
func (s *Server) Kill() {
	if s.cmd.Process == nil {
		return
	}
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGSTOP) // so that it forks no more
	kids := children(pid)
	for _, kid := range kids {
		_ = syscall.Kill(kid, syscall.SIGKILL)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	<-s.done
	// Orphans are reaped by someone else; wait until none runs, so that a
	// restart finds the shared memory free.
	deadline := time.Now().Add(10 * time.Second)
	for _, kid := range kids {
		for running(kid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := procStat(child); ok && ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// running reports whether pid exists and is not a zombie.
func running(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != "Z" && state != "X"
}

// procStat reads the parent and state of pid from /proc/<pid>/stat.
func procStat(pid int) (ppid int, state string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", false
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, "", false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0], err == nil
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func command(cred *syscall.Credential, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

// runAs returns the credential of the "postgres" user when we are root,
// nil otherwise.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New(`localpg: running as root needs a "postgres" user to run PostgreSQL as (install the postgresql package)`)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func chownTree(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

// binDir finds the PostgreSQL server binaries: PG_BINDIR, then initdb on
// PATH, then pg_config --bindir, then Debian's /usr/lib/postgresql/*/bin.
func binDir() (string, error) {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
		return filepath.Dir(p), nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	return "", errors.New("localpg: PostgreSQL server binaries (initdb, postgres) not found; install postgresql or set PG_BINDIR")
}

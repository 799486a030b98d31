package audit

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// Observed is who ran the agent as the agent sees it itself, recorded beside
// the Operator the caller claims, so that a claim which does not match is
// visible in the log. The values come from sudo and sshd through the
// environment: they show who logged in and from where, but a user who may
// run anything as root can fake them too.
type Observed struct {
	SudoUser string `json:"sudo_user,omitempty"` // SUDO_USER: the login user that ran the agent through sudo.
	SudoUID  string `json:"sudo_uid,omitempty"`  // SUDO_UID.
	// SSHClient is the address and port the SSH login came from
	// (SSH_CONNECTION or SSH_CLIENT), as sshd logs it.
	SSHClient string `json:"ssh_client,omitempty"`
}

// maxAncestors bounds the walk up the process tree; the login shell is
// usually two or three processes above the agent.
const maxAncestors = 16

// observe reads the identity of the caller from getenv. sudo clears
// SSH_CONNECTION and SSH_CLIENT, so when the agent's own environment has
// neither, they are taken from the nearest ancestor process that has them
// (the login shell that ran sudo).
func observe(getenv func(string) string) Observed {
	o := Observed{SudoUser: getenv("SUDO_USER"), SudoUID: getenv("SUDO_UID")}
	o.SSHClient = sshClient(getenv)
	for pid, n := os.Getppid(), 0; o.SSHClient == "" && pid > 1 && n < maxAncestors; n++ {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err == nil {
			o.SSHClient = sshClient(environLookup(env))
		}
		if pid, err = parentOf(pid); err != nil {
			break
		}
	}
	return o
}

// sshClient returns host:port of the SSH client from SSH_CONNECTION
// ("client port server port") or SSH_CLIENT ("client port server-port").
func sshClient(getenv func(string) string) string {
	for _, key := range []string{"SSH_CONNECTION", "SSH_CLIENT"} {
		if f := strings.Fields(getenv(key)); len(f) >= 2 {
			return net.JoinHostPort(f[0], f[1])
		}
	}
	return ""
}

// environLookup looks keys up in the NUL-separated content of /proc/PID/environ.
func environLookup(environ []byte) func(string) string {
	return func(key string) string {
		for _, kv := range bytes.Split(environ, []byte{0}) {
			if k, v, ok := bytes.Cut(kv, []byte("=")); ok && string(k) == key {
				return string(v)
			}
		}
		return ""
	}
}

// parentOf returns the parent process id of pid from /proc/PID/stat, whose
// second field, the command name in parentheses, may itself hold spaces and
// parentheses.
func parentOf(pid int) (int, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 {
		return 0, fmt.Errorf("parse /proc/%d/stat: too few fields", pid)
	}
	return strconv.Atoi(f[1])
}

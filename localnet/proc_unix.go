//go:build unix

package localnet

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// startProcess starts bin in its own process group, so that it survives the
// command that started it and a Ctrl-C in that command's terminal.
func startProcess(bin string, args []string, dir string, out *os.File) (*exec.Cmd, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

// signalProcess signals the process group pid leads, or pid alone when it
// leads none.
func signalProcess(pid int, sig syscall.Signal) error {
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		err = syscall.Kill(pid, sig)
	}
	return err
}

// processAlive reports whether pid is running and is the xnode node of home.
// Where /proc exists it also rules out a zombie and a pid reused by another
// program; elsewhere a live pid is taken on trust.
func processAlive(pid int, home string) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain spaces or parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
	for i, a := range args {
		if string(a) == "--home="+home || (string(a) == "--home" && i+1 < len(args) && string(args[i+1]) == home) {
			return true
		}
	}
	return false
}

// terminate asks the process group to shut down. A stopped (SIGSTOP)
// process acts on SIGTERM only once continued, so it is continued too.
func terminate(pid int) error {
	err := signalProcess(pid, syscall.SIGTERM)
	_ = signalProcess(pid, syscall.SIGCONT)
	return err
}

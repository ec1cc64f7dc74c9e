//go:build !unix

package localnet

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

var errUnsupported = errors.New("localnet: process mode needs a unix system; use the in-process form")

func startProcess(bin string, args []string, dir string, out *os.File) (*exec.Cmd, error) {
	return nil, errUnsupported
}

func signalProcess(pid int, sig syscall.Signal) error { return errUnsupported }

func processAlive(pid int, home string) bool { return false }

func terminate(pid int) error { return errUnsupported }

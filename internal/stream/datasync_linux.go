package stream

import (
	"os"
	"syscall"
)

// datasync flushes f's data and the metadata needed to read it back (its size), not its
// times: into preallocated space (see Log.prealloc) that is a flush of the written pages and
// the disk cache, without a commit of the file system's journal.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}

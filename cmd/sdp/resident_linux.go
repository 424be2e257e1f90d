package main

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// releaseEvery is how often sdp up lets go of the database pages it has mapped in.
const releaseEvery = time.Second

// releaseResident keeps the resident memory of sdp up bounded whatever the volume of its data. bbolt reads
// the database through a shared, read-only memory map, and every page a reader touches (the stream's records
// as the consumer reads them, the curated table's leaves as items go in) stays mapped into the process, so
// its resident set grows with the database. Every interval it tells the kernel, with madvise
// MADV_DONTNEED, that the mapped pages are not needed: the kernel unmaps them from the process; the data stays
// in the file and the page cache, and the next read maps a page in again with a minor fault. It runs inside a
// read transaction, which keeps bbolt from remapping the file meanwhile, so the range is the current map.
func releaseResident(ctx context.Context, db *bolt.DB) error {
	t := time.NewTicker(releaseEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		_ = db.View(func(tx *bolt.Tx) error {
			// The map covers at least the pages of the transaction's view of the file.
			_, _, errno := unix.Syscall(unix.SYS_MADVISE, db.Info().Data, uintptr(tx.Size()), unix.MADV_DONTNEED)
			if errno != 0 {
				return errno
			}
			return nil
		})
	}
}

/*
 * glibc's malloc gives a block of 128 KiB or more a mapping of its own, unmapped when freed, and
 * hands memory at the heap's top back to the kernel once 128 KiB lie free there. When a mapped
 * block is freed, it raises the first threshold to that block's size and the second to twice it,
 * up to 32 MiB (mallopt(3): the dynamic mmap threshold). A transfer's own buffers (zlib's 256 KiB
 * output chunks, TLS records, worker results) raise them only to 256 and 512 KiB, so what they
 * free by the thousand goes back to the kernel and comes back as new pages, each faulted in
 * again: a gzip layout's export took 24-28k minor faults, with the thresholds at 32 and 64 MiB
 * 14.6k, and 987 against 842 ms (median of 12 alternating; bench/results/2026-12-07-unpack.md).
 * Node has no mallopt(), and GLIBC_TUNABLES works only when set before the process starts (and
 * passes on to every child). So the CLI allocates one block just under 32 MiB and lets it go:
 * freed at the first garbage collection, it sets the thresholds for the process. Its pages are
 * never touched; with another libc it is an unused allocation, gone at the same collection.
 */

/** Make glibc keep freed memory for reuse (see above); for a command that moves data. */
export function keepFreedMemory(): void {
  Buffer.allocUnsafeSlow(32 * 1024 * 1024 - 64 * 1024);
}

// What pd's CLI does at the start of a command that moves data (apps/cli/src/malloc.ts): one
// untouched block just under 32 MiB, allocated and dropped, raises glibc's mmap and trim thresholds
// to 32 and 64 MiB, so freed buffers are reused rather than returned to the kernel and faulted in
// again. The Node floors do it too, so that no floor is slower than pd for want of it.
export function keepFreedMemory() {
  Buffer.allocUnsafeSlow(32 * 1024 * 1024 - 64 * 1024);
}

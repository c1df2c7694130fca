/* Fault injection points of chunkd, for crash tests. Compiled in only when
 * GODFS_FAULT_INJECTION is defined (configure --enable-sanitizers, the test
 * build); in a release build CHUNKD_FAULT(name) is empty: no code, no cost.
 *
 * GODFS_FAULT="point:N[:power][,point:N[:power]...]": the Nth time the named
 * point is reached (counted per process), the process ends with _exit(137),
 * as kill -9 would end it. With ":power" it first calls
 * godfs_powerloss_now() when the power-loss shim (tests/shim/powerloss.c)
 * is preloaded: the shim throws away (or tears at 4 KiB) whatever was
 * written to the data dir and not yet synced, then exits the same way.
 *
 * The points (docs/durability.md says what each one proves):
 *   write_dirty      a copy was marked "being written" (header), before its sync
 *   write_data       between a write's data and its checksum table
 *   rename           a chunk file was renamed (new version, or a replica put
 *                    in place), before its directory was synced
 *   before_fdatasync, after_fdatasync   around every fdatasync of a chunk file */
#ifndef CHUNKD_FAULT_H
#define CHUNKD_FAULT_H

#ifdef GODFS_FAULT_INJECTION
void chunkd_fault_hit(const char *point);
#define CHUNKD_FAULT(point) chunkd_fault_hit(point)
#else
#define CHUNKD_FAULT(point) ((void)0)
#endif

#endif

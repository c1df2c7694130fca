/* Request ids ("traces"): a short string that names one request of a user
 * (an HTTP request at the gateway, an operator's godfs-admin call) and that
 * follows it through every daemon it reaches, so that one grep of the id in
 * the logs of the meta and of each chunkd shows what each did for it
 * (docs/observability.md, "Logs and request ids").
 *
 * Each thread has its own current id. gd_log appends ` req=<id>` to every
 * line written while one is set; gd_conn sends it with every request frame
 * started while one is set (gd_frame.h: GD_FRAME_F_TRACE); gd_server sets the
 * id a request came with while that request's handler runs. Work handed to
 * another thread must carry the id itself (copy it at hand-over, gd_trace_set
 * it there): the id never follows on its own.
 *
 * An id is 1..GD_TRACE_MAX bytes of [A-Za-z0-9._:-], so that it is safe in
 * a log line, an HTTP header and a file name as it is. Thread-safe (every
 * function touches only the calling thread's id). */
#ifndef GD_TRACE_H
#define GD_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#define GD_TRACE_MAX 64
#define GD_TRACE_GEN_LEN 16   /* generated ids: 16 lower-case hex digits */

/* Whether s[0..len) is a valid id (1..GD_TRACE_MAX allowed characters). */
bool gd_trace_valid(const char *s, size_t len);

/* Makes id the calling thread's current id and returns it (the thread's
 * copy). NULL or "" clears it (and returns NULL); an id that is not valid
 * (too long, other characters) is replaced by a generated one, so that a
 * request always gets an id it can be found by. */
const char *gd_trace_set(const char *id);

/* The calling thread's current id, or NULL when none. Valid until the
 * thread's next gd_trace_set. */
const char *gd_trace_get(void);

/* Copies the current id into out ("" when none): to restore it later with
 * gd_trace_set(out) around a callback that sets its own. */
void gd_trace_save(char out[GD_TRACE_MAX + 1]);

/* Writes a new random id (GD_TRACE_GEN_LEN hex digits and a NUL) into out;
 * ids of different threads and processes do not repeat in practice (64
 * random bits: a per-thread generator seeded from the system's random
 * source). */
void gd_trace_generate(char out[GD_TRACE_GEN_LEN + 1]);

/* Makes a new generated id the calling thread's current id and returns it:
 * for work that no request started (a janitor's pass, a reaper's round), so
 * that its lines and the requests it sends can be found together. */
const char *gd_trace_new(void);

#endif

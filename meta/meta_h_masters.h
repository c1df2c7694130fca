/* The meta voters, for operators (godfs-admin masters; docs/meta.md
 * "Voters"): MASTERS_LIST, MASTERS_ADD, MASTERS_REMOVE, MASTERS_TRANSFER
 * (admin role only: the method table), and the voters' client addresses that
 * every HELLO answer carries so that clients learn them.
 *
 * A change goes through meta_raft's membership calls (one at a time). A
 * request that repeats the change in flight (same method, same id: the admin
 * resends after its per-try timeout) joins it and gets the same answer, so a
 * slow catch-up does not turn into a "busy" for the operator.
 *
 * Loop thread only, on a ready leader (the dispatcher's rule). */
#ifndef META_H_MASTERS_H
#define META_H_MASTERS_H

#include <stddef.h>

#include "gd_server.h"

struct meta_server;

void meta_h_masters_list(struct meta_server *ms, struct gd_request *req);
void meta_h_masters_add(struct meta_server *ms, struct gd_request *req);
void meta_h_masters_remove(struct meta_server *ms, struct gd_request *req);
void meta_h_masters_transfer(struct meta_server *ms, struct gd_request *req);

#define META_H_MASTERS_MAX 16       /* voters listed (and sent in HELLO answers) */
#define META_H_MASTERS_ADDR_CAP 256

/* Fills addrs with the client addresses of the voters that have one (at most
 * META_H_MASTERS_MAX) and ptrs with pointers to them (for HelloResp.metas);
 * returns how many. */
size_t meta_h_masters_client_addrs(struct meta_server *ms,
				   char (*addrs)[META_H_MASTERS_ADDR_CAP], char **ptrs);

#endif

#ifndef SAGAKIT_CLIBPQ_SHIM_H
#define SAGAKIT_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#include <poll.h>

/// Waits until the connection's socket is readable or the timeout passes; used by the LISTEN loop.
static inline int sagakit_pq_wait_readable(PGconn *conn, int timeout_ms) {
    struct pollfd fd = { .fd = PQsocket(conn), .events = POLLIN, .revents = 0 };
    if (fd.fd < 0) return -1;
    return poll(&fd, 1, timeout_ms);
}
#endif

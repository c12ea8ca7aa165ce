/*
 * http.h: the HTTP layer's private interface. The only header that names
 * libmicrohttpd types; included by the files that serve HTTP.
 *
 * libmicrohttpd is not linked: it pulls in GnuTLS and half a dozen more
 * libraries, whose loading alone takes several milliseconds at every start,
 * and the stdio server (started by the assistant for each session) never
 * speaks HTTP. http_listener_start() loads it on first use, and every call
 * into it goes through the table mhd, whose entries have the exact types
 * of the functions microhttpd.h declares.
 */
#ifndef PHONELY_HTTP_H
#define PHONELY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "config.h"
#include "err.h"

/*
 * A request handler: libmicrohttpd's access handler with the listener's
 * context first. *req_cls starts NULL; a handler that sets it must free it
 * in its completed() callback.
 */
typedef enum MHD_Result (*http_handler_fn)(void *ctx, struct MHD_Connection *conn, const char *url,
                                           const char *method, const char *upload,
                                           size_t *upload_size, void **req_cls);
typedef void (*http_completed_fn)(void *ctx, void *req);

/* The libmicrohttpd functions we call; mhd.x is MHD_x. */
struct http_mhd {
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_get_connection_info) *get_connection_info;
    __typeof__(MHD_get_connection_values) *get_connection_values;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
    __typeof__(MHD_suspend_connection) *suspend_connection;
    __typeof__(MHD_resume_connection) *resume_connection;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_create_response_from_callback) *create_response_from_callback;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_destroy_response) *destroy_response;
};

/* Filled by http_mhd_load(); read-only after. */
extern struct http_mhd mhd;

/*
 * Load libmicrohttpd (PHONELY_MHD_LIBRARY, its soname) and fill mhd. Safe
 * to call from any thread and more than once; false with err set when the
 * library or one of its functions is missing.
 */
bool http_mhd_load(struct err *err);

struct http_listener_opts {
    const char *name; /* "webhook", "private": for logs */
    struct listen_addr addr;
    unsigned threads;
    unsigned connection_limit;
    unsigned per_ip_limit;
    unsigned connection_timeout;
    unsigned header_deadline; /* seconds to send a request's headers; 0 = no limit */
    size_t header_max;
    http_handler_fn handler;
    http_completed_fn completed;
    void *ctx;
};

struct http_listener;

/* Bind, listen and start serving. The caller owns the result. */
struct http_listener *http_listener_start(const struct http_listener_opts *opts, struct err *err);
/* Stop accepting, finish what is running, free. NULL is fine. */
void http_listener_stop(struct http_listener *l);
/* The port actually bound (useful with port 0). */
uint16_t http_listener_port(const struct http_listener *l);

/*
 * Queue a JSON response; json is copied. extra_name/extra_value add one
 * header (NULL for none). Returns MHD_YES or MHD_NO like MHD_queue_response.
 */
enum MHD_Result http_reply_json(struct MHD_Connection *conn, unsigned status, const char *json,
                                const char *extra_name, const char *extra_value);
/* {"error": code, "message": message}: never carries request data. */
enum MHD_Result http_reply_error(struct MHD_Connection *conn, unsigned status, const char *code,
                                 const char *message);

/* The same, naming the allowed methods when status is 405 (else "POST"). */
enum MHD_Result http_reply_error_allow(struct MHD_Connection *conn, unsigned status,
                                       const char *code, const char *message, const char *allow);

/* "addr:port" of the peer into out. */
void http_peer(struct MHD_Connection *conn, char *out, size_t outsz);
/* How many request headers are called name (case-insensitive). */
unsigned http_header_count(struct MHD_Connection *conn, const char *name);
/* The first value of header name, or NULL. */
const char *http_header(struct MHD_Connection *conn, const char *name);

#endif

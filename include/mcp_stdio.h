/* mcp_stdio.h: MCP over standard input and output (newline-delimited JSON-RPC). */
#ifndef PHONELY_MCP_STDIO_H
#define PHONELY_MCP_STDIO_H

#include "mcp.h"
#include "store.h"

struct mcp_stdio_opts {
    const char *db_path;
    struct store_options store; /* read_only for read-only mode */
    unsigned workers;           /* requests served at once (each with its own store) */
    int in_fd;                  /* 0 */
    int out_fd;                 /* 1: nothing but MCP messages is written here */
};

/*
 * Serve one MCP session on in_fd/out_fd until end of input, then let the
 * requests in flight finish and return 0 (1 when the store cannot be
 * opened). Lines of any length are read; each message written is one line.
 */
int mcp_stdio_run(struct mcp_server *srv, const struct mcp_stdio_opts *opts);

#endif

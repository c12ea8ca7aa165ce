/* tools.h: phonely-mcp's MCP surface: the call tools, resources, prompts. */
#ifndef PHONELY_TOOLS_H
#define PHONELY_TOOLS_H

#include "mcp.h"

/* The registry of tools, resources (phonely://calls/...), prompts and completion. */
const struct mcp_registry *tools_registry(void);

/* initialize's instructions: what the server holds and how to use the tools. */
const char *tools_instructions(void);

#endif

// wire.mjs: check every message a server sends against the MCP JSON Schema
// (revision 2025-11-25, copied into schemas/) and the JSON-RPC envelope
// rules. Results are validated by the type their request asks for
// (InitializeResult, ListToolsResult, CallToolResult, ...).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const SCHEMA_PATH = fileURLToPath(new URL('../schemas/mcp-schema-2025-11-25.json', import.meta.url));
const SCHEMA_ID = 'mcp-2025-11-25';

/* The result type each request method must answer with. */
export const RESULT_TYPE = {
    'initialize': 'InitializeResult',
    'ping': 'EmptyResult',
    'tools/list': 'ListToolsResult',
    'tools/call': 'CallToolResult',
    'resources/list': 'ListResourcesResult',
    'resources/templates/list': 'ListResourceTemplatesResult',
    'resources/read': 'ReadResourceResult',
    'resources/subscribe': 'EmptyResult',
    'resources/unsubscribe': 'EmptyResult',
    'prompts/list': 'ListPromptsResult',
    'prompts/get': 'GetPromptResult',
    'completion/complete': 'CompleteResult',
    'logging/setLevel': 'EmptyResult',
};

/* The notifications a server may send, by method. */
const NOTIFICATION_TYPE = {
    'notifications/progress': 'ProgressNotification',
    'notifications/message': 'LoggingMessageNotification',
    'notifications/cancelled': 'CancelledNotification',
    'notifications/resources/updated': 'ResourceUpdatedNotification',
    'notifications/resources/list_changed': 'ResourceListChangedNotification',
    'notifications/tools/list_changed': 'ToolListChangedNotification',
    'notifications/prompts/list_changed': 'PromptListChangedNotification',
};

let ajv;
const compiled = new Map();

/** A compiled validator for one definition of the MCP schema, e.g. "CallToolResult". */
export function validator(def) {
    if (!ajv) {
        ajv = new Ajv2020({ strict: false, allErrors: true });
        addFormats(ajv);
        const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8'));
        ajv.addSchema(schema, SCHEMA_ID);
    }
    let v = compiled.get(def);
    if (!v) {
        v = ajv.getSchema(`${SCHEMA_ID}#/$defs/${def}`);
        if (!v)
            throw new Error(`no definition ${def} in the MCP schema`);
        compiled.set(def, v);
    }
    return v;
}

/** Problems (strings) with value as an instance of def; [] when valid. */
export function schemaProblems(def, value) {
    const v = validator(def);
    if (v(value))
        return [];
    return v.errors.map((e) => `${def}${e.instancePath} ${e.message}` +
                               (e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''));
}

function keysExactly(obj, allowed) {
    return Object.keys(obj).filter((k) => !allowed.includes(k));
}

/*
 * Checks the messages of one session as the server sends them. Tell it
 * about every request the client sends (sent()), then pass it every message
 * received (received()); problems collects what is wrong, with the message.
 */
export class WireChecker {
    constructor() {
        this.methods = new Map(); /* request id -> method, for requests in flight */
        this.answered = new Set();
        this.problems = [];
        this.messages = []; /* every message received, in order */
        this.progress = new Map(); /* progressToken -> [progress values] */
        this.tokens = new Map(); /* request id -> its progressToken */
        this.finished = new Set(); /* progressTokens whose request was answered */
        this.cancelled = new Set(); /* request ids the client cancelled */
    }

    sent(msg) {
        if (msg?.method === 'notifications/cancelled')
            this.cancelled.add(JSON.stringify(msg.params?.requestId));
        if (msg && msg.method && msg.id !== undefined) {
            this.methods.set(JSON.stringify(msg.id), msg.method);
            const token = msg.params?._meta?.progressToken;
            if (token !== undefined)
                this.tokens.set(JSON.stringify(msg.id), token);
        }
    }

    problem(text, msg) {
        let shown = JSON.stringify(msg);
        if (shown && shown.length > 600)
            shown = shown.slice(0, 600) + '...';
        this.problems.push(`${text}: ${shown}`);
    }

    received(msg) {
        this.messages.push(msg);
        if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
            this.problem('not a JSON-RPC object', msg);
            return;
        }
        if ('method' in msg) {
            if ('id' in msg) {
                /* A request from the server: the tests declare no client capabilities, so only ping may come. */
                if (msg.method !== 'ping')
                    this.problem('unexpected server-to-client request', msg);
                for (const p of schemaProblems(msg.method === 'ping' ? 'PingRequest' : 'JSONRPCRequest', msg))
                    this.problem(p, msg);
                return;
            }
            const extra = keysExactly(msg, ['jsonrpc', 'method', 'params']);
            if (extra.length)
                this.problem(`notification has extra members ${extra}`, msg);
            for (const p of schemaProblems('JSONRPCNotification', msg))
                this.problem(p, msg);
            const type = NOTIFICATION_TYPE[msg.method];
            if (!type) {
                this.problem('unknown notification method', msg);
                return;
            }
            for (const p of schemaProblems(type, msg))
                this.problem(p, msg);
            if (msg.method === 'notifications/progress' && msg.params) {
                const key = JSON.stringify(msg.params.progressToken);
                const list = this.progress.get(key) ?? [];
                if (list.length && !(msg.params.progress > list[list.length - 1]))
                    this.problem('progress did not increase', msg);
                list.push(msg.params.progress);
                this.progress.set(key, list);
                if (![...this.tokens.values()].some((t) => JSON.stringify(t) === key))
                    this.problem('progress for a token no request carried', msg);
                if (this.finished.has(key))
                    this.problem('progress after the final response', msg);
            }
            return;
        }
        /* A response. */
        const idKey = JSON.stringify(msg.id);
        if ('result' in msg && 'error' in msg)
            this.problem('response has both result and error', msg);
        if ('error' in msg) {
            const extra = keysExactly(msg, ['jsonrpc', 'id', 'error']);
            if (extra.length)
                this.problem(`error response has extra members ${extra}`, msg);
            if (msg.id === null) {
                /* JSON-RPC 2.0 says null; MCP's schema says RequestId (string | integer) or no id at all,
                 * and the official SDK client drops a message with "id": null as invalid. */
                this.problem('error response with "id": null (MCP 2025-11-25 allows only a string or ' +
                             'integer id, or none when the id could not be read; the SDK client rejects null)', msg);
                return;
            }
            for (const p of schemaProblems('JSONRPCErrorResponse', msg))
                this.problem(p, msg);
            if (msg.id === undefined)
                return; /* allowed only when the request's id could not be read */
        } else {
            const extra = keysExactly(msg, ['jsonrpc', 'id', 'result']);
            if (extra.length)
                this.problem(`response has extra members ${extra}`, msg);
            for (const p of schemaProblems('JSONRPCResultResponse', msg))
                this.problem(p, msg);
        }
        const method = this.methods.get(idKey);
        const token = this.tokens.get(idKey);
        if (token !== undefined)
            this.finished.add(JSON.stringify(token));
        if (!method) {
            this.problem(this.answered.has(idKey) ? 'second response to one request'
                                                  : 'response to no request', msg);
            return;
        }
        this.methods.delete(idKey);
        this.answered.add(idKey);
        if ('result' in msg) {
            const type = RESULT_TYPE[method];
            if (type)
                for (const p of schemaProblems(type, msg.result))
                    this.problem(`${method}: ${p}`, msg);
        }
    }

    /** Requests that never got a response (cancelled ones need none). */
    unanswered() {
        return [...this.methods.entries()].filter(([id]) => !this.cancelled.has(id))
            .map(([id, m]) => `${m} (id ${id})`);
    }
}

/*
 * Put a WireChecker between a client SDK transport and its Client: every
 * message the transport delivers and every message sent through it are
 * seen by the checker. Call before client.connect(transport). The checker
 * also records transport errors (e.g. a line on stdout that is not a
 * JSON-RPC message).
 */
export function tapTransport(transport, checker = new WireChecker()) {
    let onmessage, onerror;
    checker.transportErrors = [];
    Object.defineProperty(transport, 'onmessage', {
        configurable: true,
        get: () => onmessage,
        set: (fn) => {
            onmessage = fn && ((msg, extra) => {
                checker.received(msg);
                return fn(msg, extra);
            });
        },
    });
    Object.defineProperty(transport, 'onerror', {
        configurable: true,
        get: () => onerror,
        set: (fn) => {
            onerror = (err) => {
                checker.transportErrors.push(String(err?.message ?? err));
                fn?.(err);
            };
        },
    });
    const send = transport.send.bind(transport);
    transport.send = (msg, opts) => {
        checker.sent(msg);
        return send(msg, opts);
    };
    return checker;
}

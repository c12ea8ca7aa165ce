// http.mjs: MCP over Streamable HTTP from the client side:
//  - connectHttp(): the official SDK client on StreamableHTTPClientTransport,
//    every message checked by a WireChecker (lib/wire.mjs);
//  - mcpPost(): one raw POST to /mcp with fetch, its JSON or event-stream
//    answer parsed and, given a checker, validated the same way;
//  - rawHttp(): a request with node:http, for headers fetch will not send as
//    given (Host);
//  - startConformanceServer(): the test-only fixture server
//    (tests/conformance/server.c), whose test_tool_with_progress answers
//    with an event stream.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import http from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { binary, childEnv } from './env.mjs';
import { WireChecker, tapTransport } from './wire.mjs';

export const ACCEPT_BOTH = 'application/json, text/event-stream';

/**
 * Connect the SDK client to url (…/mcp) with Authorization: Bearer token
 * (none when token is null) and initialize. Returns {client, transport,
 * checker, close()}; close() ends the session with DELETE
 * (terminateSession) unless keepSession, then closes the client.
 */
export async function connectHttp(url, { token, headers = {}, clientInfo, capabilities, sessionId } = {}) {
    const h = { ...headers };
    if (token)
        h.Authorization = `Bearer ${token}`;
    const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: h }, sessionId });
    const checker = tapTransport(transport, new WireChecker());
    checker.clientErrors = [];
    const client = new Client(clientInfo ?? { name: 'phonely-e2e-http', version: '1.0.0' },
                              { capabilities: capabilities ?? {} });
    client.onerror = (e) => checker.clientErrors.push(String(e?.message ?? e));
    await client.connect(transport);
    return {
        client,
        transport,
        checker,
        async close({ keepSession = false } = {}) {
            if (!keepSession && transport.sessionId)
                await transport.terminateSession();
            await client.close();
        },
    };
}

/** Parse a text/event-stream body into [{id, event, data, retry}] (data lines joined by "\n"). */
export function sseEvents(text) {
    const events = [];
    for (const block of text.replace(/\r\n?/g, '\n').split(/\n\n/)) {
        if (block.trim() === '')
            continue;
        const ev = { id: undefined, event: undefined, data: undefined, retry: undefined, raw: block };
        for (const line of block.split('\n')) {
            if (line.startsWith(':'))
                continue;
            const i = line.indexOf(':');
            const field = i === -1 ? line : line.slice(0, i);
            let value = i === -1 ? '' : line.slice(i + 1);
            if (value.startsWith(' '))
                value = value.slice(1);
            if (field === 'data')
                ev.data = ev.data === undefined ? value : `${ev.data}\n${value}`;
            else if (field === 'id' || field === 'event' || field === 'retry')
                ev[field] = value;
        }
        events.push(ev);
    }
    return events;
}

/*
 * POST one body to an MCP endpoint. body is an object (serialised, and
 * told to checker as sent) or a string (sent as is; an id in it is
 * expected back). Headers: Accept both
 * types, Content-Type application/json, the bearer token, Mcp-Session-Id
 * and MCP-Protocol-Version when given; headers overrides any of them (a
 * null value removes one). Resolves {status, headers, contentType, text,
 * json, events, messages}: messages are the JSON-RPC messages of the
 * answer (the JSON body, or the data of each event), each passed to
 * checker.received when a checker is given.
 */
export async function mcpPost(url, body, { token, session, protocolVersion, headers = {}, checker, signal } = {}) {
    const h = { Accept: ACCEPT_BOTH, 'Content-Type': 'application/json' };
    if (token)
        h.Authorization = `Bearer ${token}`;
    if (session)
        h['Mcp-Session-Id'] = session;
    if (protocolVersion)
        h['MCP-Protocol-Version'] = protocolVersion;
    for (const [k, v] of Object.entries(headers)) {
        for (const existing of Object.keys(h))
            if (existing.toLowerCase() === k.toLowerCase())
                delete h[existing];
        if (v !== null)
            h[k] = v;
    }
    if (typeof body !== 'string') {
        checker?.sent(body);
    } else if (checker) {
        /* A hand-written body that carries an id expects an answer with that id, valid or not. */
        let parsed;
        try {
            parsed = JSON.parse(body);
        } catch {
            parsed = undefined;
        }
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed) && parsed.id != null)
            checker.methods.set(JSON.stringify(parsed.id), typeof parsed.method === 'string' ? parsed.method : '(invalid)');
    }
    const res = await fetch(url, {
        method: 'POST', headers: h, body: typeof body === 'string' ? body : JSON.stringify(body), signal,
    });
    const text = await res.text();
    const contentType = res.headers.get('content-type') ?? '';
    let json, events, messages = [];
    if (contentType.startsWith('text/event-stream')) {
        events = sseEvents(text);
        messages = events.filter((e) => e.data).map((e) => JSON.parse(e.data));
    } else if (contentType.startsWith('application/json') && text !== '') {
        json = JSON.parse(text);
        messages = [json];
    }
    if (checker)
        for (const m of messages)
            checker.received(m);
    return { status: res.status, headers: res.headers, contentType, text, json, events, messages };
}

/** An initialize request (id 1 unless given). */
export function initializeRequest(protocolVersion = '2025-11-25', id = 1) {
    return {
        jsonrpc: '2.0', id, method: 'initialize',
        params: { protocolVersion, capabilities: {}, clientInfo: { name: 'phonely-e2e-raw-http', version: '1.0.0' } },
    };
}

/*
 * initialize + notifications/initialized by hand. Resolves {session,
 * protocolVersion, init} (init: the mcpPost answer to initialize).
 */
export async function rawSession(url, { token, protocolVersion = '2025-11-25', checker } = {}) {
    const init = await mcpPost(url, initializeRequest(protocolVersion), { token, checker });
    if (init.status !== 200)
        throw new Error(`initialize: HTTP ${init.status} ${init.text}`);
    const session = init.headers.get('mcp-session-id');
    const negotiated = init.json.result.protocolVersion;
    const note = await mcpPost(url, { jsonrpc: '2.0', method: 'notifications/initialized' },
                               { token, session, protocolVersion: negotiated });
    if (note.status !== 202)
        throw new Error(`notifications/initialized: HTTP ${note.status} ${note.text}`);
    return { session, protocolVersion: negotiated, init };
}

/*
 * One request with node:http, which sends the headers exactly as given
 * (fetch sets Host itself). Resolves {status, headers, text}.
 */
export function rawHttp({ port, method = 'GET', path = '/', headers = {}, body }) {
    return new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method, path, headers, setHost: !('Host' in headers) },
            (res) => {
                const chunks = [];
                res.on('data', (c) => chunks.push(c));
                res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
                                              text: Buffer.concat(chunks).toString('utf8') }));
                res.on('error', reject);
            });
        req.on('error', reject);
        if (body !== undefined)
            req.write(body);
        req.end();
    });
}

/**
 * The conformance fixture server binary: PHONELY_TEST_CONFORMANCE_SERVER
 * (CTest sets it), else tests/conformance/conformance_server beside the
 * binary under test; undefined when neither exists.
 */
export function conformanceServerBinary() {
    const env = process.env.PHONELY_TEST_CONFORMANCE_SERVER;
    if (env)
        return env;
    const guess = join(dirname(binary()), 'tests', 'conformance', 'conformance_server');
    return existsSync(guess) ? guess : undefined;
}

/*
 * Start the fixture server on 127.0.0.1 with a kernel-chosen port and wait
 * for "listening on http://127.0.0.1:PORT/mcp". Resolves {url, port,
 * stderr(), stop()}; stop() sends SIGTERM and resolves {code, signal,
 * stderr}.
 */
export async function startConformanceServer(bin, { timeoutMs = 15000 } = {}) {
    const proc = spawn(bin, ['0'], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [], errs = [];
    const exited = once(proc, 'exit');
    const stderr = () => Buffer.concat(errs).toString('utf8');
    proc.stderr.on('data', (b) => errs.push(b));
    const url = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            proc.kill('SIGKILL');
            reject(new Error(`conformance_server did not become ready:\n${stderr()}`));
        }, timeoutMs);
        proc.stdout.on('data', (b) => {
            out.push(b);
            const m = /listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(Buffer.concat(out).toString('utf8'));
            if (m) {
                clearTimeout(timer);
                resolve(m[1]);
            }
        });
        proc.on('exit', (code, signal) => {
            clearTimeout(timer);
            reject(new Error(`conformance_server exited (${code ?? signal}) before it was ready:\n${stderr()}`));
        });
    });
    let stopped;
    return {
        url,
        port: Number(new URL(url).port),
        stderr,
        stop(ms = 10000) {
            if (!stopped) {
                stopped = (async () => {
                    if (proc.exitCode === null && proc.signalCode === null)
                        proc.kill('SIGTERM');
                    const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
                    const [code, signal] = await exited;
                    clearTimeout(timer);
                    return { code, signal, stderr: stderr() };
                })();
            }
            return stopped;
        },
    };
}

// client.mjs: phonely-mcp as an MCP server over stdio, two ways:
//  - connectSdk(): the official SDK client (StdioClientTransport spawns
//    `phonely-mcp stdio --db DB ...`), every message checked by a WireChecker;
//  - RawSession: the process spawned here, JSON-RPC lines written and read
//    by hand, for what the SDK would never send (bad JSON, batches, ...).
// Both keep the server's stderr and report how the process ended.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { binary, childEnv, sanitizerReports } from './env.mjs';
import { WireChecker, tapTransport } from './wire.mjs';

/**
 * Start `phonely-mcp stdio --db db ...args` under the SDK client and
 * initialize. Returns {client, checker, stderr(), close()}; close() resolves
 * {code, signal, ms, stderr} once the server has exited (the SDK closes its
 * stdin and waits; a server still running after 2 s gets SIGTERM).
 */
export async function connectSdk(db, args = [], { clientInfo, capabilities } = {}) {
    const transport = new StdioClientTransport({
        command: binary(),
        args: ['stdio', '--db', db, ...args],
        env: childEnv(),
        stderr: 'pipe',
    });
    const errChunks = [];
    transport.stderr.on('data', (b) => errChunks.push(b));
    const checker = tapTransport(transport, new WireChecker());
    checker.clientErrors = [];
    const client = new Client(clientInfo ?? { name: 'phonely-e2e', version: '1.0.0' },
                              { capabilities: capabilities ?? {} });
    client.onerror = (e) => checker.clientErrors.push(String(e?.message ?? e));
    let exit;
    const origStart = transport.start.bind(transport);
    transport.start = async () => {
        await origStart();
        /* The SDK keeps the ChildProcess private; watch it to learn how the server ended. */
        const proc = transport._process;
        exit = proc ? once(proc, 'exit') : Promise.resolve([null, null]);
    };
    await client.connect(transport);
    const stderr = () => Buffer.concat(errChunks).toString('utf8');
    return {
        client,
        transport,
        checker,
        stderr,
        async close() {
            const t0 = Date.now();
            await client.close();
            const [code, signal] = await exit;
            return { code, signal, ms: Date.now() - t0, stderr: stderr() };
        },
    };
}

/** Assert-friendly summary of what went wrong on a session's wire, [] when nothing. */
export function wireProblems(checker) {
    /* A response racing its cancellation is allowed (the SDK then reports an unknown id). */
    const late = (e) => {
        const m = /unknown message ID: (.*)$/s.exec(e);
        if (!m)
            return false;
        let id = m[1];
        try {
            const parsed = JSON.parse(m[1]);
            id = JSON.stringify(typeof parsed === 'object' && parsed ? parsed.id : parsed);
        } catch {
            /* the bare id */
        }
        return checker.cancelled.has(id);
    };
    return [
        ...checker.problems,
        ...checker.transportErrors.map((e) => `transport error: ${e}`),
        ...checker.clientErrors.filter((e) => !late(e)).map((e) => `client error: ${e}`),
    ];
}

/** How a server process ended, as problems ([] for a clean exit 0 with no sanitizer report). */
export function exitProblems({ code, signal, stderr }) {
    const p = [];
    if (code !== 0)
        p.push(`server exited with ${code === null ? `signal ${signal}` : `code ${code}`}`);
    for (const line of sanitizerReports(stderr))
        p.push(`sanitizer: ${line}`);
    return p;
}

/*
 * A stdio session driven by hand: send() writes one line (an object is
 * serialised, a string is written as is), request() sends a request and
 * waits for the response with its id, nextMessage() waits for whatever
 * comes next. Every line the server writes must be one JSON-RPC message;
 * they are checked by a WireChecker (lineProblems lists framing errors).
 */
export class RawSession {
    constructor(db, args = []) {
        this.proc = spawn(binary(), ['stdio', '--db', db, ...args], {
            env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'],
        });
        this.checker = new WireChecker();
        this.lineProblems = [];
        this.queue = [];
        this.waiters = [];
        this.errChunks = [];
        this.nextId = 1;
        this.buf = Buffer.alloc(0);
        this.exited = once(this.proc, 'exit');
        this.proc.stderr.on('data', (b) => this.errChunks.push(b));
        this.proc.stdin.on('error', () => {});
        this.proc.stdout.on('data', (chunk) => {
            this.buf = Buffer.concat([this.buf, chunk]);
            let nl;
            while ((nl = this.buf.indexOf(0x0a)) !== -1) {
                const line = this.buf.subarray(0, nl);
                this.buf = this.buf.subarray(nl + 1);
                this.line(line);
            }
        });
    }

    line(bytes) {
        const text = bytes.toString('utf8');
        if (Buffer.compare(Buffer.from(text, 'utf8'), bytes) !== 0)
            this.lineProblems.push(`stdout line is not valid UTF-8: ${text.slice(0, 200)}`);
        if (text.endsWith('\r'))
            this.lineProblems.push(`stdout line ends with CR: ${text.slice(0, 200)}`);
        let msg;
        try {
            msg = JSON.parse(text);
        } catch {
            this.lineProblems.push(`stdout line is not JSON: ${text.slice(0, 200)}`);
            return;
        }
        this.checker.received(msg);
        const w = this.waiters.findIndex((x) => x.match(msg));
        if (w !== -1) {
            const [waiter] = this.waiters.splice(w, 1);
            waiter.resolve(msg);
        } else {
            this.queue.push(msg);
        }
    }

    /** Write one line: an object as compact JSON, or a string as given (plus "\n"). */
    send(msg) {
        if (typeof msg !== 'string') {
            this.checker.sent(msg);
        } else {
            /* A hand-written line that carries an id expects an answer with that id, valid or not. */
            let parsed;
            try {
                parsed = JSON.parse(msg);
            } catch {
                parsed = undefined;
            }
            if (parsed && typeof parsed === 'object' && !Array.isArray(parsed) && parsed.id != null)
                this.checker.methods.set(JSON.stringify(parsed.id),
                                         typeof parsed.method === 'string' ? parsed.method : '(invalid)');
        }
        this.proc.stdin.write((typeof msg === 'string' ? msg : JSON.stringify(msg)) + '\n');
    }

    /** The next message matching fn (default: any), waiting at most ms. */
    next(fn = () => true, ms = 10000) {
        const i = this.queue.findIndex(fn);
        if (i !== -1)
            return Promise.resolve(this.queue.splice(i, 1)[0]);
        return new Promise((resolve, reject) => {
            const waiter = { match: fn, resolve: (m) => { clearTimeout(timer); resolve(m); } };
            const timer = setTimeout(() => {
                this.waiters.splice(this.waiters.indexOf(waiter), 1);
                reject(new Error(`no matching message from the server within ${ms} ms`));
            }, ms);
            this.waiters.push(waiter);
        });
    }

    /** Messages received and not yet taken, after waiting ms for stragglers. */
    async drain(ms = 300) {
        await new Promise((r) => setTimeout(r, ms));
        return this.queue.splice(0);
    }

    /** Send a request (id assigned when missing) and wait for its response. */
    request(method, params, { id } = {}) {
        const msg = { jsonrpc: '2.0', id: id ?? this.nextId++, method };
        if (params !== undefined)
            msg.params = params;
        this.send(msg);
        return this.next((m) => !('method' in m) && JSON.stringify(m.id) === JSON.stringify(msg.id));
    }

    notify(method, params) {
        const msg = { jsonrpc: '2.0', method };
        if (params !== undefined)
            msg.params = params;
        this.send(msg);
    }

    /** initialize + notifications/initialized; resolves the InitializeResult response. */
    async initialize(protocolVersion = '2025-11-25') {
        const r = await this.request('initialize', {
            protocolVersion, capabilities: {}, clientInfo: { name: 'phonely-e2e-raw', version: '1.0.0' },
        });
        this.notify('notifications/initialized');
        return r;
    }

    stderr() {
        return Buffer.concat(this.errChunks).toString('utf8');
    }

    /** Close stdin and wait (at most ms) for the server to exit by itself: {code, signal, ms, stderr}. */
    async close(ms = 5000) {
        const t0 = Date.now();
        this.proc.stdin.end();
        const timer = setTimeout(() => this.proc.kill('SIGKILL'), ms);
        const [code, signal] = await this.exited;
        clearTimeout(timer);
        return { code, signal, ms: Date.now() - t0, stderr: this.stderr() };
    }

    /** Kill without waiting for a clean exit (used when a test already failed). */
    kill() {
        if (this.proc.exitCode === null && this.proc.signalCode === null)
            this.proc.kill('SIGKILL');
    }
}

// http.test.mjs: MCP over Streamable HTTP, end to end: the official
// TypeScript SDK client (StreamableHTTPClientTransport) and raw fetch
// requests against a real `phonely-mcp serve` (seeded temporary database,
// both listeners on 127.0.0.1 with kernel-chosen ports, a bearer token), a
// second `serve` with small limits (body_max, mcp_sessions_max,
// mcp_session_idle, allowed_hosts, allowed_origins), and the test-only
// conformance_server for answers that come as an event stream (a tool that
// sends progress). Every JSON-RPC message the servers send is validated
// against the MCP 2025-11-25 schema by lib/wire.mjs. The docs/mcp.md
// snippets for attaching hosts over HTTP are connected as written.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { tempDir } from './lib/env.mjs';
import { PENDING_FOLLOW_UPS, seedDatabase } from './lib/seed.mjs';
import { exitProblems, wireProblems } from './lib/client.mjs';
import { postWebhook, startServe } from './lib/serve.mjs';
import { ids, sorted, structured, toolError } from './lib/expect.mjs';
import { WireChecker } from './lib/wire.mjs';
import {
    ACCEPT_BOTH, conformanceServerBinary, connectHttp, initializeRequest, mcpPost, rawHttp, rawSession,
    startConformanceServer,
} from './lib/http.mjs';

const TOOLS = ['search_calls', 'get_call', 'list_follow_ups', 'resolve_follow_up', 'get_latest_call',
               'phonely-get-latest-call', 'call_stats', 'top_unanswered_questions', 'open_action_items'];
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/* A JSON-RPC request with the next id of a counter. */
let nextId = 1000;
const req = (method, params) => ({ jsonrpc: '2.0', id: nextId++, method, ...(params ? { params } : {}) });

/* Problems on an SDK session's wire, and requests never answered. */
function assertCleanWire(s, what) {
    assert.deepEqual(wireProblems(s.checker), [], `${what}: messages that break the protocol`);
    assert.deepEqual(s.checker.unanswered(), [], `${what}: requests never answered`);
}

/* A JSON-RPC error answer: HTTP status, error code, and no result. */
function assertRpcError(r, status, code, what) {
    assert.equal(r.status, status, `${what}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
    assert.match(r.contentType, /^application\/json/, `${what}: Content-Type`);
    assert.equal(r.json?.jsonrpc, '2.0', `${what}: not a JSON-RPC message: ${r.text.slice(0, 300)}`);
    assert.equal(r.json.error?.code, code, `${what}: error code ${JSON.stringify(r.json.error)}`);
    assert.equal(typeof r.json.error.message, 'string');
    assert.ok(!('result' in r.json), `${what}: error and result`);
    return r.json.error;
}

/* The value of one Prometheus sample (name and exact label text), or undefined. */
function metric(text, name, labels = '') {
    const want = labels ? `${name}{${labels}}` : name;
    for (const line of text.split('\n')) {
        const sp = line.lastIndexOf(' ');
        if (sp > 0 && line.slice(0, sp) === want)
            return Number(line.slice(sp + 1));
    }
    return undefined;
}

/* Every sample line of a Prometheus text exposition is well formed and follows its HELP and TYPE. */
function assertPrometheusText(text) {
    const typed = new Map();
    for (const line of text.split('\n')) {
        if (line === '')
            continue;
        let m;
        if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S/.exec(line)))
            continue;
        if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/.exec(line))) {
            typed.set(m[1], m[2]);
            continue;
        }
        m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf|NaN)$/.exec(line);
        assert.ok(m, `not a Prometheus sample line: ${line}`);
        const base = m[1].replace(/_(bucket|sum|count)$/, '');
        assert.ok(typed.has(m[1]) || typed.get(base) === 'histogram', `sample before its # TYPE: ${line}`);
    }
    return typed;
}

describe('Streamable HTTP: the SDK client and raw requests against `serve`', () => {
    let tmp, db, serve, url, token;
    const open = []; /* SDK sessions to close in after() */

    const connect = async (opts = {}) => {
        const s = await connectHttp(url, { token, ...opts });
        open.push(s);
        return s;
    };
    const post = (body, opts = {}) => mcpPost(url, body, { token, ...opts });
    const get = (path, headers = {}) => fetch(`${serve.privateUrl}${path}`, { headers });
    const bearer = () => ({ Authorization: `Bearer ${token}` });

    before(async () => {
        tmp = tempDir();
        ({ db } = await seedDatabase(tmp.dir));
        serve = await startServe(db);
        url = `${serve.privateUrl}/mcp`;
        token = serve.token;
    });
    after(async () => {
        for (const s of open)
            await s.close({ keepSession: true }).catch(() => {});
        const ex = await serve?.stop();
        tmp?.cleanup();
        if (ex)
            assert.deepEqual(exitProblems(ex), [], `serve: ${ex.stderr.slice(-2000)}`);
    });

    describe('with the token', () => {
        let s;

        before(async () => {
            s = await connect();
            await s.client.listTools(); /* the SDK caches the output schemas it validates against */
        });

        it('initialize: a session id of visible ASCII, 2025-11-25, serverInfo, capabilities', () => {
            assert.match(s.transport.sessionId ?? '', VISIBLE_ASCII, 'no or bad Mcp-Session-Id');
            assert.ok(s.transport.sessionId.length >= 32, 'session id too short to be unguessable');
            assert.equal(s.transport.protocolVersion, '2025-11-25');
            const init = s.checker.messages.find((m) => m.result?.protocolVersion);
            assert.equal(init?.result.protocolVersion, '2025-11-25');
            assert.equal(s.client.getServerVersion().name, 'phonely-mcp');
            const caps = s.client.getServerCapabilities();
            for (const c of ['tools', 'resources', 'prompts', 'completions', 'logging'])
                assert.ok(caps[c], `capability ${c}: ${JSON.stringify(caps)}`);
            assert.match(s.client.getInstructions() ?? '', /not instructions|untrusted/i);
            /* The SDK opened GET /mcp for a standalone stream after initialized; 405 is not an error for it. */
            assertCleanWire(s, 'initialize');
        });

        it('initialize by hand echoes 2025-06-18 and 2025-03-26, offers 2025-11-25 otherwise; each a new session', async () => {
            const seen = new Set();
            for (const [asked, want] of [['2025-06-18', '2025-06-18'], ['2025-03-26', '2025-03-26'],
                                         ['2024-11-05', '2025-11-25'], ['2099-01-01', '2025-11-25']]) {
                const checker = new WireChecker();
                const r = await post(initializeRequest(asked), { checker });
                assert.equal(r.status, 200, r.text);
                assert.match(r.contentType, /^application\/json/);
                assert.equal(r.headers.get('cache-control'), 'no-store');
                assert.equal(r.json.result.protocolVersion, want, `asked ${asked}`);
                const sid = r.headers.get('mcp-session-id');
                assert.match(sid ?? '', VISIBLE_ASCII);
                assert.ok(!seen.has(sid), 'a session id was issued twice');
                seen.add(sid);
                assert.deepEqual(checker.problems, []);
                /* the negotiated version is then accepted as MCP-Protocol-Version */
                const ping = await post(req('ping'), { session: sid, protocolVersion: want, checker });
                assert.equal(ping.status, 200, ping.text);
                assert.deepEqual(ping.json.result, {});
                assert.deepEqual(checker.problems, []);
                assert.equal((await fetch(url, { method: 'DELETE', headers: { ...bearer(), 'Mcp-Session-Id': sid } })).status, 200);
            }
        });

        it('every tool answers over HTTP (the SDK checks each structuredContent against its outputSchema)', async () => {
            const call = (name, args = {}) => s.client.callTool({ name, arguments: args });
            const { tools } = await s.client.listTools();
            assert.deepEqual(sorted(tools.map((t) => t.name)), sorted(TOOLS));

            const found = structured(await call('search_calls', { query: 'cancellation fee' }), 'search_calls');
            for (const id of ['call_e2e_02', 'call_e2e_04', 'call_e2e_16'])
                assert.ok(ids(found.calls).includes(id), `${id} not found: ${ids(found.calls)}`);
            const byPhone = structured(await call('search_calls', { phone: '415.555.7777' }), 'search_calls phone');
            assert.deepEqual(sorted(ids(byPhone.calls)), ['call_e2e_01', 'call_e2e_02', 'call_e2e_03']);
            const page = structured(await call('search_calls', { limit: 5 }), 'search_calls page');
            assert.equal(page.calls.length, 5);
            assert.ok(page.nextCursor);
            const next = structured(await call('search_calls', { limit: 5, cursor: page.nextCursor }), 'page 2');
            assert.equal(ids(next.calls).filter((id) => ids(page.calls).includes(id)).length, 0, 'pages overlap');

            const one = structured(await call('get_call', { call_id: 'call_e2e_02' }), 'get_call');
            assert.equal(one.callId, 'call_e2e_02');
            assert.equal(one.callerName, 'Maria Hernandez');
            assert.ok(one.transcript.length >= 4);
            assert.match(toolError(await call('get_call', { call_id: 'call_nope' })), /no call with call_id/);

            const fu = structured(await call('list_follow_ups', { limit: 100 }), 'list_follow_ups');
            assert.deepEqual(sorted(ids(fu.followUps)), sorted(PENDING_FOLLOW_UPS));
            const latest = structured(await call('get_latest_call', { include_transcript: false }), 'get_latest_call');
            assert.equal(latest.call.callId, 'call_e2e_01');
            const tom = structured(await call('phonely-get-latest-call', { phone: '(212) 555-0100' }), 'alias');
            assert.equal(tom.call.callId, 'call_e2e_23');
            const stats = structured(await call('call_stats'), 'call_stats');
            assert.equal(stats.calls, 23);
            const q = structured(await call('top_unanswered_questions', { limit: 3 }), 'top_unanswered_questions');
            assert.equal(q.questions[0].text, 'Do you accept Delta Dental insurance?');
            const todo = structured(await call('open_action_items', { limit: 3 }), 'open_action_items');
            assert.ok(todo.actionItems.length >= 1 && todo.actionItems.length <= 3);
            /* serve runs with mcp_allow_writes no: the write tool explains how to allow it */
            assert.match(toolError(await call('resolve_follow_up', { call_id: 'call_e2e_02' })), /mcp_allow_writes/);
            assert.match(toolError(await call('search_calls', { limit: 0 })), /limit/);
            assertCleanWire(s, 'tools');
        });

        it('resources, prompts and completion over HTTP', async () => {
            const tr = await s.client.readResource({ uri: 'phonely://calls/call_e2e_02/transcript' });
            assert.match(tr.contents[0].text, /^Agent: .*\nCaller: I was charged/);
            const p = await s.client.getPrompt({ name: 'follow_up_briefing', arguments: { call_id: 'call_e2e_02' } });
            assert.ok(p.messages.some((m) => m.content.type === 'resource'));
            const c = await s.client.complete({ ref: { type: 'ref/prompt', name: 'follow_up_briefing' },
                                                argument: { name: 'call_id', value: 'call_e2e_0' } });
            assert.ok(c.completion.values.includes('call_e2e_02'));
            assert.deepEqual(await s.client.ping(), {});
            assertCleanWire(s, 'resources and prompts');
        });

        it('a tool call with a progressToken is answered as plain JSON (these tools send no progress)', async () => {
            const checker = new WireChecker();
            const sid = s.transport.sessionId;
            const r = await post(req('tools/call', { name: 'search_calls', arguments: { query: 'refund' },
                                                     _meta: { progressToken: 'p-json' } }),
                                 { session: sid, protocolVersion: '2025-11-25', checker });
            assert.equal(r.status, 200, r.text);
            assert.match(r.contentType, /^application\/json/);
            assert.ok(r.json.result.structuredContent.total >= 1);
            assert.deepEqual(checker.problems, []);
        });

        it('several sessions at once: 8 clients in parallel each list tools and search', async () => {
            const metricsText = async () => (await get('/metrics', bearer())).text();
            const before = metric(await metricsText(), 'phonely_mcp_sessions');
            const clients = await Promise.all(Array.from({ length: 8 }, (_, i) =>
                connectHttp(url, { token, clientInfo: { name: `parallel-${i}`, version: '1.0.0' } })));
            try {
                const sids = clients.map((c) => c.transport.sessionId);
                assert.equal(new Set(sids).size, 8, 'session ids are not distinct');
                assert.equal(metric(await metricsText(), 'phonely_mcp_sessions'), before + 8);
                const queries = ['cancellation fee', 'insurance', 'appointment', 'crown', 'refund', 'payment', 'cleaning', 'emergency'];
                const results = await Promise.all(clients.map(async (c, i) => {
                    const out = [];
                    for (let round = 0; round < 3; round++) {
                        const { tools } = await c.client.listTools();
                        assert.equal(tools.length, TOOLS.length);
                        out.push(structured(await c.client.callTool({ name: 'search_calls',
                                                                     arguments: { query: queries[i] } }), queries[i]));
                    }
                    return out;
                }));
                for (const [i, rounds] of results.entries()) {
                    assert.ok(rounds[0].total >= 1, `${queries[i]}: nothing found`);
                    assert.deepEqual(rounds[1], rounds[0], `${queries[i]}: answers differ between rounds`);
                    assert.deepEqual(rounds[2], rounds[0], `${queries[i]}: answers differ between rounds`);
                }
                /* the same query from every session at once gives the same answer */
                const same = await Promise.all(clients.map((c) =>
                    c.client.callTool({ name: 'search_calls', arguments: { query: 'cancellation fee' } })));
                for (const r of same)
                    assert.deepEqual(structured(r), structured(same[0]));
                for (const [i, c] of clients.entries())
                    assertCleanWire(c, `client ${i}`);
            } finally {
                await Promise.all(clients.map((c) => c.close()));
            }
            assert.equal(metric(await metricsText(), 'phonely_mcp_sessions'), before, 'DELETE did not end the sessions');
        });

        it('a deleted session (terminateSession) is gone: reusing it is 404 -32001, DELETE again 404', async () => {
            const t = await connectHttp(url, { token });
            const sid = t.transport.sessionId;
            await t.client.listTools();
            await t.transport.terminateSession();
            assert.equal(t.transport.sessionId, undefined);
            const checker = new WireChecker();
            const r = await post(req('tools/list'), { session: sid, protocolVersion: '2025-11-25', checker });
            assertRpcError(r, 404, -32001, 'request on an ended session');
            assert.deepEqual(checker.problems, []);
            const del = await fetch(url, { method: 'DELETE', headers: { ...bearer(), 'Mcp-Session-Id': sid } });
            assert.equal(del.status, 404);
            /* an SDK client resuming with that id (connect skips initialize then) gets the 404 too */
            const again = await connectHttp(url, { token, sessionId: sid });
            const err = await again.client.listTools().catch((e) => e);
            assert.ok(err instanceof StreamableHTTPError, `reusing an ended session: ${err}`);
            assert.equal(err.code, 404);
            await again.client.close();
            await t.client.close();
            /* the other session is not affected */
            assert.deepEqual(await s.client.ping(), {});
        });

        it('a request without Mcp-Session-Id is 400; an unknown one 404; DELETE without one 400', async () => {
            const checker = new WireChecker();
            const r = await post(req('tools/list'), { checker });
            const e = assertRpcError(r, 400, -32000, 'no session header');
            assert.match(e.message, /Mcp-Session-Id/);
            assertRpcError(await post(req('tools/list'), { session: 'x'.repeat(43), checker }), 404, -32001, 'unknown session');
            assertRpcError(await post(req('tools/list'), { session: 'short', checker }), 404, -32001, 'malformed session');
            assert.deepEqual(checker.problems, []);
            const del = await fetch(url, { method: 'DELETE', headers: bearer() });
            assert.equal(del.status, 400);
        });

        it('GET /mcp is 405 with Allow: POST, DELETE (no standalone stream); so are PUT and PATCH', async () => {
            for (const accept of ['text/event-stream', ACCEPT_BOTH]) {
                const r = await fetch(url, { headers: { ...bearer(), Accept: accept, 'Mcp-Session-Id': s.transport.sessionId } });
                assert.equal(r.status, 405);
                assert.equal(r.headers.get('allow'), 'POST, DELETE');
                assert.match(await r.text(), /GET streams are not offered/);
            }
            for (const method of ['PUT', 'PATCH']) {
                const r = await fetch(url, { method, headers: bearer(), body: '{}' });
                assert.equal(r.status, 405, method);
                assert.equal(r.headers.get('allow'), 'POST, DELETE');
            }
        });

        it('Accept must list both application/json and text/event-stream (406); Content-Type must be JSON (415)', async () => {
            const sid = s.transport.sessionId;
            for (const accept of ['application/json', 'text/event-stream', 'text/html', 'application/json-seq, text/event-streams']) {
                const r = await post(req('ping'), { session: sid, headers: { Accept: accept } });
                assertRpcError(r, 406, -32600, `Accept: ${accept}`);
            }
            // no Accept at all (fetch would add one of its own, so node:http)
            const none = await rawHttp({ port: serve.privatePort, method: 'POST', path: '/mcp', body: JSON.stringify(req('ping')),
                                         headers: { 'Content-Type': 'application/json', ...bearer(), 'Mcp-Session-Id': sid } });
            assert.equal(none.status, 406, none.text);
            for (const accept of ['*/*', 'application/json;q=0.9, text/event-stream;q=0.8', 'application/*, text/*']) {
                const r = await post(req('ping'), { session: sid, headers: { Accept: accept } });
                assert.equal(r.status, 200, `Accept: ${accept}: ${r.text}`);
            }
            for (const ct of ['text/plain', 'application/x-www-form-urlencoded', null]) {
                const r = await post(req('ping'), { session: sid, headers: { 'Content-Type': ct } });
                assertRpcError(r, 415, -32600, `Content-Type: ${ct}`);
            }
            const ok = await post(req('ping'), { session: sid, headers: { 'Content-Type': 'application/json; charset=utf-8' } });
            assert.equal(ok.status, 200, ok.text);
        });

        it('a batch is 400 -32600, a parse error 400 -32700, a bad envelope 400 -32600', async () => {
            const sid = s.transport.sessionId;
            const checker = new WireChecker();
            const batch = await post(JSON.stringify([req('ping'), req('tools/list')]), { session: sid, checker });
            const e = assertRpcError(batch, 400, -32600, 'batch');
            assert.match(e.message, /batch/i);
            assert.doesNotMatch(e.message, /per line/, 'stdio advice in an HTTP answer');
            assertRpcError(await post('{"jsonrpc":"2.0","id":1,', { session: sid, checker }), 400, -32700, 'truncated JSON');
            assertRpcError(await post('', { session: sid, checker }), 400, -32700, 'empty body');
            assertRpcError(await post('{"jsonrpc":"2.0","id":1,"method":"ping"} {}', { session: sid, checker }),
                           400, -32700, 'trailing data');
            const bad = await post('{"jsonrpc":"1.0","id":7,"method":"ping"}', { session: sid, checker });
            assert.equal(assertRpcError(bad, 400, -32600, 'jsonrpc 1.0') && bad.json.id, 7, 'the id of an invalid request is kept');
            assertRpcError(await post('"ping"', { session: sid, checker }), 400, -32600, 'not an object');
            assert.deepEqual(checker.problems, []);
            /* the session is still usable */
            assert.deepEqual(await s.client.ping(), {});
        });

        it('an unsupported MCP-Protocol-Version is 400; the supported ones and none are accepted', async () => {
            const sid = s.transport.sessionId;
            for (const v of ['2024-11-05', '2099-01-01', 'latest', ''])
                assertRpcError(await post(req('ping'), { session: sid, headers: { 'MCP-Protocol-Version': v } }),
                               400, -32600, `MCP-Protocol-Version: ${v}`);
            for (const v of ['2025-11-25', '2025-06-18', '2025-03-26', null]) {
                const r = await post(req('ping'), { session: sid, headers: { 'MCP-Protocol-Version': v } });
                assert.equal(r.status, 200, `MCP-Protocol-Version: ${v}: ${r.text}`);
            }
        });

        it('notifications and responses are accepted with 202 and no body', async () => {
            const sid = s.transport.sessionId;
            for (const msg of [{ jsonrpc: '2.0', method: 'notifications/initialized' },
                               { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 424242, reason: 'test' } },
                               { jsonrpc: '2.0', method: 'notifications/roots/list_changed' },
                               { jsonrpc: '2.0', id: 'srv-1', result: {} }]) {
                const r = await post(msg, { session: sid, protocolVersion: '2025-11-25' });
                assert.equal(r.status, 202, `${JSON.stringify(msg)}: ${r.status} ${r.text}`);
                assert.equal(r.text, '');
            }
            /* a notification without a session is refused like a request */
            assert.equal((await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).status, 400);
        });
    });

    describe('authentication', () => {
        it('no token: 401 with WWW-Authenticate: Bearer realm="phonely-mcp", for POST, GET and DELETE', async () => {
            const attempts = [
                await mcpPost(url, initializeRequest()),
                await fetch(url, { headers: { Accept: 'text/event-stream' } }),
                await fetch(url, { method: 'DELETE', headers: { 'Mcp-Session-Id': 'x'.repeat(43) } }),
            ];
            for (const r of attempts) {
                assert.equal(r.status, 401);
                assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="phonely-mcp"');
                assert.equal(r.headers.get('mcp-session-id'), null, 'a session was created without the token');
            }
            /* the SDK client surfaces it as an HTTP 401 */
            const err = await connectHttp(url).catch((e) => e);
            assert.ok(err instanceof StreamableHTTPError, `expected a StreamableHTTPError, got ${err}`);
            assert.equal(err.code, 401);
        });

        it('a wrong token, another scheme, or the token in the query string: 401', async () => {
            const variants = [
                { headers: { Authorization: `Bearer ${token}x` } },
                { headers: { Authorization: `Bearer ${token.slice(0, -1)}` } },
                { headers: { Authorization: 'Bearer ' } },
                { headers: { Authorization: `Basic ${Buffer.from(`user:${token}`).toString('base64')}` } },
                { headers: { Authorization: token } },
                { headers: { 'X-Api-Key': token } },
                { query: `?token=${token}` },
                { query: `?access_token=${token}` },
                { query: `?authorization=Bearer%20${token}` },
            ];
            for (const v of variants) {
                const r = await mcpPost(`${url}${v.query ?? ''}`, initializeRequest(), { headers: v.headers ?? {} });
                assert.equal(r.status, 401, `${JSON.stringify(v).replace(token, '<token>')}: ${r.status}`);
                assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="phonely-mcp"');
            }
            const err = await connectHttp(url, { token: `${token}x` }).catch((e) => e);
            assert.equal(err?.code, 401, `SDK client with a wrong token: ${err}`);
        });

        it('the scheme is case-insensitive (RFC 6750): "bearer <token>" works', async () => {
            const r = await mcpPost(url, initializeRequest(), { headers: { Authorization: `bearer ${token}` } });
            assert.equal(r.status, 200, r.text);
            const sid = r.headers.get('mcp-session-id');
            assert.equal((await fetch(url, { method: 'DELETE', headers: { ...bearer(), 'Mcp-Session-Id': sid } })).status, 200);
        });

        it('a valid session id is no substitute for the token', async () => {
            const { session } = await rawSession(url, { token });
            const r = await mcpPost(url, req('tools/list'), { session, protocolVersion: '2025-11-25' });
            assert.equal(r.status, 401);
            assert.equal((await fetch(url, { method: 'DELETE', headers: { 'Mcp-Session-Id': session } })).status, 401);
            assert.equal((await fetch(url, { method: 'DELETE', headers: { ...bearer(), 'Mcp-Session-Id': session } })).status, 200);
        });
    });

    describe('Host and Origin (DNS rebinding)', () => {
        const ping = (headers) => rawHttp({
            port: serve.privatePort, method: 'POST', path: '/mcp', body: JSON.stringify(initializeRequest()),
            headers: { Accept: ACCEPT_BOTH, 'Content-Type': 'application/json', ...bearer(), ...headers },
        });
        const endSession = async (r) => {
            const sid = r.headers['mcp-session-id'];
            if (sid)
                await fetch(url, { method: 'DELETE', headers: { ...bearer(), 'Mcp-Session-Id': sid } });
        };

        it('a foreign Origin is 403, before the token is looked at', async () => {
            const port = serve.privatePort;
            for (const origin of ['https://evil.example.com', `http://evil.example.com:${port}`, 'null',
                                  `http://localhost.evil.example.com:${port}`, `http://localhost@evil.example.com`,
                                  'file://', `http://127.0.0.1:${port}/path`]) {
                const r = await ping({ Origin: origin });
                assert.equal(r.status, 403, `Origin ${origin}: ${r.status} ${r.text}`);
                assert.match(r.text, /forbidden_origin/);
                assert.equal(r.headers['mcp-session-id'], undefined);
            }
            const noToken = await rawHttp({ port, method: 'POST', path: '/mcp', body: '{}',
                                            headers: { Origin: 'https://evil.example.com', 'Content-Type': 'application/json' } });
            assert.equal(noToken.status, 403);
        });

        it('a foreign Host is 403, for /mcp, /metrics and /healthz alike', async () => {
            for (const host of ['evil.example.com', `evil.example.com:${serve.privatePort}`, 'localhost.evil.example.com',
                                '127.0.0.1.nip.io', '10.0.0.1']) {
                const r = await ping({ Host: host });
                assert.equal(r.status, 403, `Host ${host}: ${r.status} ${r.text}`);
                assert.match(r.text, /forbidden_host/);
            }
            for (const path of ['/metrics', '/healthz', '/phonely/events/call_e2e_02'])
                assert.equal((await rawHttp({ port: serve.privatePort, path, headers: { Host: 'evil.example.com', ...bearer() } })).status,
                             403, path);
        });

        it('loopback Hosts and Origins are served', async () => {
            const port = serve.privatePort;
            for (const headers of [{ Host: `127.0.0.1:${port}` }, { Host: `localhost:${port}` }, { Host: `[::1]:${port}` },
                                   { Host: 'LOCALHOST' },
                                   { Origin: `http://localhost:${port}` }, { Origin: `http://127.0.0.1:${port}` },
                                   { Origin: `http://[::1]:${port}` }, { Origin: 'https://localhost' }]) {
                const r = await ping(headers);
                assert.equal(r.status, 200, `${JSON.stringify(headers)}: ${r.status} ${r.text}`);
                await endSession(r);
            }
        });
    });

    describe('the stored data over HTTP', () => {
        it('a webhook stored while clients read is visible to search_calls on their next call', async () => {
            const clients = await Promise.all(Array.from({ length: 4 }, () => connectHttp(url, { token })));
            let stop = false, reads = 0;
            const search = (c) => c.client.callTool({ name: 'search_calls', arguments: { query: 'quokka', limit: 100 } });
            /* readers hammer the same query while the webhooks arrive */
            const readers = clients.map(async (c) => {
                while (!stop) {
                    structured(await search(c));
                    reads++;
                }
            });
            try {
                const now = Date.now();
                for (let i = 0; i < 6; i++) {
                    const callId = `call_http_live_${i}`;
                    const r = await postWebhook(serve.webhookUrl, {
                        callId, callerName: `Quokka Caller ${i}`, callDirection: 'inbound',
                        callStarted: new Date(now - i * 1000).toISOString(),
                        customerPhoneNumber: `+1 (628) 555-02${String(i).padStart(2, '0')}`,
                        summary: `Webhook ${i} asks about the quokka enclosure.`,
                        transcript: [{ role: 'user', content: 'Tell me about the quokka enclosure.' }],
                    });
                    assert.equal(r.status, 200, JSON.stringify(r.body));
                    assert.equal(r.body.status, 'stored');
                    /* acknowledged means committed: every session sees it on its very next call */
                    for (const c of clients) {
                        const found = ids(structured(await search(c)).calls);
                        assert.ok(found.includes(callId), `${callId} not visible yet: ${found}`);
                        assert.equal(found.length, i + 1);
                    }
                }
            } finally {
                stop = true;
                await Promise.all(readers);
                for (const c of clients)
                    assertCleanWire(c, 'reader');
                await Promise.all(clients.map((c) => c.close()));
            }
            assert.ok(reads > 0);
        });

        it('GET /phonely/events/{callId} returns the stored body byte for byte; 404 unknown; 401 without the token', async () => {
            const body = '{ "callId" : "call_http_bytes",\n  "summary": "Caf\\u00e9 \u2615 \u65e5\u672c\u8a9e",\t"duration":   42.50,' +
                         '"extraField": {"nested": [1, 2.0, true, null]} }\n';
            const r = await postWebhook(serve.webhookUrl, body);
            assert.equal(r.status, 200, JSON.stringify(r.body));
            const ev = await get('/phonely/events/call_http_bytes', bearer());
            assert.equal(ev.status, 200);
            assert.match(ev.headers.get('content-type'), /^application\/json/);
            assert.equal(Buffer.compare(Buffer.from(await ev.arrayBuffer()), Buffer.from(body, 'utf8')), 0,
                         'the stored event differs from what was posted');
            const seeded = await get('/phonely/events/call_e2e_02', bearer());
            assert.equal(seeded.status, 200);
            assert.equal((await seeded.json()).callerName, 'Maria Hernandez');
            const unknown = await get('/phonely/events/call_nope', bearer());
            assert.equal(unknown.status, 404);
            assert.equal((await unknown.json()).error, 'not_found');
            assert.equal((await get('/phonely/events/call_http_bytes')).status, 401);
            assert.equal((await get('/phonely/events/call_http_bytes', { Authorization: 'Bearer nope' })).status, 401);
            const post405 = await fetch(`${serve.privateUrl}/phonely/events/call_http_bytes`, { method: 'POST', headers: bearer(), body: '{}' });
            assert.equal(post405.status, 405);
            /* the MCP view of the same call */
            const c = await connectHttp(url, { token });
            try {
                assert.equal(structured(await c.client.callTool({ name: 'get_call', arguments: { call_id: 'call_http_bytes' } })).durationSeconds, 42.5);
            } finally {
                await c.close();
            }
        });

        it('/healthz answers 200 without the token', async () => {
            const r = await get('/healthz');
            assert.equal(r.status, 200);
            const h = await r.json();
            assert.equal(h.status, 'ok');
            assert.ok(h.calls >= 23);
        });

        it('/metrics needs the token and counts MCP requests, webhooks and refusals', async () => {
            assert.equal((await get('/metrics')).status, 401);
            const r = await get('/metrics', bearer());
            assert.equal(r.status, 200);
            assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
            const text = await r.text();
            const types = assertPrometheusText(text);
            for (const [name, type] of [['phonely_mcp_requests_total', 'counter'], ['phonely_webhook_requests_total', 'counter'],
                                        ['phonely_mcp_request_seconds', 'histogram'], ['phonely_mcp_tool_seconds', 'histogram'],
                                        ['phonely_webhook_ack_seconds', 'histogram'], ['phonely_private_requests_total', 'counter'],
                                        ['phonely_commit_batch_size', 'histogram'], ['phonely_commits_total', 'counter'],
                                        ['phonely_commit_failures_total', 'counter'], ['phonely_wal_syncs_total', 'counter'],
                                        ['phonely_wal_sync_failures_total', 'counter'], ['phonely_mcp_sessions', 'gauge'],
                                        ['phonely_database_bytes', 'gauge'], ['phonely_calls', 'gauge'],
                                        ['phonely_deliveries', 'gauge']])
                assert.equal(types.get(name), type, `# TYPE ${name}`);
            assert.match(text, /^phonely_mcp_requests_total\{method="tools\/call",tool="search_calls",outcome="ok"\} [1-9]\d*$/m);
            assert.match(text, /^phonely_mcp_requests_total\{method="tools\/call",tool="resolve_follow_up",outcome="tool_error"\} [1-9]/m);
            assert.match(text, /^phonely_mcp_requests_total\{method="initialize",tool="",outcome="ok"\} [1-9]/m);
            assert.match(text, /^phonely_webhook_requests_total\{status="200",outcome="stored"\} [1-9]\d*$/m);
            assert.ok(metric(text, 'phonely_private_requests_total', 'route="mcp",status="401"') >= 1);
            assert.ok(metric(text, 'phonely_private_requests_total', 'route="mcp",status="403"') >= 1);
            assert.ok(metric(text, 'phonely_mcp_tool_seconds_count', 'tool="search_calls"') >= 1);
            assert.equal(metric(text, 'phonely_calls'), 23 + 6 + 1);
            assert.ok(metric(text, 'phonely_commits_total') >= 7);
            assert.equal(metric(text, 'phonely_commit_failures_total'), 0);
            if (process.env.PHONELY_E2E_DB === 'postgresql') {
                // PostgreSQL's commit is the flush: the daemon syncs no WAL of its own.
                assert.equal(metric(text, 'phonely_wal_syncs_total'), 0);
            } else {
                assert.ok(metric(text, 'phonely_wal_syncs_total') >= 1);
                assert.ok(metric(text, 'phonely_wal_syncs_total') <= metric(text, 'phonely_commits_total'));
            }
            assert.equal(metric(text, 'phonely_wal_sync_failures_total'), 0);
            assert.ok(metric(text, 'phonely_database_bytes') > 0);
        });
    });

    describe('shutdown', () => {
        it('serve stops cleanly on SIGTERM with sessions open and requests in flight', async () => {
            const s = await connect();
            await s.client.listTools();
            const busy = await Promise.all(Array.from({ length: 6 }, () => connect()));
            let answered = 0;
            const loops = busy.map(async (c) => {
                for (;;) {
                    try {
                        structured(await c.client.callTool({ name: 'search_calls', arguments: { query: 'appointment' } }));
                        answered++;
                    } catch {
                        return; /* the server went away */
                    }
                }
            });
            while (answered < 12)
                await new Promise((r) => setTimeout(r, 5));
            const ex = await serve.stop();
            await Promise.all(loops);
            assert.deepEqual(exitProblems(ex), [], `serve: ${ex.stderr.slice(-2000)}`);
            /* every answer that arrived was valid */
            assert.deepEqual(s.checker.problems, []);
            for (const c of busy)
                assert.deepEqual(c.checker.problems, []);
        });
    });
});

describe('Streamable HTTP limits: body_max, mcp_sessions_max, mcp_session_idle, allowed_hosts, allowed_origins', () => {
    const BODY_MAX = 4096;
    const IDLE_S = 10;
    let tmp, serve, url, token, idle;
    const post = (body, opts = {}) => mcpPost(url, body, { token, ...opts });
    const sessionsOpen = async () => metric(await (await fetch(`${serve.privateUrl}/metrics`, {
        headers: { Authorization: `Bearer ${token}` } })).text(), 'phonely_mcp_sessions');
    const del = (sid) => fetch(url, { method: 'DELETE', headers: { Authorization: `Bearer ${token}`, 'Mcp-Session-Id': sid } });

    before(async () => {
        tmp = tempDir();
        const { db } = await seedDatabase(tmp.dir);
        serve = await startServe(db, { env: {
            PHONELY_MCP_BODY_MAX: String(BODY_MAX),
            PHONELY_MCP_MCP_SESSIONS_MAX: '4',
            PHONELY_MCP_MCP_SESSION_IDLE: String(IDLE_S),
            PHONELY_MCP_ALLOWED_HOSTS: 'calls.example.com',
            PHONELY_MCP_ALLOWED_ORIGINS: 'https://calls.example.com',
        } });
        url = `${serve.privateUrl}/mcp`;
        token = serve.token;
        /* left alone until the last test, which expects it to have expired */
        idle = { ...(await rawSession(url, { token })), since: Date.now() };
    });
    after(async () => {
        const ex = await serve?.stop();
        tmp?.cleanup();
        if (ex)
            assert.deepEqual(exitProblems(ex), [], `serve: ${ex.stderr.slice(-2000)}`);
    });

    it('a body larger than body_max is 413 (Content-Length or chunked); exactly body_max is served', async () => {
        const { session } = await rawSession(url, { token });
        const checker = new WireChecker();
        const callOf = (query) => ({ jsonrpc: '2.0', id: 77, method: 'tools/call',
                                     params: { name: 'search_calls', arguments: { query } } });
        const frame = JSON.stringify(callOf('')).length;
        const big = JSON.stringify(callOf('x'.repeat(BODY_MAX)));
        const r = await post(big, { session, protocolVersion: '2025-11-25', checker });
        const e = assertRpcError(r, 413, -32600, 'Content-Length above body_max');
        assert.match(e.message, /body_max/);
        /* chunked: the size is only known while reading */
        const chunked = await rawHttp({
            port: serve.privatePort, method: 'POST', path: '/mcp',
            headers: { Accept: ACCEPT_BOTH, 'Content-Type': 'application/json', Authorization: `Bearer ${token}`,
                       'Mcp-Session-Id': session, 'Transfer-Encoding': 'chunked' },
            body: big,
        });
        assert.equal(chunked.status, 413, chunked.text);
        assert.equal(JSON.parse(chunked.text).error.code, -32600);
        /* a message of exactly body_max bytes is fine */
        const exact = JSON.stringify(callOf('y'.repeat(BODY_MAX - frame)));
        assert.equal(Buffer.byteLength(exact), BODY_MAX);
        const ok = await post(exact, { session, protocolVersion: '2025-11-25', checker });
        assert.equal(ok.status, 200, ok.text);
        assert.ok(ok.json.result, `no result: ${ok.text.slice(0, 300)}`);
        assert.deepEqual(checker.problems, []);
        /* and the session goes on */
        const ping = await post(req('ping'), { session, protocolVersion: '2025-11-25' });
        assert.equal(ping.status, 200);
        assert.equal((await del(session)).status, 200);
    });

    it('mcp_sessions_max: initialize beyond it is 503; ending one with DELETE makes room', async () => {
        const made = [];
        try {
            const already = await sessionsOpen();
            for (let i = already; i < 4; i++)
                made.push((await rawSession(url, { token })).session);
            assert.equal(await sessionsOpen(), 4);
            const checker = new WireChecker();
            const full = await post(initializeRequest(), { checker });
            const e = assertRpcError(full, 503, -32603, 'initialize beyond mcp_sessions_max');
            assert.match(e.message, /too many MCP sessions/);
            assert.equal(full.headers.get('mcp-session-id'), null);
            assert.deepEqual(checker.problems, []);
            /* existing sessions keep working */
            assert.equal((await post(req('ping'), { session: made[0] })).status, 200);
            assert.equal((await del(made.shift())).status, 200);
            made.push((await rawSession(url, { token })).session);
        } finally {
            for (const sid of made)
                await del(sid);
        }
    });

    it('allowed_hosts and allowed_origins admit the public name behind a proxy, and nothing more', async () => {
        const port = serve.privatePort;
        const init = (headers) => rawHttp({
            port, method: 'POST', path: '/mcp', body: JSON.stringify(initializeRequest()),
            headers: { Accept: ACCEPT_BOTH, 'Content-Type': 'application/json', Authorization: `Bearer ${token}`, ...headers },
        });
        for (const headers of [{ Host: 'calls.example.com' }, { Host: 'CALLS.example.com:443' },
                               { Host: 'calls.example.com', Origin: 'https://calls.example.com' }]) {
            const r = await init(headers);
            assert.equal(r.status, 200, `${JSON.stringify(headers)}: ${r.text}`);
            await del(r.headers['mcp-session-id']);
        }
        for (const headers of [{ Host: 'other.example.com' }, { Host: 'calls.example.com.evil.net' },
                               { Host: 'calls.example.com', Origin: 'http://calls.example.com' },
                               { Host: 'calls.example.com', Origin: 'https://evil.example.com' }]) {
            const r = await init(headers);
            assert.equal(r.status, 403, `${JSON.stringify(headers)}: ${r.text}`);
        }
        /* the token is still required with an allowed Host */
        const anon = await rawHttp({ port, method: 'POST', path: '/mcp', body: '{}',
                                     headers: { Host: 'calls.example.com', 'Content-Type': 'application/json' } });
        assert.equal(anon.status, 401);
    });

    it(`a session unused for mcp_session_idle (${IDLE_S} s) ends: its id is then 404`, async () => {
        const wait = idle.since + (IDLE_S + 1.5) * 1000 - Date.now();
        if (wait > 0)
            await new Promise((r) => setTimeout(r, wait));
        const checker = new WireChecker();
        const r = await post(req('ping'), { session: idle.session, protocolVersion: idle.protocolVersion, checker });
        assertRpcError(r, 404, -32001, 'idle session');
        assert.deepEqual(checker.problems, []);
        assert.equal(await sessionsOpen(), 0);
    });
});

describe('answers as event streams: conformance_server\'s test_tool_with_progress', () => {
    let server, url;

    before(async () => {
        const bin = conformanceServerBinary();
        assert.ok(bin, 'conformance_server not found: set PHONELY_TEST_CONFORMANCE_SERVER (CTest does) ' +
                       'or build it beside PHONELY_TEST_BIN');
        server = await startConformanceServer(bin);
        url = server.url;
    });
    after(async () => {
        const ex = await server?.stop();
        if (ex)
            assert.deepEqual(exitProblems(ex), [], `conformance_server: ${ex.stderr.slice(-2000)}`);
    });

    it('the SDK client gets >= 3 increasing progress notifications, then the result', async () => {
        const s = await connectHttp(url);
        try {
            const seen = [];
            const r = await s.client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined,
                                              { onprogress: (p) => seen.push(p) });
            assert.equal(r.content[0].text, 'Tool with progress executed successfully');
            assert.ok(seen.length >= 3, `only ${seen.length} progress notifications`);
            for (let i = 1; i < seen.length; i++)
                assert.ok(seen[i].progress > seen[i - 1].progress, `progress did not increase: ${JSON.stringify(seen)}`);
            assert.equal(seen[seen.length - 1].progress, 100);
            assert.equal(seen[0].total, 100);
            assertCleanWire(s, 'progress');
        } finally {
            await s.close();
        }
    });

    it('raw: text/event-stream, a priming event first, the notifications, the response last; unique event ids', async () => {
        const { session } = await rawSession(url);
        const checker = new WireChecker();
        const r = await mcpPost(url, req('tools/call', { name: 'test_tool_with_progress', arguments: {},
                                                        _meta: { progressToken: 'raw-1' } }),
                                { session, protocolVersion: '2025-11-25', checker });
        assert.equal(r.status, 200);
        assert.equal(r.contentType, 'text/event-stream');
        assert.equal(r.headers.get('cache-control'), 'no-store');
        assert.equal(r.headers.get('content-length'), null, 'an event stream with a Content-Length');
        const [priming, ...rest] = r.events;
        assert.ok(priming.id, 'the priming event has no id');
        assert.ok(!priming.data, `the priming event carries data: ${priming.raw}`);
        assert.ok(rest.length >= 4, `expected 3 notifications and a response: ${r.text}`);
        for (const e of rest)
            assert.ok(!e.event || e.event === 'message', `event type ${e.event}`);
        const msgs = rest.map((e) => JSON.parse(e.data));
        const progress = msgs.filter((m) => m.method === 'notifications/progress');
        assert.ok(progress.length >= 3);
        assert.ok(progress.every((m) => m.params.progressToken === 'raw-1'));
        assert.equal(msgs[msgs.length - 1].id, r.messages[r.messages.length - 1].id);
        assert.equal(msgs[msgs.length - 1].result.content[0].text, 'Tool with progress executed successfully');
        assert.equal(msgs.filter((m) => 'id' in m && !('method' in m)).length, 1, 'more than one response');
        const evIds = r.events.filter((e) => e.id).map((e) => e.id);
        assert.equal(new Set(evIds).size, evIds.length, `event ids repeat: ${evIds}`);
        assert.deepEqual(checker.problems, []);
        assert.deepEqual(checker.unanswered(), []);
        /* without a progressToken the same tool answers plain JSON */
        const plain = await mcpPost(url, req('tools/call', { name: 'test_tool_with_progress', arguments: {} }),
                                    { session, protocolVersion: '2025-11-25', checker });
        assert.equal(plain.status, 200);
        assert.match(plain.contentType, /^application\/json/);
        assert.deepEqual(checker.problems, []);
    });

    it('eight streams at once on eight sessions: each its own notifications, event ids unique across all', async () => {
        const sessions = await Promise.all(Array.from({ length: 8 }, () => rawSession(url)));
        const checker = new WireChecker();
        const answers = await Promise.all(sessions.map(({ session }, i) =>
            mcpPost(url, req('tools/call', { name: 'test_tool_with_progress', arguments: {}, _meta: { progressToken: `par-${i}` } }),
                    { session, protocolVersion: '2025-11-25', checker })));
        const all = [];
        for (const [i, r] of answers.entries()) {
            assert.equal(r.contentType, 'text/event-stream');
            const progress = r.messages.filter((m) => m.method === 'notifications/progress');
            assert.ok(progress.length >= 3 && progress.every((m) => m.params.progressToken === `par-${i}`),
                      `stream ${i} carries another request's notifications`);
            all.push(...r.events.filter((e) => e.id).map((e) => e.id));
        }
        assert.equal(new Set(all).size, all.length, 'event ids repeat across streams');
        assert.deepEqual(checker.problems, []);
        assert.deepEqual(checker.unanswered(), []);
    });

    it('a client that drops the stream half way does not hurt the server', async () => {
        const { session } = await rawSession(url);
        for (let i = 0; i < 5; i++) {
            const ac = new AbortController();
            const res = await fetch(url, {
                method: 'POST', signal: ac.signal,
                headers: { Accept: ACCEPT_BOTH, 'Content-Type': 'application/json', 'Mcp-Session-Id': session },
                body: JSON.stringify(req('tools/call', { name: 'test_tool_with_progress', arguments: {},
                                                         _meta: { progressToken: `drop-${i}` } })),
            });
            assert.equal(res.headers.get('content-type'), 'text/event-stream');
            const reader = res.body.getReader();
            await reader.read(); /* the priming event, maybe more */
            ac.abort();
            await reader.read().catch(() => {});
        }
        /* the same session, and a new one, still work */
        const again = await mcpPost(url, req('tools/call', { name: 'test_tool_with_progress', arguments: {},
                                                            _meta: { progressToken: 'again' } }),
                                    { session, protocolVersion: '2025-11-25' });
        assert.equal(again.status, 200);
        assert.equal(again.messages.at(-1).result.content[0].text, 'Tool with progress executed successfully');
        const s = await connectHttp(url);
        assert.deepEqual(await s.client.ping(), {});
        await s.close();
    });

    it('cancelling a streaming call: the SDK aborts, the server ends the stream, the session goes on', async () => {
        const s = await connectHttp(url);
        try {
            const ac = new AbortController();
            const seen = [];
            const err = await s.client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, {
                signal: ac.signal,
                onprogress: (p) => { seen.push(p); ac.abort('enough'); },
            }).then(() => undefined, (e) => e);
            assert.ok(err, 'the aborted call resolved');
            assert.ok(seen.length >= 1);
            assert.ok(s.checker.cancelled.size === 1, 'no notifications/cancelled was sent');
            const r = await s.client.callTool({ name: 'test_simple_text', arguments: {} });
            assert.equal(r.content[0].type, 'text');
            assert.deepEqual(await s.client.ping(), {});
            assert.deepEqual(wireProblems(s.checker), []);
        } finally {
            await s.close();
        }
    });

    it('raw: notifications/cancelled for a streaming request is 202 and its stream ends without a response', async () => {
        const { session } = await rawSession(url);
        const call = req('tools/call', { name: 'test_tool_with_progress', arguments: {}, _meta: { progressToken: 'c1' } });
        const res = await fetch(url, {
            method: 'POST', body: JSON.stringify(call),
            headers: { Accept: ACCEPT_BOTH, 'Content-Type': 'application/json', 'Mcp-Session-Id': session,
                       'MCP-Protocol-Version': '2025-11-25' },
        });
        assert.equal(res.headers.get('content-type'), 'text/event-stream');
        const reader = res.body.getReader();
        let text = new TextDecoder().decode((await reader.read()).value);
        const cancel = await mcpPost(url, { jsonrpc: '2.0', method: 'notifications/cancelled',
                                            params: { requestId: call.id, reason: 'test' } },
                                     { session, protocolVersion: '2025-11-25' });
        assert.equal(cancel.status, 202);
        const deadline = setTimeout(() => reader.cancel(), 5000);
        for (;;) {
            const { value, done } = await reader.read();
            if (done)
                break;
            text += new TextDecoder().decode(value);
        }
        clearTimeout(deadline);
        const answers = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)))
            .filter((m) => !('method' in m));
        /* the tool may have finished before the cancellation arrived; never two answers */
        assert.ok(answers.length <= 1, text);
        const ping = await mcpPost(url, req('ping'), { session, protocolVersion: '2025-11-25' });
        assert.equal(ping.status, 200);
    });

    it('DELETE of a session while its call streams: the call still completes, then the id is 404', async () => {
        const { session } = await rawSession(url);
        const checker = new WireChecker();
        const pending = mcpPost(url, req('tools/call', { name: 'test_tool_with_progress', arguments: {},
                                                        _meta: { progressToken: 'del-1' } }),
                                { session, protocolVersion: '2025-11-25', checker });
        await new Promise((r) => setTimeout(r, 30));
        const del = await fetch(url, { method: 'DELETE', headers: { 'Mcp-Session-Id': session } });
        assert.equal(del.status, 200);
        const r = await pending;
        assert.equal(r.status, 200);
        assert.equal(r.messages.at(-1).result?.content?.[0]?.text, 'Tool with progress executed successfully');
        assert.deepEqual(checker.problems, []);
        assertRpcError(await mcpPost(url, req('ping'), { session }), 404, -32001, 'deleted while streaming');
    });

    it('log notifications come the same way (test_tool_with_logging)', async () => {
        const { session } = await rawSession(url);
        const checker = new WireChecker();
        const level = await mcpPost(url, req('logging/setLevel', { level: 'info' }),
                                    { session, protocolVersion: '2025-11-25', checker });
        assert.equal(level.status, 200, level.text);
        const r = await mcpPost(url, req('tools/call', { name: 'test_tool_with_logging', arguments: {} }),
                                { session, protocolVersion: '2025-11-25', checker });
        assert.equal(r.status, 200);
        assert.equal(r.contentType, 'text/event-stream');
        assert.ok(r.messages.filter((m) => m.method === 'notifications/message').length >= 3, r.text);
        assert.deepEqual(checker.problems, []);
    });

    it('SIGTERM with streams open: the calls are finished and the server exits cleanly', async () => {
        const sessions = await Promise.all(Array.from({ length: 6 }, () => rawSession(url)));
        const checker = new WireChecker();
        const calls = sessions.map(({ session }, i) =>
            mcpPost(url, req('tools/call', { name: 'test_tool_with_progress', arguments: {}, _meta: { progressToken: `term-${i}` } }),
                    { session, protocolVersion: '2025-11-25', checker }).catch((e) => e));
        await new Promise((r) => setTimeout(r, 30));
        const ex = await server.stop();
        assert.deepEqual(exitProblems(ex), [], `conformance_server: ${ex.stderr.slice(-2000)}`);
        for (const r of await Promise.all(calls)) {
            if (r instanceof Error)
                continue; /* a request not yet read when the listener closed */
            assert.equal(r.status, 200);
            assert.equal(r.messages.at(-1).result?.content?.[0]?.text, 'Tool with progress executed successfully',
                         'a stream that had started was cut short');
        }
        assert.deepEqual(checker.problems, []);
    });
});

/*
 * docs/mcp.md, section "Over HTTP": every host snippet is connected as
 * written (the URL and the token placeholders replaced by the running
 * serve's): the `claude mcp add --transport http` command, the Cursor and
 * VS Code JSON, and Claude Desktop's mcp-remote bridge (its header
 * argument and environment resolved the way mcp-remote does).
 */
const MCP_DOC = fileURLToPath(new URL('../../docs/mcp.md', import.meta.url));
const DOC_URL = 'http://127.0.0.1:9090/mcp';
const TOKEN_REFS = /\$\{env:PHONELY_MCP_TOKEN\}|\$\{input:phonely-token\}|\$\{PHONELY_MCP_TOKEN\}|\$PHONELY_MCP_TOKEN/g;

function shellWords(line) {
    const words = [];
    for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g))
        words.push(m[1] ?? m[2] ?? m[3]);
    return words;
}

/* `claude mcp add` as Claude Code parses it: --header takes every following word up to the next option. */
function parseClaudeAdd(words) {
    const out = { operands: [], headers: [] };
    let variadic = null;
    for (let i = 3; i < words.length; i++) {
        const w = words[i];
        if (w === '--') {
            out.operands.push(...words.slice(i + 1));
            break;
        }
        if (w.startsWith('-')) {
            variadic = null;
            if (w === '--header' || w === '-H')
                variadic = out.headers;
            else if (w === '--transport' || w === '-t')
                out.transport = words[++i];
            else if (w === '--scope' || w === '-s')
                out.scope = words[++i];
            continue;
        }
        if (variadic)
            variadic.push(w);
        else
            out.operands.push(w);
    }
    return out;
}

function docHttpSnippets() {
    const md = readFileSync(MCP_DOC, 'utf8');
    const start = md.indexOf('\n## Attach it over HTTP');
    assert.ok(start !== -1, 'docs/mcp.md has no "## Attach it over HTTP" section');
    const end = md.indexOf('\n## ', start + 5);
    const section = md.slice(start, end === -1 ? undefined : end);
    const out = [];
    for (const m of section.matchAll(/```(\w*)\n([\s\S]*?)```/g)) {
        const [, lang, body] = m;
        const heading = /\n### ([^\n]*)\n(?![\s\S]*\n### )/.exec(section.slice(0, m.index))?.[1] ?? '(intro)';
        if (lang === 'json' || lang === 'jsonc') {
            const doc = JSON.parse(body);
            for (const [name, server] of Object.entries(doc.mcpServers ?? doc.servers ?? {}))
                out.push([`${heading}: JSON "${name}"`, server]);
            continue;
        }
        for (const line of body.replace(/\\\n\s*/g, ' ').split('\n')) {
            if (!line.startsWith('claude mcp add '))
                continue;
            const p = parseClaudeAdd(shellWords(line));
            assert.equal(p.operands.length, 2, `${line}: name and URL expected, got ${JSON.stringify(p.operands)}`);
            out.push([`${heading}: ${line.slice(0, 70)}...`, {
                url: p.operands[1], transport: p.transport,
                headers: Object.fromEntries(p.headers.map((h) => h.split(/:\s*/, 2))),
            }]);
        }
    }
    return out;
}

describe('docs/mcp.md: the HTTP host snippets connect as written', () => {
    let tmp, serve;

    before(async () => {
        tmp = tempDir();
        const { db } = await seedDatabase(tmp.dir);
        serve = await startServe(db);
    });
    after(async () => {
        const ex = await serve?.stop();
        tmp?.cleanup();
        if (ex)
            assert.deepEqual(exitProblems(ex), [], `serve: ${ex.stderr.slice(-2000)}`);
    });

    it('finds Claude Code, Cursor, VS Code and Claude Desktop (mcp-remote)', () => {
        const names = docHttpSnippets().map(([w]) => w);
        assert.ok(names.some((n) => n.includes('claude mcp add')), names.join('\n'));
        assert.ok(docHttpSnippets().filter(([, s]) => s.url).length >= 3, names.join('\n'));
        assert.ok(docHttpSnippets().some(([, s]) => s.args?.some((a) => a.startsWith('mcp-remote'))), names.join('\n'));
    });

    for (const [where, server] of docHttpSnippets()) {
        it(where, async () => {
            let headers;
            if (server.url) {
                if (server.transport !== undefined)
                    assert.equal(server.transport, 'http');
                if (server.type !== undefined)
                    assert.equal(server.type, 'http');
                assert.equal(server.url, DOC_URL);
                headers = Object.fromEntries(Object.entries(server.headers ?? {})
                    .map(([k, v]) => [k, v.replace(TOKEN_REFS, serve.token)]));
            } else {
                /* mcp-remote URL --header "Name:value"; it expands ${VAR} from its environment */
                assert.equal(server.command, 'npx');
                const args = server.args.filter((a) => a !== '-y');
                assert.match(args[0], /^mcp-remote(@\d+\.\d+\.\d+)?$/);
                const transport = args.indexOf('--transport');
                if (transport !== -1)
                    assert.ok(['http-only', 'http-first'].includes(args[transport + 1]), args[transport + 1]);
                assert.equal(args[1], DOC_URL);
                const env = Object.fromEntries(Object.entries(server.env ?? {})
                    .map(([k, v]) => [k, v.replace(/<token>|<your token>/, serve.token)]));
                headers = {};
                for (let i = 2; i < args.length; i++) {
                    if (args[i] !== '--header')
                        continue;
                    const h = args[++i];
                    assert.doesNotMatch(h, /\s/, 'a space in an mcp-remote argument is mangled on Windows; use the env variable');
                    const colon = h.indexOf(':');
                    headers[h.slice(0, colon)] = h.slice(colon + 1).replace(/\$\{([^}]+)\}/g, (_, n) => env[n] ?? '');
                }
            }
            assert.equal(headers.Authorization, `Bearer ${serve.token}`, `no bearer token header in ${JSON.stringify(server)}`);
            const s = await connectHttp(`${serve.privateUrl}/mcp`, { headers });
            try {
                const latest = await s.client.callTool({ name: 'get_latest_call', arguments: { include_transcript: false } });
                assert.equal(latest.structuredContent?.call?.callId, 'call_e2e_01');
                assertCleanWire(s, where);
            } finally {
                await s.close();
            }
        });
    }
});

// stdio.test.mjs: phonely-mcp's MCP server over stdio, end to end, with the
// official TypeScript SDK client (StdioClientTransport spawns
// `$PHONELY_TEST_BIN stdio --db <seeded db>`) and, for what no SDK would
// send, a hand-driven session. Every message the server writes is checked
// against the MCP 2025-11-25 JSON Schema (lib/wire.mjs).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { tempDir } from './lib/env.mjs';
import { PENDING_FOLLOW_UPS, seedDatabase } from './lib/seed.mjs';
import { RawSession, connectSdk, exitProblems, wireProblems } from './lib/client.mjs';
import { postWebhook, startServe } from './lib/serve.mjs';
import { ids, rpcError, sorted, structured, toolError } from './lib/expect.mjs';
import { WireChecker } from './lib/wire.mjs';

const TOOLS = ['search_calls', 'get_call', 'list_follow_ups', 'resolve_follow_up', 'get_latest_call',
               'phonely-get-latest-call', 'call_stats', 'top_unanswered_questions', 'open_action_items'];
const READ_ONLY_TOOLS = TOOLS.filter((t) => t !== 'resolve_follow_up');
const MARIA = ['call_e2e_01', 'call_e2e_02', 'call_e2e_03'];

/* Close a session and check its wire and its exit; returns the exit info. */
async function closeClean(session, what) {
    const ex = await session.close();
    assert.deepEqual(wireProblems(session.checker), [], `${what}: messages that break the protocol`);
    assert.deepEqual(session.checker.unanswered(), [], `${what}: requests never answered`);
    assert.deepEqual(exitProblems(ex), [], `${what}: server exit\n${ex.stderr.slice(-2000)}`);
    return ex;
}

describe('the wire checker catches what it should (self-test)', () => {
    const bad = (sent, received) => {
        const c = new WireChecker();
        for (const m of sent)
            c.sent(m);
        for (const m of received)
            c.received(m);
        return c.problems;
    };
    const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', _meta: { progressToken: 't' } } };

    it('accepts a valid exchange', () => {
        assert.deepEqual(bad([call], [
            { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: 1 } },
            { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'ok' }] } },
        ]), []);
    });
    it('flags schema, envelope and ordering errors', () => {
        const cases = [
            [{ jsonrpc: '2.0', id: 1, result: { content: 'ok' } }, /CallToolResult/],
            [{ jsonrpc: '2.0', id: 1, result: {}, extra: 1 }, /extra members/],
            [{ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'x' } }, /"id": null/],
            [{ jsonrpc: '2.0', id: 1, error: { code: 'E', message: 'x' } }, /JSONRPCErrorResponse/],
            [{ jsonrpc: '2.0', id: 2, result: {} }, /response to no request/],
            [{ jsonrpc: '2.0', method: 'notifications/whatever' }, /unknown notification/],
            [{ jsonrpc: '2.0', id: 9, method: 'sampling/createMessage', params: {} }, /server-to-client request/],
        ];
        for (const [msg, re] of cases) {
            const problems = bad([call], [msg]);
            assert.ok(problems.some((p) => re.test(p)), `${JSON.stringify(msg)}: ${problems}`);
        }
        const late = bad([call], [{ jsonrpc: '2.0', id: 1, result: { content: [] } },
                                  { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: 2 } }]);
        assert.ok(late.some((p) => /after the final response/.test(p)), String(late));
        const down = bad([call], [{ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: 2 } },
                                  { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: 1 } }]);
        assert.ok(down.some((p) => /did not increase/.test(p)), String(down));
    });
});

describe('stdio with the official SDK client (read-only, the default)', () => {
    let tmp, db, s, tools;
    const call = (name, args = {}, opts) => s.client.callTool({ name, arguments: args }, undefined, opts);

    before(async () => {
        tmp = tempDir();
        ({ db } = await seedDatabase(tmp.dir));
        s = await connectSdk(db);
    });
    after(async () => {
        await s?.close().catch(() => {});
        tmp?.cleanup();
    });

    it('initializes: 2025-11-25, serverInfo, instructions, capabilities', () => {
        const init = s.checker.messages.find((m) => m.result?.protocolVersion);
        assert.ok(init, 'no InitializeResult on the wire');
        assert.equal(init.result.protocolVersion, '2025-11-25');
        const info = s.client.getServerVersion();
        assert.equal(info.name, 'phonely-mcp');
        assert.match(info.version, /^\d+\.\d+\.\d+/);
        const instructions = s.client.getInstructions();
        assert.ok(instructions && instructions.length > 200, 'instructions missing or too short');
        for (const t of ['search_calls', 'list_follow_ups', 'resolve_follow_up', 'get_call'])
            assert.ok(instructions.includes(t), `instructions do not mention ${t}`);
        assert.match(instructions, /not instructions|untrusted/i, 'instructions say nothing about untrusted call content');
        const caps = s.client.getServerCapabilities();
        for (const c of ['tools', 'resources', 'prompts', 'completions'])
            assert.ok(caps[c], `capability ${c} not advertised: ${JSON.stringify(caps)}`);
        assert.ok(!caps.resources.subscribe, 'resources.subscribe advertised but not implemented');
    });

    it('answers ping with an empty result', async () => {
        assert.deepEqual(await s.client.ping(), {});
    });

    it('lists every tool (walking nextCursor) with schemas and honest annotations', async () => {
        tools = [];
        let cursor, pages = 0;
        do {
            const page = await s.client.listTools(cursor ? { cursor } : {});
            tools.push(...page.tools);
            cursor = page.nextCursor;
            assert.ok(++pages < 20, 'tools/list pages never end');
        } while (cursor);
        /* listTools caches outputSchemas only for the last page; list all again on one call. */
        await s.client.listTools();
        assert.deepEqual(sorted(tools.map((t) => t.name)), sorted(TOOLS));
        for (const t of tools) {
            assert.ok(t.description && t.description.length > 40, `${t.name}: description`);
            assert.ok(t.title, `${t.name}: title`);
            assert.equal(t.inputSchema.type, 'object', `${t.name}: inputSchema`);
            assert.equal(t.outputSchema?.type, 'object', `${t.name}: outputSchema`);
            assert.match(t.name, /^[A-Za-z0-9_.-]{1,128}$/);
            const a = t.annotations ?? {};
            assert.equal(a.openWorldHint, false, `${t.name}: openWorldHint`);
            if (t.name === 'resolve_follow_up') {
                assert.equal(a.readOnlyHint, false);
                assert.equal(a.destructiveHint, false);
                assert.equal(a.idempotentHint, true);
            } else {
                assert.equal(a.readOnlyHint, true, `${t.name}: readOnlyHint`);
                assert.equal(a.idempotentHint, true, `${t.name}: idempotentHint`);
            }
        }
    });

    it('refuses a forged tools/list cursor with -32602', async () => {
        await rpcError(s.client.listTools({ cursor: 'not-a-cursor' }), -32602, 'tools/list bad cursor');
    });

    it('search_calls: full text, snippets, relevance', async () => {
        const r = structured(await call('search_calls', { query: 'cancellation fee' }), 'search_calls');
        const found = ids(r.calls);
        for (const id of ['call_e2e_02', 'call_e2e_04', 'call_e2e_16'])
            assert.ok(found.includes(id), `"cancellation fee" did not find ${id}: ${found}`);
        assert.ok(!found.includes('call_e2e_17'), 'a Spanish call without the words matched');
        assert.equal(r.total, found.length);
        assert.equal(r.totalExact, true);
        for (const c of r.calls)
            assert.match(c.snippet ?? '', /\[/, `${c.callId}: no [hit] in snippet ${c.snippet}`);
        /* newest first by default */
        const times = r.calls.map((c) => Date.parse(c.startedAt));
        assert.deepEqual(times, [...times].sort((a, b) => b - a), 'not newest first');
        const rel = structured(await call('search_calls', { query: 'cancellation fee', sort: 'relevance' }));
        assert.deepEqual(sorted(ids(rel.calls)), sorted(found));
    });

    it('search_calls: filters (direction, sentiment, topic, agent, follow_up, duration, dates)', async () => {
        const out = structured(await call('search_calls', { direction: 'outbound', limit: 100 }));
        assert.deepEqual(sorted(ids(out.calls)), ['call_e2e_03', 'call_e2e_10', 'call_e2e_11', 'call_e2e_21']);
        const neg = structured(await call('search_calls', { sentiment: 'NEGATIVE', limit: 100 }));
        assert.deepEqual(sorted(ids(neg.calls)),
                         ['call_e2e_02', 'call_e2e_08', 'call_e2e_09', 'call_e2e_15', 'call_e2e_23']);
        const billing = structured(await call('search_calls', { topic: 'billing' }));
        assert.deepEqual(sorted(ids(billing.calls)), ['call_e2e_02', 'call_e2e_03', 'call_e2e_21']);
        const bot = structured(await call('search_calls', { agent: 'Billing Bot' }));
        assert.deepEqual(sorted(ids(bot.calls)), ['call_e2e_03', 'call_e2e_21']);
        const pending = structured(await call('search_calls', { follow_up: 'pending', limit: 100 }));
        assert.deepEqual(sorted(ids(pending.calls)), sorted(PENDING_FOLLOW_UPS));
        const long = structured(await call('search_calls', { min_duration_seconds: 400 }));
        assert.deepEqual(sorted(ids(long.calls)), ['call_e2e_08', 'call_e2e_18']);
        const short = structured(await call('search_calls', { max_duration_seconds: 10 }));
        assert.deepEqual(ids(short.calls), ['call_e2e_14']);
        /* the last 24 hours: calls 01 03 08 09 10 15 23 (2..20 hours ago) */
        const from = new Date(Date.now() - 24 * 3600e3).toISOString();
        const day = structured(await call('search_calls', { from, limit: 100 }));
        assert.deepEqual(sorted(ids(day.calls)),
                         ['call_e2e_01', 'call_e2e_03', 'call_e2e_08', 'call_e2e_09', 'call_e2e_10',
                          'call_e2e_15', 'call_e2e_23']);
        const none = structured(await call('search_calls', { to: '2000-01-01' }));
        assert.equal(none.total, 0);
        assert.deepEqual(none.calls, []);
    });

    it('search_calls: pages with limit and nextCursor, without gaps or repeats', async () => {
        const seen = [];
        let cursor, total;
        for (let i = 0; i < 10; i++) {
            const page = structured(await call('search_calls', cursor ? { limit: 5, cursor } : { limit: 5 }));
            assert.ok(page.calls.length <= 5);
            total ??= page.total;
            assert.equal(page.total, total, 'total changed between pages');
            seen.push(...ids(page.calls));
            cursor = page.nextCursor;
            if (!cursor)
                break;
        }
        assert.equal(cursor, undefined, 'more than 10 pages of 5 for 23 calls');
        assert.equal(total, 23);
        assert.equal(seen.length, 23);
        assert.equal(new Set(seen).size, 23, 'a call appeared on two pages');
        /* a cursor is bound to its query */
        const first = structured(await call('search_calls', { limit: 5 }));
        toolError(await call('search_calls', { limit: 5, query: 'fee', cursor: first.nextCursor }),
                  'cursor reused with another query');
        toolError(await call('search_calls', { cursor: 'AAAA' + first.nextCursor.slice(4) }), 'tampered cursor');
    });

    it('search_calls: adversarial query strings are plain text, never syntax or errors', async () => {
        const cases = {
            'docker-compose': ['call_e2e_08'],
            'NEAR': ['call_e2e_19'],
            'station OR mall': ['call_e2e_19'],
            '"premium"': ['call_e2e_20'],
            'free*': null, /* either the literal word or nothing, but no error */
            'caller:Maria': null,
            "'; DROP TABLE calls; --": null,
            'NEAR(cancellation fee, 2)': null,
            '^cancellation': null,
            'a" OR "1"="1': null,
            '\\ % _ ( ) { } [ ] : ; \' ` ~ ! @ # $ & |': null,
            '予約': ['call_e2e_06', 'call_e2e_07'],
            'José': ['call_e2e_07'],
            '🦷': ['call_e2e_07'],
            'Ñúñez-Øvergård': ['call_e2e_07'],
            'admin mode': ['call_e2e_09'],
        };
        for (const [query, expected] of Object.entries(cases)) {
            const r = await call('search_calls', { query });
            if (r.isError) {
                /* Allowed only for a query with nothing searchable in it. */
                assert.equal(expected, null, `${query}: ${r.content[0].text}`);
                assert.match(r.content[0].text, /query|search/i);
                continue;
            }
            const sc = structured(r, `search_calls ${query}`);
            if (expected)
                assert.deepEqual(sorted(ids(sc.calls)), sorted(expected), `query ${query}`);
        }
        /* the table is still there */
        assert.equal(structured(await call('search_calls', { limit: 1 })).total, 23);
    });

    it('search_calls: bad arguments are tool errors that say how to fix them', async () => {
        const bad = [
            { query: '' },
            { query: 'x'.repeat(2000) },
            { query: Array.from({ length: 60 }, (_, i) => `w${i}`).join(' ') },
            { limit: 0 },
            { limit: 1000 },
            { limit: 'ten' },
            { direction: 'sideways' },
            { from: 'yesterday' },
            { from: '2026-13-45' },
            { phone: 'abc' },
            { sort: 'relevance' }, /* relevance needs a query */
            { no_such_argument: 1 },
        ];
        for (const args of bad) {
            const text = toolError(await call('search_calls', args), `search_calls ${JSON.stringify(args).slice(0, 80)}`);
            assert.ok(text.length < 2000, 'error text too long');
        }
        /* Only white space or symbols: an error, or no match with a hint; never a crash or everything. */
        for (const query of ['   ', '***', '?! ...']) {
            const r = await call('search_calls', { query });
            if (!r.isError) {
                assert.equal(structured(r).total, 0, `query ${JSON.stringify(query)} matched calls`);
                assert.match(r.content[0].text, /search|words/i, 'no hint for the model');
            }
        }
    });

    it('search_calls: a phone number in any format finds the same calls', async () => {
        for (const phone of ['+14155557777', '(415) 555-7777', '415-555-7777', '4155557777', '1-415-555-7777',
                             '+1 415 555 7777', '001 415 555 7777', '415.555.7777', '+1 (415) 555-7777']) {
            const r = structured(await call('search_calls', { phone }), `phone ${phone}`);
            assert.deepEqual(sorted(ids(r.calls)), MARIA, `phone ${phone}`);
        }
        for (const [phone, want] of [['212-555-0100', ['call_e2e_04', 'call_e2e_23']],
                                     ['+44 20 7946 0958', ['call_e2e_07']],
                                     ['+81 3 1234 5678', ['call_e2e_06']],
                                     ['(312) 555-0147', ['call_e2e_10']]]) {
            const r = structured(await call('search_calls', { phone }));
            assert.deepEqual(sorted(ids(r.calls)), want, `phone ${phone}`);
        }
        /* the business number matches every call */
        assert.equal(structured(await call('search_calls', { phone: '415 555 1212', limit: 1 })).total, 23);
        /* phone and words combine */
        const both = structured(await call('search_calls', { phone: '4155557777', query: 'refund' }));
        assert.deepEqual(ids(both.calls), ['call_e2e_02']);
    });

    it('get_call: everything stored, transcript included, unknown id is a tool error', async () => {
        const c = structured(await call('get_call', { call_id: 'call_e2e_02' }), 'get_call');
        assert.equal(c.callId, 'call_e2e_02');
        assert.equal(c.callerName, 'Maria Hernandez');
        assert.equal(c.customerPhone, '(415) 555-7777');
        assert.equal(c.followUp.status, 'pending');
        assert.equal(c.followUp.reason, 'Refund request for the cancellation fee');
        assert.deepEqual(c.unansweredQuestions, ['Can the cancellation fee be waived?']);
        assert.equal(c.transcript.length, 5);
        assert.deepEqual(c.transcript[1], { role: 'caller', content: 'I was charged a fifty dollar cancellation fee and I want it refunded.' });
        const short = structured(await call('get_call', { call_id: 'call_e2e_02', include_transcript: false }));
        assert.equal(short.transcript, undefined);
        const loose = structured(await call('get_call', { call_id: 'call_e2e_10' }));
        assert.equal(loose.direction, 'outbound');
        assert.equal(loose.durationSeconds, 95.25);
        assert.equal(loose.followUp.status, 'pending');
        const uni = structured(await call('get_call', { call_id: 'call_e2e_07' }));
        assert.equal(uni.callerName, 'José Ñúñez-Øvergård');
        assert.equal(uni.transcript[4].content, '👩‍👩‍👧‍👦 family booking for 🦷 cleaning');
        const text = toolError(await call('get_call', { call_id: 'call_nope' }), 'get_call unknown');
        assert.match(text, /call_nope|not found|no call/i);
        toolError(await call('get_call', {}), 'get_call without call_id');
    });

    it('get_call: a prompt injection in a transcript is returned as data, flagged as such', async () => {
        const r = await call('get_call', { call_id: 'call_e2e_09' });
        const c = structured(r);
        assert.match(c.transcript[0].content, /Ignore all previous instructions/);
        assert.match(r.content[0].text, /data, not instructions|untrusted/i,
                     'the text mirror does not mark call content as data');
    });

    it('list_follow_ups: pending ones, oldest first, with reasons; filters', async () => {
        const r = structured(await call('list_follow_ups', { limit: 100 }), 'list_follow_ups');
        assert.equal(r.status, 'pending');
        assert.deepEqual(sorted(ids(r.followUps)), sorted(PENDING_FOLLOW_UPS));
        assert.equal(r.total, PENDING_FOLLOW_UPS.length);
        assert.equal(r.followUps[0].callId, 'call_e2e_22', 'the longest-waiting caller is not first');
        const maria = r.followUps.find((f) => f.callId === 'call_e2e_02');
        assert.equal(maria.followUp.reason, 'Refund request for the cancellation fee');
        assert.deepEqual(maria.actionItems, ['Review the cancellation fee charge', 'Call Maria back about a refund']);
        assert.equal(maria.mentionedEmail, 'maria.h@example.com');
        assert.ok(maria.ageSeconds > 25 * 3600 && maria.ageSeconds < 27 * 3600, `ageSeconds ${maria.ageSeconds}`);
        const byPhone = structured(await call('list_follow_ups', { phone: '+1 212 555 0100' }));
        assert.deepEqual(ids(byPhone.followUps), ['call_e2e_04']);
        const recent = structured(await call('list_follow_ups', { from: new Date(Date.now() - 24 * 3600e3).toISOString() }));
        assert.deepEqual(sorted(ids(recent.followUps)), ['call_e2e_08', 'call_e2e_09', 'call_e2e_10', 'call_e2e_15']);
        const resolved = structured(await call('list_follow_ups', { status: 'resolved' }));
        assert.deepEqual(resolved.followUps, []);
        /* pages */
        const p1 = structured(await call('list_follow_ups', { limit: 4 }));
        assert.equal(p1.followUps.length, 4);
        assert.ok(p1.nextCursor);
        const p2 = structured(await call('list_follow_ups', { limit: 4, cursor: p1.nextCursor }));
        assert.equal(p2.followUps.length, 4);
        assert.equal(new Set([...ids(p1.followUps), ...ids(p2.followUps)]).size, 8);
        toolError(await call('list_follow_ups', { status: 'done' }));
    });

    it('resolve_follow_up is refused in read-only mode, with a hint, and changes nothing', async () => {
        const text = toolError(await call('resolve_follow_up', { call_id: 'call_e2e_02', note: 'x' }),
                               'resolve_follow_up read-only');
        assert.match(text, /read-only/);
        assert.match(text, /--allow-writes/);
        const c = structured(await call('get_call', { call_id: 'call_e2e_02', include_transcript: false }));
        assert.equal(c.followUp.status, 'pending');
    });

    it('get_latest_call and phonely-get-latest-call: newest call, optionally for a number', async () => {
        const latest = structured(await call('get_latest_call'), 'get_latest_call');
        assert.equal(latest.found, true);
        assert.equal(latest.call?.callId ?? latest.callId, 'call_e2e_01');
        const alias = structured(await call('phonely-get-latest-call'), 'phonely-get-latest-call');
        assert.deepEqual(alias, latest);
        const tom = structured(await call('get_latest_call', { phone: '(212) 555-0100', include_transcript: false }));
        assert.equal(tom.call?.callId ?? tom.callId, 'call_e2e_23');
        const nobody = structured(await call('phonely-get-latest-call', { phone: '+1 999 555 0000' }));
        assert.equal(nobody.found, false);
    });

    it('call_stats: counts, mixes, durations and follow-up rate over a period', async () => {
        const st = structured(await call('call_stats'), 'call_stats');
        assert.equal(st.calls, 23);
        assert.equal(st.followUps.flagged, PENDING_FOLLOW_UPS.length);
        assert.equal(st.followUps.pending, PENDING_FOLLOW_UPS.length);
        assert.equal(st.followUps.resolved, 0);
        assert.equal(st.byDay.reduce((n, d) => n + d.calls, 0), 23);
        assert.equal(st.byDirection.outbound, 4);
        assert.equal(st.byDirection.inbound, 19);
        assert.ok(st.byTopic.some((t) => t.topic === 'Billing' && t.calls === 3), JSON.stringify(st.byTopic));
        assert.ok(st.duration.max === 900 && st.duration.min === 4, JSON.stringify(st.duration));
        const none = structured(await call('call_stats', { from: '2001-01-01', to: '2001-01-31' }));
        assert.equal(none.calls, 0);
        toolError(await call('call_stats', { from: '2026-05-31', to: '2026-05-01' }), 'from after to');
    });

    it('top_unanswered_questions: grouped ignoring case and spaces, most frequent first', async () => {
        const q = structured(await call('top_unanswered_questions'), 'top_unanswered_questions');
        assert.match(q.questions[0].text, /^do you accept delta dental insurance\?$/i);
        assert.equal(q.questions[0].calls, 3);
        assert.ok(q.questions.some((x) => /cancellation fee be waived/.test(x.text)));
        const one = structured(await call('top_unanswered_questions', { limit: 1 }));
        assert.equal(one.questions.length, 1);
    });

    it('open_action_items: to-dos from calls not resolved yet', async () => {
        const a = structured(await call('open_action_items', { limit: 100 }), 'open_action_items');
        assert.equal(a.includeResolved, false);
        const texts = a.actionItems.map((x) => x.text);
        for (const t of ['Review the cancellation fee charge', 'Send a working docker-compose.yml example to Sam',
                         'Update website hours'])
            assert.ok(texts.includes(t), `${t} missing: ${texts.join(' | ')}`);
        assert.ok(!texts.includes(''), 'an empty action item');
        const item = a.actionItems.find((x) => x.text === 'Review the cancellation fee charge');
        assert.equal(item.lastCallId, 'call_e2e_02');
        assert.equal(item.calls, 1);
        /* nothing is resolved yet, so counting resolved calls too changes nothing */
        const all = structured(await call('open_action_items', { include_resolved: true, limit: 100 }));
        assert.equal(all.includeResolved, true);
        assert.deepEqual(all.actionItems, a.actionItems);
        assert.equal(structured(await call('open_action_items', { limit: 2 })).actionItems.length, 2);
    });

    it('every tool answers schema-valid structured content (the SDK checks outputSchema)', async () => {
        for (const name of READ_ONLY_TOOLS)
            structured(await call(name, name === 'get_call' ? { call_id: 'call_e2e_01' } : {}), name);
    });

    it('unknown tool -> -32602; unknown method -> -32601; malformed tools/call -> -32602', async () => {
        await rpcError(call('no_such_tool'), -32602, 'unknown tool');
        await rpcError(s.client.request({ method: 'no/such/method', params: {} }, ResultSchema), -32601, 'unknown method');
        await rpcError(s.client.request({ method: 'tools/call', params: { arguments: {} } }, ResultSchema), -32602,
                       'tools/call without name');
        await rpcError(s.client.request({ method: 'tools/call', params: { name: 'get_call', arguments: 'call_e2e_01' } },
                                        ResultSchema), -32602, 'tools/call with arguments not an object');
    });

    it('resources: list, templates, read JSON and transcript, -32002 when not found', async () => {
        const listed = [];
        let cursor;
        do {
            const page = await s.client.listResources(cursor ? { cursor } : {});
            listed.push(...page.resources);
            cursor = page.nextCursor;
        } while (cursor);
        const uris = listed.map((r) => r.uri);
        assert.ok(uris.includes('phonely://calls/call_e2e_01'), `resources/list: ${uris.slice(0, 5)}`);
        for (const r of listed)
            assert.ok(r.name && r.uri.startsWith('phonely://'), JSON.stringify(r));
        const { resourceTemplates } = await s.client.listResourceTemplates();
        assert.deepEqual(sorted(resourceTemplates.map((t) => t.uriTemplate)),
                         ['phonely://calls/{callId}', 'phonely://calls/{callId}/transcript']);
        const json = await s.client.readResource({ uri: 'phonely://calls/call_e2e_02' });
        assert.equal(json.contents.length, 1);
        assert.equal(json.contents[0].uri, 'phonely://calls/call_e2e_02');
        assert.equal(json.contents[0].mimeType, 'application/json');
        const rec = JSON.parse(json.contents[0].text);
        assert.equal(rec.callId, 'call_e2e_02');
        assert.equal(rec.followUp.status, 'pending');
        const tr = await s.client.readResource({ uri: 'phonely://calls/call_e2e_02/transcript' });
        assert.equal(tr.contents[0].mimeType, 'text/plain');
        assert.match(tr.contents[0].text, /^Agent: Phonely Dental, how can I help\?$/m);
        assert.match(tr.contents[0].text, /^Caller: I was charged a fifty dollar cancellation fee/m);
        const uni = await s.client.readResource({ uri: 'phonely://calls/call_e2e_06/transcript' });
        assert.match(uni.contents[0].text, /来週の予約をお願いします。/);
        await rpcError(s.client.readResource({ uri: 'phonely://calls/call_nope' }), -32002, 'unknown call');
        await rpcError(s.client.readResource({ uri: 'phonely://calls/call_e2e_14/transcript' }), -32002,
                       'call without a transcript');
        await rpcError(s.client.readResource({ uri: 'phonely://nothing/here' }), -32002, 'unknown URI');
    });

    it('prompts: list both, get follow_up_briefing and daily_digest', async () => {
        const { prompts } = await s.client.listPrompts();
        assert.deepEqual(sorted(prompts.map((p) => p.name)), ['daily_digest', 'follow_up_briefing']);
        for (const p of prompts)
            assert.ok(p.description, `${p.name}: description`);
        const brief = await s.client.getPrompt({ name: 'follow_up_briefing', arguments: {} });
        assert.ok(brief.messages.length >= 1);
        const text = brief.messages.map((m) => m.content.text ?? '').join('\n');
        for (const id of PENDING_FOLLOW_UPS)
            assert.ok(text.includes(id), `briefing leaves out ${id}`);
        const one = await s.client.getPrompt({ name: 'follow_up_briefing', arguments: { call_id: 'call_e2e_02' } });
        const oneText = one.messages.map((m) => m.content.text ?? '').join('\n');
        assert.ok(oneText.includes('call_e2e_02') && !oneText.includes('call_e2e_22'));
        const byPhone = await s.client.getPrompt({ name: 'follow_up_briefing', arguments: { phone: '415-555-7777' } });
        assert.ok(byPhone.messages.map((m) => m.content.text ?? '').join('\n').includes('call_e2e_02'));
        const today = new Date().toISOString().slice(0, 10);
        const digest = await s.client.getPrompt({ name: 'daily_digest', arguments: { date: today } });
        assert.ok(digest.messages.length >= 1);
        assert.ok(digest.messages.map((m) => m.content.text ?? '').join('\n').includes(today));
        await s.client.getPrompt({ name: 'daily_digest' });
        await rpcError(s.client.getPrompt({ name: 'no_such_prompt' }), -32602, 'unknown prompt');
        await rpcError(s.client.getPrompt({ name: 'daily_digest', arguments: { date: 'someday' } }), -32602,
                       'bad prompt argument');
    });

    it('completion: call ids and phone numbers for prompts and resource templates', async () => {
        const ref = { type: 'ref/prompt', name: 'follow_up_briefing' };
        const c1 = await s.client.complete({ ref, argument: { name: 'call_id', value: 'call_e2e_0' } });
        assert.ok(c1.completion.values.length >= 1 && c1.completion.values.every((v) => v.startsWith('call_e2e_0')),
                  JSON.stringify(c1));
        const c2 = await s.client.complete({ ref, argument: { name: 'phone', value: '415555' } });
        assert.ok(c2.completion.values.some((v) => v.replace(/\D/g, '').endsWith('4155557777')), JSON.stringify(c2));
        const c3 = await s.client.complete({ ref: { type: 'ref/resource', uri: 'phonely://calls/{callId}' },
                                             argument: { name: 'callId', value: 'call_e2e_2' } });
        assert.deepEqual(sorted(c3.completion.values), ['call_e2e_20', 'call_e2e_21', 'call_e2e_22', 'call_e2e_23']);
        const c4 = await s.client.complete({ ref: { type: 'ref/prompt', name: 'daily_digest' },
                                             argument: { name: 'date', value: '' } });
        assert.ok(c4.completion.values.every((v) => /^\d{4}-\d\d-\d\d$/.test(v)), JSON.stringify(c4));
        const c5 = await s.client.complete({ ref, argument: { name: 'call_id', value: 'zzz' } });
        assert.deepEqual(c5.completion.values, []);
        for (const c of [c1, c2, c3, c4])
            assert.ok(c.completion.values.length <= 100);
    });

    it('progress: a call with a progressToken succeeds; any progress increases', async (t) => {
        let n = 0;
        const r = await call('search_calls', { query: 'cancellation fee' }, { onprogress: () => n++ });
        structured(r);
        const r2 = await call('call_stats', {}, { onprogress: () => n++ });
        structured(r2);
        t.diagnostic(`progress notifications received: ${n}`);
    });

    it('cancellation: an aborted request rejects, the client sends notifications/cancelled, the server goes on', async (t) => {
        const ac = new AbortController();
        const p = call('search_calls', { query: 'cancellation' }, { signal: ac.signal });
        ac.abort('the user changed their mind');
        await assert.rejects(p);
        const cancels = s.checker.cancelled.size;
        assert.ok(cancels >= 1, 'the SDK sent no notifications/cancelled');
        /* the server is still serving */
        assert.deepEqual(await s.client.ping(), {});
        const r = structured(await call('search_calls', { query: 'cancellation fee' }));
        assert.ok(r.total >= 3);
        t.diagnostic('cancelled request ids: ' + [...s.checker.cancelled].join(','));
    });

    it('logging/setLevel is accepted when logging is advertised', async () => {
        if (!s.client.getServerCapabilities().logging)
            return;
        assert.deepEqual(await s.client.setLoggingLevel('debug'), {});
        structured(await call('search_calls', { query: 'fee' }));
        assert.deepEqual(await s.client.setLoggingLevel('warning'), {});
        await rpcError(s.client.request({ method: 'logging/setLevel', params: { level: 'loud' } }, ResultSchema),
                       -32602, 'invalid level');
    });

    it('sends only valid MCP messages and exits cleanly at end of input', async () => {
        const ex = await closeClean(s, 'read-only session');
        assert.ok(ex.ms < 1900, `the server took ${ex.ms} ms to exit after stdin closed`);
        s = null;
    });
});

describe('stdio with --allow-writes: resolve_follow_up', () => {
    let tmp, db, s;
    const call = (name, args = {}) => s.client.callTool({ name, arguments: args });

    before(async () => {
        tmp = tempDir();
        ({ db } = await seedDatabase(tmp.dir));
        s = await connectSdk(db, ['--allow-writes']);
        await s.client.listTools();
    });
    after(async () => {
        await s?.close().catch(() => {});
        tmp?.cleanup();
    });

    it('resolves, is idempotent, reopens, and refuses an unknown call', async () => {
        const r1 = structured(await call('resolve_follow_up',
                                         { call_id: 'call_e2e_02', note: 'Refunded the fee', resolved_by: 'Sam' }));
        assert.equal(r1.callId, 'call_e2e_02');
        assert.equal(r1.previousStatus, 'pending');
        assert.equal(r1.changed, true);
        assert.equal(r1.followUp.status, 'resolved');
        assert.equal(r1.followUp.note, 'Refunded the fee');
        assert.equal(r1.followUp.resolvedBy, 'Sam');
        assert.ok(r1.followUp.resolvedAt);
        const again = structured(await call('resolve_follow_up', { call_id: 'call_e2e_02', note: 'Refunded the fee', resolved_by: 'Sam' }));
        assert.equal(again.changed, false);
        assert.equal(again.followUp.resolvedAt, r1.followUp.resolvedAt);
        const pending = structured(await call('list_follow_ups', { limit: 100 }));
        assert.ok(!ids(pending.followUps).includes('call_e2e_02'));
        const resolved = structured(await call('list_follow_ups', { status: 'resolved' }));
        assert.deepEqual(ids(resolved.followUps), ['call_e2e_02']);
        assert.equal(resolved.followUps[0].followUp.note, 'Refunded the fee');
        const open = structured(await call('open_action_items', { limit: 100 })).actionItems.map((x) => x.text);
        assert.ok(!open.includes('Review the cancellation fee charge'), 'a resolved call\'s action item is still open');
        const every = structured(await call('open_action_items', { include_resolved: true, limit: 100 }));
        assert.ok(every.actionItems.some((x) => x.text === 'Review the cancellation fee charge'));
        const stats = structured(await call('call_stats'));
        assert.equal(stats.followUps.resolved, 1);
        assert.equal(stats.followUps.pending, PENDING_FOLLOW_UPS.length - 1);
        const reopened = structured(await call('resolve_follow_up', { call_id: 'call_e2e_02', reopen: true }));
        assert.equal(reopened.previousStatus, 'resolved');
        assert.equal(reopened.followUp.status, 'pending');
        /* a call that was never flagged can be marked handled */
        const unflagged = structured(await call('resolve_follow_up', { call_id: 'call_e2e_01' }));
        assert.equal(unflagged.previousStatus, 'none');
        assert.equal(unflagged.followUp.status, 'resolved');
        toolError(await call('resolve_follow_up', { call_id: 'call_nope' }), 'unknown call');
        toolError(await call('resolve_follow_up', {}), 'no call_id');
        toolError(await call('resolve_follow_up', { call_id: 'call_e2e_04', note: 'n'.repeat(5000) }), 'note too long');
    });

    it('the resolution is stored: a new read-only session sees it', async () => {
        structured(await call('resolve_follow_up', { call_id: 'call_e2e_05', note: 'Delta Dental confirmed' }));
        const ro = await connectSdk(db);
        try {
            await ro.client.listTools();
            const c = structured(await ro.client.callTool({ name: 'get_call', arguments: { call_id: 'call_e2e_05', include_transcript: false } }));
            assert.equal(c.followUp.status, 'resolved');
            assert.equal(c.followUp.note, 'Delta Dental confirmed');
        } finally {
            await closeClean(ro, 'read-only reader');
        }
    });

    it('sends only valid MCP messages and exits cleanly', async () => {
        await closeClean(s, 'writer session');
        s = null;
    });
});

describe('stdio while `phonely-mcp serve` stores webhooks into the same database', () => {
    let tmp, db, s, serve;

    before(async () => {
        tmp = tempDir();
        ({ db } = await seedDatabase(tmp.dir));
        serve = await startServe(db);
        s = await connectSdk(db);
        await s.client.listTools();
    });
    after(async () => {
        await s?.close().catch(() => {});
        await serve?.stop().catch(() => {});
        tmp?.cleanup();
    });

    it('new calls become visible to search_calls while the client keeps reading', async () => {
        const N = 12;
        const now = Date.now();
        const events = Array.from({ length: N }, (_, i) => ({
            callId: `call_live_${String(i).padStart(2, '0')}`,
            callerName: `Live Caller ${i}`,
            callDirection: 'inbound',
            callStarted: new Date(now - (i + 1) * 60e3).toISOString(),
            customerPhoneNumber: `+1 (628) 555-01${String(i).padStart(2, '0')}`,
            summary: `Live webhook ${i} about the zebracorn membership.`,
            transcript: [{ role: 'user', content: 'I want the zebracorn membership.' }],
            followUp: i % 3 === 0 ? 'yes' : 'no',
            followUpReason: i % 3 === 0 ? 'Send zebracorn membership form' : '',
        }));
        let reads = 0, stop = false;
        const reader = (async () => {
            while (!stop) {
                structured(await s.client.callTool({ name: 'search_calls', arguments: { query: 'zebracorn', limit: 100 } }));
                reads++;
            }
        })();
        const posted = [];
        for (const e of events) {
            const r = await postWebhook(serve.webhookUrl, e);
            assert.equal(r.status, 200, JSON.stringify(r.body));
            assert.equal(r.body.status, 'stored');
            posted.push(e.callId);
        }
        /* a duplicate is acknowledged and stored once */
        const dup = await postWebhook(serve.webhookUrl, events[0]);
        assert.equal(dup.status, 200);
        assert.equal(dup.body.status, 'duplicate');
        stop = true;
        await reader;
        assert.ok(reads >= 1);
        const found = structured(await s.client.callTool({ name: 'search_calls', arguments: { query: 'zebracorn', limit: 100 } }));
        assert.deepEqual(sorted(ids(found.calls)), sorted(posted));
        const latest = structured(await s.client.callTool({ name: 'get_latest_call', arguments: {} }));
        assert.equal(latest.call?.callId ?? latest.callId, 'call_live_00');
        const fu = structured(await s.client.callTool({ name: 'list_follow_ups', arguments: { phone: '628-555-0103' } }));
        assert.deepEqual(ids(fu.followUps), ['call_live_03']);
        const total = structured(await s.client.callTool({ name: 'search_calls', arguments: { limit: 1 } }));
        assert.equal(total.total, 23 + N);
    });

    it('both processes stop cleanly', async () => {
        await closeClean(s, 'stdio reader');
        s = null;
        const ex = await serve.stop();
        assert.deepEqual(exitProblems(ex), [], `serve: ${ex.stderr.slice(-2000)}`);
        serve = null;
    });
});

describe('stdio driven by hand: framing, errors and lifecycle the SDK would never exercise', () => {
    let tmp, db;

    before(async () => {
        tmp = tempDir();
        ({ db } = await seedDatabase(tmp.dir));
    });
    after(() => tmp?.cleanup());

    async function session(fn, args = []) {
        const r = new RawSession(db, args);
        try {
            await fn(r);
        } catch (e) {
            r.kill();
            throw e;
        }
        const ex = await r.close();
        assert.deepEqual(r.lineProblems, [], 'stdout framing');
        assert.deepEqual(r.checker.problems, [], 'messages that break the protocol');
        assert.deepEqual(exitProblems(ex), [], `server exit\n${ex.stderr.slice(-2000)}`);
        return ex;
    }

    it('negotiates 2025-11-25, 2025-06-18 and 2025-03-26, and offers 2025-11-25 for anything else', async () => {
        for (const [asked, got] of [['2025-11-25', '2025-11-25'], ['2025-06-18', '2025-06-18'],
                                    ['2025-03-26', '2025-03-26'], ['1999-01-01', '2025-11-25'],
                                    ['2026-07-28', '2025-11-25']]) {
            await session(async (r) => {
                const init = await r.initialize(asked);
                assert.equal(init.result?.protocolVersion, got, `asked ${asked}: ${JSON.stringify(init)}`);
                const list = await r.request('tools/list', {});
                assert.equal(list.result.tools.length, 9);
            });
        }
    });

    it('answers ping and unknown methods before initialize; refuses other requests', async () => {
        await session(async (r) => {
            assert.deepEqual((await r.request('ping')).result, {});
            const disc = await r.request('server/discover', {});
            assert.equal(disc.error?.code, -32601, JSON.stringify(disc));
            const early = await r.request('tools/list', {});
            assert.ok(early.error, `tools/list before initialize answered ${JSON.stringify(early)}`);
            await r.initialize();
            assert.ok((await r.request('tools/list', {})).result);
        });
    });

    it('parse errors, batches, bad ids and bad envelopes get JSON-RPC errors; notifications none', async () => {
        await session(async (r) => {
            await r.initialize();
            r.send('{"jsonrpc":"2.0","id":1,"method":"ping"');                    /* truncated */
            let m = await r.next();
            assert.equal(m.error?.code, -32700);
            /* The id could not be read: MCP wants no id at all (JSON-RPC's "id": null fails its schema). */
            assert.ok(!('id' in m), `parse error answered with an id: ${JSON.stringify(m)}`);
            r.send('not json at all');
            assert.equal((await r.next()).error?.code, -32700);
            r.send('[{"jsonrpc":"2.0","id":2,"method":"ping"}]');                  /* batch */
            m = await r.next();
            assert.equal(m.error?.code, -32600);
            r.send('{"jsonrpc":"2.0","id":null,"method":"ping"}');                 /* null id */
            assert.equal((await r.next()).error?.code, -32600);
            r.send('{"jsonrpc":"1.0","id":3,"method":"ping"}');                    /* wrong version */
            m = await r.next();
            assert.equal(m.error?.code, -32600);
            r.send('{"jsonrpc":"2.0","id":4.5,"method":"ping"}');                  /* fractional id */
            assert.equal((await r.next()).error?.code, -32600);
            r.send('{"jsonrpc":"2.0","id":5,"method":7}');                          /* method not a string */
            assert.equal((await r.next()).error?.code, -32600);
            r.send('{"jsonrpc":"2.0","id":6,"method":"ping"} trailing');           /* trailing data */
            assert.equal((await r.next()).error?.code, -32700);
            r.notify('notifications/no_such_thing', {});                            /* unknown notification */
            r.notify('notifications/cancelled', { requestId: 12345 });              /* unknown request */
            r.send({ jsonrpc: '2.0', id: 'from-nowhere', result: {} });             /* a stray response */
            r.send('');                                                             /* blank line */
            /* string ids are echoed exactly */
            const sid = await r.request('ping', undefined, { id: 'abc-ü-🦷' });
            assert.deepEqual(sid.result, {});
            const big = await r.request('ping', undefined, { id: 9007199254740991 });
            assert.equal(big.id, 9007199254740991);
            assert.deepEqual(await r.drain(), [], 'answers to notifications, responses or blank lines');
        });
    });

    it('a 1 MiB line is read whole and answered', async () => {
        await session(async (r) => {
            await r.initialize();
            const m = await r.request('tools/call', { name: 'search_calls', arguments: { query: 'ab '.repeat(350000) } });
            assert.equal(m.result?.isError, true, JSON.stringify(m).slice(0, 300));
            assert.deepEqual((await r.request('ping')).result, {});
        });
    });

    it('a request and its cancellation back to back: no crash, the session goes on', async (t) => {
        await session(async (r) => {
            await r.initialize();
            r.send({ jsonrpc: '2.0', id: 100, method: 'tools/call', params: { name: 'call_stats', arguments: {} } });
            r.notify('notifications/cancelled', { requestId: 100, reason: 'test' });
            assert.deepEqual((await r.request('ping')).result, {});
            const late = await r.drain(500);
            t.diagnostic(`response to the cancelled request ${late.some((m) => m.id === 100) ? 'was' : 'was not'} sent`);
            assert.ok(late.every((m) => m.id === 100), JSON.stringify(late).slice(0, 300));
        });
    });

    it('requests in flight at end of input are answered before the server exits', async () => {
        await session(async (r) => {
            await r.initialize();
            for (let i = 0; i < 8; i++)
                r.send({ jsonrpc: '2.0', id: 200 + i, method: 'tools/call',
                         params: { name: 'search_calls', arguments: { query: 'fee' } } });
            r.proc.stdin.end();
            const got = [];
            for (let i = 0; i < 8; i++)
                got.push((await r.next((m) => m.id >= 200)).id);
            assert.deepEqual(got.sort(), [200, 201, 202, 203, 204, 205, 206, 207]);
        });
    });

    it('nothing but MCP messages on stdout, even for a missing database path', async () => {
        const r = new RawSession(`${tmp.dir}/no/such/dir/calls.db`);
        const ex = await r.close();
        assert.deepEqual(r.lineProblems, []);
        assert.notEqual(ex.code, 0, 'a database that cannot be opened should fail');
        assert.ok(ex.stderr.length > 0, 'no reason given on stderr');
    });
});

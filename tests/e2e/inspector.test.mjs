// inspector.test.mjs: smoke runs of the MCP Inspector CLI
// (@modelcontextprotocol/inspector 2.12.0, `mcp-inspector --cli`) against
// `$PHONELY_TEST_BIN stdio --db <seeded db>`, and once against `serve`'s
// private listener over Streamable HTTP: the way a developer checks the
// server by hand. Its state (catalog, OAuth store) goes to a temporary
// directory: MCP_STORAGE_DIR, MCP_CATALOG_PATH and HOME all point there.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binary, sanitizerReports, tempDir } from './lib/env.mjs';
import { seedDatabase } from './lib/seed.mjs';
import { startServe } from './lib/serve.mjs';
import { sorted } from './lib/expect.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const INSPECTOR = join(dirname(require.resolve('@modelcontextprotocol/inspector/package.json')),
                       require('@modelcontextprotocol/inspector/package.json').bin['mcp-inspector']);
const TOOLS = ['search_calls', 'get_call', 'list_follow_ups', 'resolve_follow_up', 'get_latest_call',
               'phonely-get-latest-call', 'call_stats', 'top_unanswered_questions', 'open_action_items'];

let tmp, db, state;

/*
 * Run `mcp-inspector --cli <bin> stdio --db <db> [serverArgs] -- <args> --format json`
 * under this Node (the Inspector needs Node >= 22.19). Resolves {code, json, stdout, stderr}.
 */
function inspector(args, { serverArgs = [], target, timeoutMs = 60000 } = {}) {
    const env = {
        PATH: `${join(HERE, 'node_modules', '.bin')}:${process.env.PATH}`,
        HOME: state,
        MCP_STORAGE_DIR: state,
        MCP_CATALOG_PATH: join(state, 'mcp.json'),
        MCP_INSPECTOR_OAUTH_STATE_PATH: join(state, 'oauth.json'),
        LANG: 'C.UTF-8',
    };
    /*
     * The documented form: the server command first, `--`, then the Inspector's
     * own options. The server gets the Inspector's default environment (no
     * ASAN_OPTIONS: sanitizer defaults still report on stderr, which is checked).
     */
    const argv = target
        ? [INSPECTOR, '--cli', ...target, ...args, '--format', 'json']
        : [INSPECTOR, '--cli', binary(), 'stdio', '--db', db, ...serverArgs, '--', ...args, '--format', 'json'];
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
        const out = [], errs = [];
        child.stdout.on('data', (b) => out.push(b));
        child.stderr.on('data', (b) => errs.push(b));
        const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`inspector ${args.join(' ')} timed out`)); },
                                 timeoutMs);
        child.on('error', reject);
        child.on('close', (code) => {
            clearTimeout(timer);
            const stdout = Buffer.concat(out).toString('utf8');
            const stderr = Buffer.concat(errs).toString('utf8');
            let json;
            try {
                json = JSON.parse(stdout);
            } catch {
                json = undefined;
            }
            resolve({ code, json, stdout, stderr });
        });
    });
}

function ok(r, what) {
    assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout.slice(0, 1500)}\nstderr: ${r.stderr.slice(-1500)}`);
    assert.ok(r.json?.result, `${what}: no JSON result on stdout: ${r.stdout.slice(0, 500)}`);
    assert.deepEqual(sanitizerReports(r.stderr), [], `${what}: sanitizer report from the server`);
    return r.json.result;
}

describe('MCP Inspector CLI against phonely-mcp (stdio, and HTTP via serve)', () => {
    before(async () => {
        assert.ok(Number(process.versions.node.split('.')[0]) >= 22,
                  `the Inspector needs Node >= 22.19; this is ${process.version}: run under tests/e2e/node_modules/.bin/node`);
        tmp = tempDir();
        ({ db } = await seedDatabase(tmp.dir));
        state = join(tmp.dir, 'inspector-state');
        (await import('node:fs')).mkdirSync(state, { mode: 0o700 });
    });
    after(() => tmp?.cleanup());

    it('--method tools/list lists our nine tools', async () => {
        const res = ok(await inspector(['--method', 'tools/list']), 'tools/list');
        assert.deepEqual(sorted(res.tools.map((t) => t.name)), sorted(TOOLS));
    });

    it('--method tools/call search_calls "cancellation fee" returns structured matches', async () => {
        const res = ok(await inspector(['--method', 'tools/call', '--tool-name', 'search_calls',
                                        '--tool-args-json', '{"query":"cancellation fee"}']), 'tools/call');
        assert.notEqual(res.isError, true);
        const found = res.structuredContent.calls.map((c) => c.callId);
        for (const id of ['call_e2e_02', 'call_e2e_04', 'call_e2e_16'])
            assert.ok(found.includes(id), `${id} not found: ${found}`);
        assert.equal(res.content[0].type, 'text');
    });

    it('--method tools/call with --tool-arg key=value pairs (a phone number, a boolean)', async () => {
        /* --tool-arg JSON-parses each value: 4155557777 would become a number; "+1 415 ..." stays text. */
        const res = ok(await inspector(['--method', 'tools/call', '--tool-name', 'get_latest_call',
                                        '--tool-arg', 'phone=+1 (415) 555-7777', 'include_transcript=false']),
                       'get_latest_call');
        assert.equal(res.structuredContent.call.transcript, undefined);
        assert.equal(res.structuredContent.call.callId, 'call_e2e_01');
    });

    it('--method resources/read and prompts/get', async () => {
        const tr = ok(await inspector(['--method', 'resources/read', '--uri', 'phonely://calls/call_e2e_02/transcript']),
                      'resources/read');
        assert.match(tr.contents[0].text, /cancellation fee/);
        const templates = ok(await inspector(['--method', 'resources/templates/list']), 'resources/templates/list');
        assert.equal(templates.resourceTemplates.length, 2);
        const p = ok(await inspector(['--method', 'prompts/get', '--prompt-name', 'follow_up_briefing',
                                      '--prompt-args', 'call_id=call_e2e_02']), 'prompts/get');
        assert.ok(p.messages.length >= 1);
    });

    it('tool errors exit 5: an unknown tool, and resolve_follow_up on a read-only server', async () => {
        const unknown = await inspector(['--method', 'tools/call', '--tool-name', 'no_such_tool']);
        assert.equal(unknown.code, 5, `unknown tool: exit ${unknown.code} ${unknown.stderr.slice(-500)}`);
        const ro = await inspector(['--method', 'tools/call', '--tool-name', 'resolve_follow_up',
                                    '--tool-args-json', '{"call_id":"call_e2e_02"}']);
        assert.equal(ro.code, 5, `read-only write: exit ${ro.code} ${ro.stdout.slice(0, 500)}`);
        const rw = await inspector(['--method', 'tools/call', '--tool-name', 'resolve_follow_up',
                                    '--tool-args-json', '{"call_id":"call_e2e_02","note":"via the Inspector"}'],
                                   { serverArgs: ['--allow-writes'] });
        assert.equal(ok(rw, 'resolve_follow_up --allow-writes').structuredContent.followUp.status, 'resolved');
    });

    it('over Streamable HTTP: `serve`\'s private listener at /mcp with --header Authorization', async () => {
        const serve = await startServe(db);
        try {
            const target = [`${serve.privateUrl}/mcp`, '--header', `Authorization: Bearer ${serve.token}`];
            const list = ok(await inspector(['--method', 'tools/list'], { target }), 'HTTP tools/list');
            assert.deepEqual(sorted(list.tools.map((t) => t.name)), sorted(TOOLS));
            const res = ok(await inspector(['--method', 'tools/call', '--tool-name', 'search_calls',
                                            '--tool-args-json', '{"query":"cancellation fee"}'], { target }),
                           'HTTP tools/call');
            assert.ok(res.structuredContent.total >= 3);
            const denied = await inspector(['--method', 'tools/list', '--stored-auth-only'],
                                           { target: [`${serve.privateUrl}/mcp`] });
            assert.notEqual(denied.code, 0, 'no token, yet tools/list succeeded');
        } finally {
            const ex = await serve.stop();
            assert.equal(ex.code, 0, ex.stderr.slice(-1000));
        }
    });

    it('--strict finds no error-severity tool-schema portability problem', async () => {
        const r = await inspector(['--method', 'tools/list', '--strict']);
        assert.equal(r.code, 0, `--strict exit ${r.code}:\n${r.stderr.slice(-3000)}`);
    });
});

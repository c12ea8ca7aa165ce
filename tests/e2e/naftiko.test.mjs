// naftiko.test.mjs: mcp/phonely-mcp.naftiko.yaml is a valid Naftiko
// 1.0.0-alpha2 capability (schemas/naftiko-schema-1.0.0-alpha2.json, draft
// 2020-12, checked with ajv) and declares exactly the MCP surface the binary
// serves: the same tools (Naftiko names are kebab-case: search_calls is
// search-calls), titles, annotations and input parameters, the same resource
// templates and the same prompts with their arguments. It also starts the
// exact command of every host snippet in mcp/ (Claude Desktop, Claude Code,
// Cursor, VS Code) against a seeded database and lists the tools through it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import yaml from 'js-yaml';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { binary, childEnv, tempDir } from './lib/env.mjs';
import { seedDatabase } from './lib/seed.mjs';
import { connectSdk, exitProblems, wireProblems } from './lib/client.mjs';
import { startServe } from './lib/serve.mjs';
import { sorted } from './lib/expect.mjs';

const MCP_DIR = fileURLToPath(new URL('../../mcp/', import.meta.url));
const SPEC = `${MCP_DIR}phonely-mcp.naftiko.yaml`;
const SCHEMA = fileURLToPath(new URL('./schemas/naftiko-schema-1.0.0-alpha2.json', import.meta.url));

const spec = yaml.load(readFileSync(SPEC, 'utf8'));
const mcp = () => spec.capability.exposes.find((e) => e.type === 'mcp');
const kebab = (name) => name.replace(/_/g, '-');

/* Every page of a paginated list method. */
async function all(fn, key) {
    const out = [];
    let cursor;
    do {
        const page = await fn(cursor ? { cursor } : {});
        out.push(...page[key]);
        cursor = page.nextCursor;
    } while (cursor);
    return out;
}

describe('mcp/phonely-mcp.naftiko.yaml', () => {
    it('validates against the Naftiko 1.0.0-alpha2 JSON Schema', () => {
        const schema = JSON.parse(readFileSync(SCHEMA, 'utf8'));
        /* strict: false because the schema carries annotation keywords ajv does not know ("name"). */
        const ajv = new Ajv2020({ strict: false, allErrors: true });
        addFormats(ajv);
        const validate = ajv.compile(schema);
        const valid = validate(spec);
        assert.ok(valid, JSON.stringify(validate.errors?.slice(0, 8), null, 1));
        assert.equal(spec.naftiko, '1.0.0-alpha2');
        /* The check has teeth: an MCP tool name in snake_case, or a stray key, is refused. */
        const bad = structuredClone(spec);
        bad.capability.exposes.find((e) => e.type === 'mcp').tools[0].name = 'search_calls';
        assert.equal(validate(bad), false);
        const extra = structuredClone(spec);
        extra.capability.exposes[0].port = 'eighty';
        assert.equal(validate(extra), false);
    });

    it('declares the listeners on loopback, and the MCP adapter over stdio and HTTP alike', () => {
        for (const e of spec.capability.exposes)
            if (e.port)
                assert.equal(e.address, '127.0.0.1', `${e.namespace} binds loopback by default`);
        const mcps = spec.capability.exposes.filter((e) => e.type === 'mcp');
        assert.deepEqual(mcps.map((e) => e.transport), ['stdio', 'http']);
        assert.equal(mcps[1].port, 9090);
        assert.deepEqual(mcps[1].tools, mcps[0].tools);
        assert.deepEqual(mcps[1].resources, mcps[0].resources);
        assert.deepEqual(mcps[1].prompts, mcps[0].prompts);
    });

    describe('the REST surface it declares answers as declared', () => {
        let tmp, serve;
        const rest = (ns) => spec.capability.exposes.find((e) => e.namespace === ns);

        before(async () => {
            tmp = tempDir();
            const { db } = await seedDatabase(tmp.dir);
            serve = await startServe(db);
        });
        after(async () => {
            const ex = await serve?.stop();
            tmp?.cleanup();
            assert.deepEqual(ex ? exitProblems(ex) : [], []);
        });

        it('webhook listener (8080): POST /phonely/webhook stores a call, GET /healthz', async () => {
            const hook = rest('phonely-webhook');
            assert.equal(hook.port, 8080);
            const paths = hook.resources.map((r) => r.path);
            assert.ok(paths.includes('/phonely/webhook') && paths.includes('/healthz'), paths.join(', '));
            const base = serve.webhookUrl.replace(/\/phonely\/webhook$/, '');
            const r = await fetch(`${base}/phonely/webhook`, {
                method: 'POST', headers: { 'Content-Type': 'application/json' },
                body: JSON.stringify({ callId: 'call_naftiko_1', summary: 'declared surface check' }),
            });
            assert.equal(r.status, 200);
            assert.equal((await r.json()).status, 'stored');
            assert.equal((await fetch(`${base}/healthz`)).status, 200);
        });

        it('private listener (9090): events by callId, metrics, healthz, behind the bearer token', async () => {
            const priv = rest('phonely-private');
            assert.equal(priv.port, 9090);
            assert.equal(priv.authentication.type, 'bearer');
            assert.deepEqual(priv.resources.map((r) => r.path).sort(),
                             ['/healthz', '/metrics', '/phonely/events/{{callId}}']);
            const auth = { headers: { Authorization: `Bearer ${serve.token}` } };
            const ev = await fetch(`${serve.privateUrl}/phonely/events/call_e2e_02`, auth);
            assert.equal(ev.status, 200);
            assert.equal((await ev.json()).callId, 'call_e2e_02');
            assert.equal((await fetch(`${serve.privateUrl}/phonely/events/call_nope`, auth)).status, 404);
            assert.equal((await fetch(`${serve.privateUrl}/phonely/events/call_e2e_02`)).status, 401);
            const m = await fetch(`${serve.privateUrl}/metrics`, auth);
            assert.equal(m.status, 200);
            assert.match(await m.text(), /^# (HELP|TYPE) /m);
            assert.equal((await fetch(`${serve.privateUrl}/healthz`)).status, 200);
        });

        it('MCP over HTTP at /mcp lists the same tools', async () => {
            const client = new Client({ name: 'phonely-e2e-naftiko', version: '1.0.0' });
            await client.connect(new StreamableHTTPClientTransport(new URL(`${serve.privateUrl}/mcp`),
                { requestInit: { headers: { Authorization: `Bearer ${serve.token}` } } }));
            try {
                const tools = await all((p) => client.listTools(p), 'tools');
                assert.deepEqual(sorted(tools.map((t) => kebab(t.name))),
                                 sorted(spec.capability.exposes.find((e) => e.transport === 'http').tools.map((t) => t.name)));
            } finally {
                await client.close();
            }
        });
    });

    describe('matches the MCP surface the binary serves', () => {
        let tmp, s, tools, templates, prompts;

        before(async () => {
            tmp = tempDir();
            const { db } = await seedDatabase(tmp.dir);
            s = await connectSdk(db);
            tools = await all((p) => s.client.listTools(p), 'tools');
            templates = await all((p) => s.client.listResourceTemplates(p), 'resourceTemplates');
            prompts = await all((p) => s.client.listPrompts(p), 'prompts');
            const ex = await s.close();
            assert.deepEqual([...wireProblems(s.checker), ...exitProblems(ex)], []);
        });
        after(() => tmp?.cleanup());

        it('exactly the same tools (kebab-case names), titles and annotations', () => {
            const declared = mcp().tools;
            assert.deepEqual(sorted(declared.map((t) => t.name)), sorted(tools.map((t) => kebab(t.name))));
            for (const t of tools) {
                const d = declared.find((x) => x.name === kebab(t.name));
                assert.equal(d.label, t.title, `${t.name}: label/title`);
                assert.ok(d.description?.length > 20, `${t.name}: description`);
                const a = t.annotations ?? {};
                assert.equal(d.hints.readOnly, a.readOnlyHint ?? false, `${t.name}: readOnly`);
                assert.equal(d.hints.idempotent, a.idempotentHint ?? false, `${t.name}: idempotent`);
                assert.equal(d.hints.openWorld, a.openWorldHint ?? true, `${t.name}: openWorld`);
                if (!a.readOnlyHint)
                    assert.equal(d.hints.destructive, a.destructiveHint ?? true, `${t.name}: destructive`);
            }
        });

        it('the same input parameters: names, types, required', () => {
            for (const t of tools) {
                const d = mcp().tools.find((x) => x.name === kebab(t.name));
                const props = t.inputSchema.properties ?? {};
                const required = t.inputSchema.required ?? [];
                assert.deepEqual(sorted((d.inputParameters ?? []).map((p) => p.name)), sorted(Object.keys(props)),
                                 `${t.name}: parameters`);
                for (const p of d.inputParameters ?? []) {
                    if (typeof props[p.name].type === 'string')
                        assert.equal(p.type, props[p.name].type, `${t.name}.${p.name}: type`);
                    assert.equal(p.required ?? true, required.includes(p.name), `${t.name}.${p.name}: required`);
                }
            }
        });

        it('the same resource templates and prompts', () => {
            const res = mcp().resources;
            assert.deepEqual(sorted(res.map((r) => r.uri)), sorted(templates.map((t) => t.uriTemplate)));
            for (const t of templates) {
                const d = res.find((r) => r.uri === t.uriTemplate);
                assert.equal(d.name, t.name);
                assert.equal(d.mimeType, t.mimeType);
                if (t.title)
                    assert.equal(d.label, t.title);
            }
            const ps = mcp().prompts;
            assert.deepEqual(sorted(ps.map((p) => p.name)), sorted(prompts.map((p) => p.name)));
            for (const p of prompts) {
                const d = ps.find((x) => x.name === p.name);
                if (p.title)
                    assert.equal(d.label, p.title);
                assert.deepEqual((d.arguments ?? []).map((a) => [a.name, a.required ?? true]),
                                 (p.arguments ?? []).map((a) => [a.name, a.required ?? false]), `${p.name}: arguments`);
            }
        });
    });
});

/* The placeholders the snippets use, replaced by the binary under test, a temporary database,
 * the private listener `serve` really got, and its token. */
const SNIPPET_BIN = '/usr/local/bin/phonely-mcp';
const SNIPPET_DB = '/var/lib/phonely-mcp/calls.db';
const SNIPPET_URL = 'http://127.0.0.1:9090';
const TOKEN_REFS = /\$\{env:PHONELY_MCP_TOKEN\}|\$\{input:phonely-token\}|\$\{PHONELY_MCP_TOKEN\}|\$PHONELY_MCP_TOKEN/g;

/* Split a shell command line into words (single and double quotes, no expansions). */
function shellWords(line) {
    const words = [];
    for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g))
        words.push(m[1] ?? m[2] ?? m[3]);
    return words;
}

/* Every server in mcp/: [where, {command, args, env} | {url, headers}]. */
function snippetServers() {
    const out = [];
    const add = (where, servers) => {
        for (const [name, server] of Object.entries(servers))
            out.push([`${where} ${name}`, server]);
    };
    const json = (f) => JSON.parse(readFileSync(`${MCP_DIR}${f}`, 'utf8'));
    add('claude_desktop_config.json', json('claude_desktop_config.json').mcpServers);
    add('cursor-mcp.json', json('cursor-mcp.json').mcpServers);
    add('vscode-mcp.json', json('vscode-mcp.json').servers);
    const md = readFileSync(`${MCP_DIR}claude-code.md`, 'utf8');
    for (const [, lang, body] of md.matchAll(/```(\w*)\n([\s\S]*?)```/g)) {
        if (lang === 'json') {
            add('claude-code.md .mcp.json', JSON.parse(body).mcpServers);
            continue;
        }
        for (const line of body.replace(/\\\n\s*/g, ' ').split('\n')) {
            if (!line.startsWith('claude mcp add '))
                continue;
            const words = shellWords(line.split(' #')[0].trim());
            const where = `claude-code.md: ${line.slice(0, 70)}...`;
            const opt = (name) => words.flatMap((w, i) => (w === name ? [words[i + 1]] : []));
            if (opt('--transport')[0] === 'http') {
                const headers = Object.fromEntries(opt('--header').map((h) => h.split(/:\s*/, 2)));
                out.push([where, { url: words[words.length - 1], headers }]);
                continue;
            }
            const sep = words.indexOf('--');
            const env = Object.fromEntries(opt('--env').map((e) => e.split('=', 2)));
            out.push([where, { command: words[sep + 1], args: words.slice(sep + 2), env }]);
        }
    }
    return out;
}

describe('mcp/ host snippets start a working server', () => {
    let tmp, db, serve;

    before(async () => {
        tmp = tempDir();
        ({ db } = await seedDatabase(tmp.dir));
        serve = await startServe(db);
    });
    after(async () => {
        const ex = await serve?.stop();
        tmp?.cleanup();
        assert.deepEqual(ex ? exitProblems(ex) : [], []);
    });

    it('finds the snippets, stdio and HTTP', () => {
        const all = snippetServers();
        assert.ok(all.filter(([, s]) => s.command).length >= 8, all.map(([w]) => w).join('\n'));
        assert.ok(all.filter(([, s]) => s.url).length >= 4, all.map(([w]) => w).join('\n'));
    });

    for (const [where, server] of snippetServers()) {
        it(where, async () => {
            let transport, writes;
            if (server.url) {
                assert.equal(server.url, `${SNIPPET_URL}/mcp`);
                const headers = Object.fromEntries(Object.entries(server.headers ?? {})
                    .map(([k, v]) => [k, v.replace(TOKEN_REFS, serve.token)]));
                assert.equal(headers.Authorization, `Bearer ${serve.token}`, 'no bearer token header');
                transport = new StreamableHTTPClientTransport(new URL(`${serve.privateUrl}/mcp`),
                                                              { requestInit: { headers } });
                writes = false; /* serve runs with the default mcp_allow_writes no */
            } else {
                assert.equal(server.command, SNIPPET_BIN);
                assert.equal(server.args[0], 'stdio');
                const sub = (v) => (v === SNIPPET_DB ? db : v);
                const env = Object.fromEntries(Object.entries(server.env ?? {}).map(([k, v]) => [k, sub(v)]));
                transport = new StdioClientTransport({ command: binary(), args: server.args.map(sub),
                                                       env: childEnv(env), stderr: 'pipe' });
                writes = server.args.includes('--allow-writes');
            }
            const client = new Client({ name: 'phonely-e2e-snippets', version: '1.0.0' });
            await client.connect(transport);
            try {
                const { tools } = await client.listTools();
                assert.ok(tools.some((t) => t.name === 'search_calls'));
                const latest = await client.callTool({ name: 'get_latest_call', arguments: { include_transcript: false } });
                assert.equal(latest.structuredContent?.call?.callId, 'call_e2e_01', 'not the seeded database');
                const write = await client.callTool({ name: 'resolve_follow_up', arguments: { call_id: 'call_e2e_22' } });
                assert.equal(write.isError === true, !writes, 'resolve_follow_up allowed or refused against the snippet\'s flags');
                if (!write.isError)
                    await client.callTool({ name: 'resolve_follow_up', arguments: { call_id: 'call_e2e_22', reopen: true } });
            } finally {
                await client.close();
            }
        });
    }
});

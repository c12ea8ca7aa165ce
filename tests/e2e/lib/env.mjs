// env.mjs: what every end-to-end test needs: the binary under test, temporary
// directories that are removed afterwards, a clean environment for child
// processes, and a check of their stderr for sanitizer reports.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

/** The phonely-mcp binary under test (CTest sets PHONELY_TEST_BIN). */
export function binary() {
    const bin = process.env.PHONELY_TEST_BIN;
    if (!bin)
        throw new Error('PHONELY_TEST_BIN is not set: run these tests through CTest ' +
                        '(make test), or set it to a built phonely-mcp');
    return bin;
}

/** A fresh temporary directory; remove it with the returned cleanup function. */
export function tempDir(prefix = 'phonely-e2e-') {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/*
 * The environment for a child phonely-mcp: only what it needs, so that a
 * developer's PHONELY_MCP_* settings (a token, a config file) cannot change
 * what the tests see. Sanitizer options set by CTest are passed on.
 */
export function childEnv(extra = {}) {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' };
    for (const k of ['HOME', 'TMPDIR', 'ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS'])
        if (process.env[k] !== undefined)
            env[k] = process.env[k];
    return { ...env, ...extra };
}

/* Lines that AddressSanitizer, LeakSanitizer or UBSan print when they find something. */
const SANITIZER_RE = /ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer/;

/** The sanitizer report lines in a child's stderr, if any. */
export function sanitizerReports(stderrText) {
    return stderrText.split('\n').filter((l) => SANITIZER_RE.test(l));
}

/**
 * Run phonely-mcp with args to completion (with input on stdin when given).
 * Resolves {code, signal, stdout, stderr}; rejects only when it cannot start
 * or runs longer than timeoutMs (it is then killed).
 */
export function run(args, { input, env, timeoutMs = 60000 } = {}) {
    return new Promise((resolve, reject) => {
        const child = spawn(binary(), args, { env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
        const out = [], errs = [];
        child.stdout.on('data', (b) => out.push(b));
        child.stderr.on('data', (b) => errs.push(b));
        const timer = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`phonely-mcp ${args.join(' ')} ran longer than ${timeoutMs} ms`));
        }, timeoutMs);
        child.on('error', (e) => { clearTimeout(timer); reject(e); });
        child.on('close', (code, signal) => {
            clearTimeout(timer);
            resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'),
                      stderr: Buffer.concat(errs).toString('utf8') });
        });
        child.stdin.on('error', () => {}); /* a child that exits early closes its stdin */
        child.stdin.end(input ?? '');
    });
}

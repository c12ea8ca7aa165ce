// serve.mjs: run `phonely-mcp serve` on loopback with kernel-chosen ports,
// post webhooks to it, and stop it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { binary, childEnv } from './env.mjs';

/**
 * Start `phonely-mcp serve --db db` with both listeners on 127.0.0.1:0 and
 * wait for "webhook listener ready on http://127.0.0.1:PORT" (and the private
 * listener's line) on stderr.
 * No webhook token is configured: the daemon then accepts unauthenticated
 * deliveries on loopback only. The private listener gets a random bearer
 * token (PHONELY_MCP_TOKEN). env adds PHONELY_MCP_* settings (e.g.
 * PHONELY_MCP_BODY_MAX), args more command-line options. Returns
 * {webhookUrl, privateUrl, privatePort, token, stop(), stderr()}; stop()
 * sends SIGTERM and resolves {code, signal, stderr}, or rejects when the
 * log holds one of the secrets it was given.
 */
export async function startServe(db, { timeoutMs = 15000, env = {}, args = [] } = {}) {
    const token = randomBytes(32).toString('base64url');
    const proc = spawn(binary(), ['serve', '--db', db, '--webhook-listen', '127.0.0.1:0',
                                  '--private-listen', '127.0.0.1:0', ...args],
                       { env: childEnv({ PHONELY_MCP_TOKEN: token, ...env }), stdio: ['ignore', 'ignore', 'pipe'] });
    const chunks = [];
    const exited = once(proc, 'exit');
    const stderr = () => Buffer.concat(chunks).toString('utf8');
    const port = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            proc.kill('SIGKILL');
            reject(new Error(`serve did not become ready:\n${stderr()}`));
        }, timeoutMs);
        proc.stderr.on('data', (b) => {
            chunks.push(b);
            const m = /webhook listener ready on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr());
            if (m && /private listener ready on/.test(stderr())) {
                clearTimeout(timer);
                resolve(Number(m[1]));
            }
        });
        proc.on('exit', (code, signal) => {
            clearTimeout(timer);
            reject(new Error(`serve exited (${code ?? signal}) before it was ready:\n${stderr()}`));
        });
    });
    /* Every secret it was given; stop() fails when one of them was logged. */
    const secrets = [token, ...Object.entries(env)
        .filter(([k, v]) => /_(TOKEN|TOKEN_PREVIOUS|SECRET)$/.test(k) && String(v).length >= 12)
        .map(([, v]) => String(v))];
    const priv = /private listener ready on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr());
    let stopped;
    return {
        webhookUrl: `http://127.0.0.1:${port}/phonely/webhook`,
        privateUrl: priv ? priv[1] : undefined,
        privatePort: priv ? Number(new URL(priv[1]).port) : undefined,
        token,
        stderr,
        stop(ms = 10000) {
            if (!stopped) {
                stopped = (async () => {
                    if (proc.exitCode === null && proc.signalCode === null)
                        proc.kill('SIGTERM');
                    const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
                    const [code, signal] = await exited;
                    clearTimeout(timer);
                    const leaked = secrets.find((v) => stderr().includes(v));
                    if (leaked !== undefined)
                        throw new Error(`serve wrote a secret it was given (${leaked.slice(0, 6)}...) to its log:\n${stderr()}`);
                    return { code, signal, stderr: stderr() };
                })();
            }
            return stopped;
        },
    };
}

/** POST one event as JSON; resolves {status, body}. */
export async function postWebhook(url, event) {
    const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: typeof event === 'string' ? event : JSON.stringify(event),
    });
    const text = await res.text();
    let body;
    try {
        body = JSON.parse(text);
    } catch {
        body = text;
    }
    return { status: res.status, body };
}

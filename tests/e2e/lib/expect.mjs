// expect.mjs: small assertions shared by the test files.
import assert from 'node:assert/strict';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

/*
 * A successful tool result: not isError, with structuredContent, and a
 * first text block whose last line is the same object as compact JSON
 * (the text mirror the spec asks for). Returns structuredContent.
 */
export function structured(result, what = 'tool result') {
    assert.ok(result && typeof result === 'object', `${what}: no result`);
    assert.notEqual(result.isError, true,
                    `${what}: isError: ${result.content?.map((c) => c.text).join(' ')}`);
    assert.ok(result.structuredContent && typeof result.structuredContent === 'object',
              `${what}: no structuredContent`);
    assert.ok(Array.isArray(result.content) && result.content.length > 0, `${what}: no content`);
    const first = result.content[0];
    assert.equal(first.type, 'text', `${what}: first content block is not text`);
    const lines = first.text.split('\n');
    assert.deepEqual(JSON.parse(lines[lines.length - 1]), result.structuredContent,
                     `${what}: the text mirror is not the structuredContent`);
    return result.structuredContent;
}

/** A tool execution error (isError: true with a text explaining it); returns the text. */
export function toolError(result, what = 'tool result') {
    assert.equal(result.isError, true, `${what}: expected isError: true, got ${JSON.stringify(result).slice(0, 400)}`);
    assert.ok(Array.isArray(result.content) && result.content.length > 0, `${what}: no content`);
    const text = result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');
    assert.ok(text.length > 10, `${what}: the error text does not explain anything: ${text}`);
    return text;
}

/** Await promise and expect a JSON-RPC error with the given code; returns the McpError. */
export async function rpcError(promise, code, what = 'request') {
    try {
        const r = await promise;
        assert.fail(`${what}: expected JSON-RPC error ${code}, got result ${JSON.stringify(r).slice(0, 300)}`);
    } catch (e) {
        if (e instanceof assert.AssertionError)
            throw e;
        assert.ok(e instanceof McpError, `${what}: expected an McpError, got ${e}`);
        assert.equal(e.code, code, `${what}: expected code ${code}, got ${e.code} (${e.message})`);
        return e;
    }
}

/** The callIds of a list of call records. */
export function ids(calls) {
    return calls.map((c) => c.callId);
}

/** Sorted copy, for set comparisons. */
export function sorted(list) {
    return [...list].sort();
}

import { toHex } from '../core/hex.ts';
import type { LedgerService } from './ledger-service.ts';

/*
 * A page for people who open the ledger's address in a browser: which ledger this is, its
 * key to pin, its newest head, and where the API is. Static text, every value escaped; no
 * script.
 */

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function ledgerHomePage(service: LedgerService): string {
  const head = service.head;
  const rows: [string, string][] = [
    ['ledger id', service.ledger],
    ['ledger key (pin this)', toHex(service.publicKey)],
    ['entries', String(head.size)],
    ['root', head.root],
    ['head signed at', new Date(head.time).toISOString()],
    ['store', service.store.description],
  ];
  const links = [
    '/v1/ledger',
    '/v1/head',
    '/v1/entries?from=0&limit=20',
    '/v1/stream',
    '/v1/state/twins/1',
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>VDC ledger</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem;max-width:60rem}td{padding:.2rem .8rem;font-family:monospace;word-break:break-all}th{text-align:left}</style>
</head><body><h1>VDC ledger</h1>
<p>A tamper-evident log of every twin, node, contract and name. Verify it yourself: <code>vdc ledger head --ledger URL</code>.</p>
<table>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>
<h2>API</h2><ul>${links.map((l) => `<li><a href="${escapeHtml(l)}">${escapeHtml(l)}</a></li>`).join('')}</ul>
</body></html>
`;
}

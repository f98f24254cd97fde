/**
 * Who may use the server: an API key checked the way OpenAI clients send it (`Authorization: Bearer
 * KEY`), and an Origin check for requests that change something, so a web page the user visits cannot
 * POST to a server on their machine (CSRF, DNS rebinding).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-error.ts';

/**
 * Routes anyone may GET without the key: the page, its icon and example pictures (they ask for nothing;
 * an <img> cannot send the key) and the health check.
 */
const OPEN_ROUTES = new Set(['/', '/favicon.ico', '/favicon.svg', '/examples', '/health']);
const isOpen = (pathname: string) => OPEN_ROUTES.has(pathname) || /^\/examples\/\d+\.png$/.test(pathname);

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Throws a 401 unless the request carries the key (constant-time comparison). */
export function checkApiKey(req: IncomingMessage, pathname: string, apiKey: string | undefined): void {
  if (!apiKey) return;
  if (isOpen(pathname) && (req.method === 'GET' || req.method === 'HEAD')) return;
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  const given = m?.[1]?.trim() ?? '';
  if (!given || !timingSafeEqual(digest(given), digest(apiKey))) {
    throw new HttpError(
      401,
      given ? 'incorrect API key' : 'this server needs an API key: send "Authorization: Bearer <key>"',
      { code: 'invalid_api_key', headers: { 'WWW-Authenticate': 'Bearer' } },
    );
  }
}

/** localhost, 127.0.0.0/8 and ::1. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

/**
 * Throws a 403 for a request other than GET/HEAD whose Origin is neither in `allowed` ("*" allows
 * all) nor this server itself. "Itself" means Origin = http://<Host> with Host an IP address or
 * localhost: a DNS name could be an attacker's, rebound to this machine.
 */
export function checkOrigin(req: IncomingMessage, allowed: readonly string[]): void {
  if (req.method === 'GET' || req.method === 'HEAD') return;
  const origin = req.headers.origin;
  if (origin === undefined) return; // not a browser: browsers always send Origin on these requests
  if (isListed(origin, allowed)) return;
  const host = req.headers.host ?? '';
  const hostname = host.replace(/:\d+$/, '');
  const selfByAddress =
    isIP(hostname.replace(/^\[|\]$/g, '')) !== 0 || hostname.toLowerCase() === 'localhost';
  if (selfByAddress && origin === `http://${host}`) return;
  throw new HttpError(
    403,
    `requests from the web origin ${origin.slice(0, 100)} are not allowed (start the server with --allow-origin ${origin.slice(0, 100)} to allow it)`,
    { code: 'origin_not_allowed' },
  );
}

const isListed = (origin: string, allowed: readonly string[]) =>
  allowed.includes('*') || allowed.includes(origin);

/**
 * CORS headers for a request from a listed origin (so that origin's pages can read the answers), or
 * null. A preflight (OPTIONS) from a listed origin is answered with these and a 204.
 */
export function corsHeaders(req: IncomingMessage, allowed: readonly string[]): Record<string, string> | null {
  const origin = req.headers.origin;
  if (origin === undefined || !isListed(origin, allowed)) return null;
  return {
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Allow-Methods': 'GET, POST',
    'Access-Control-Allow-Headers': 'Authorization, Content-Type',
    'Access-Control-Max-Age': '600',
    Vary: 'Origin',
  };
}

/** What `--url` means for every command: the service's base URL (`http://host:port`). */

/**
 * `--url` is the service's base URL, as for every command; a URL that already names the events endpoint (what this
 * option used to take) is kept as it is.
 */
export function eventsEndpoint(url: string): string {
  const parsed = new URL(url);
  if (/\/api\/v1\/events\/?$/.test(parsed.pathname)) return parsed.toString();
  return new URL('api/v1/events', parsed.toString().endsWith('/') ? parsed : `${parsed.toString()}/`).toString();
}

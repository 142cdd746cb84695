/** The service may require a credential (docs/security.md): the publish commands send PUBLISH_HTTP_TOKEN, an API key or a token. */
export function authorization(config: { readonly publish: { readonly httpToken?: string } }): Record<string, string> {
  return config.publish.httpToken === undefined ? {} : { authorization: `Bearer ${config.publish.httpToken}` };
}

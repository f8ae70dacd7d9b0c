/* Service worker of the field page (scope /field/): the page and its files are precached on install (the list,
 * with content hashes, is written in by patrol_app/web/field.py); the road network and the catalog (which
 * carries the crew and vehicle registries) are kept from the last time they were fetched (network first, the cached copy when offline).
 * Writes are never cached or replayed here: the page's outbox (IndexedDB) sends them. */
importScripts("/field/static/vendor/workbox/workbox-sw.js");
workbox.setConfig({ debug: false, modulePathPrefix: "/field/static/vendor/workbox/" });
workbox.core.setCacheNameDetails({ prefix: "patrol-field" });

workbox.precaching.precacheAndRoute(self.__WB_MANIFEST, {
  ignoreURLParametersMatching: [/.*/],
  directoryIndex: null,
  cleanURLs: false,
});
workbox.precaching.cleanupOutdatedCaches();

workbox.routing.registerRoute(
  ({ url, request }) => request.method === "GET" && url.origin === self.location.origin &&
    /^\/api\/v1\/(roads|catalog)\/?$/.test(url.pathname),
  new workbox.strategies.NetworkFirst({ cacheName: "patrol-field-data", networkTimeoutSeconds: 15 }),
);

self.addEventListener("install", () => self.skipWaiting());
workbox.core.clientsClaim();

// The demo's runtime can be picked in its address: /demo/?runtime=micropython. A site writes
// data-runtime on its embed.js tag itself; this sets it before embed.js runs (module scripts run
// in document order).
const runtime = new URLSearchParams(location.search).get("runtime");
const embed = document.querySelector('script[src$="/embed.js"]');
if (runtime && embed) embed.dataset.runtime = runtime;

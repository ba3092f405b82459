// One place that builds a Leaflet map from the server's configuration (MAP_TILE_URL).
// With no tile URL, or tiles that cannot be reached, the map keeps a plain background and
// still draws our own layers: command posts in the field often have no internet at all.
import * as api from './api.js';

let configPromise = null;
export function consoleConfig() {
  if (!configPromise) configPromise = api.config().catch((e) => { configPromise = null; throw e; });
  return configPromise;
}

export function leaflet() {
  if (!window.L) throw new Error('地图组件未加载（vendor/leaflet）。');
  return window.L;
}

export async function createMap(el, options = {}) {
  const L = leaflet();
  const cfg = (await consoleConfig()).map;
  const map = L.map(el, { preferCanvas: true, zoomControl: true, attributionControl: !!cfg.attribution,
    maxZoom: cfg.max_zoom, ...options });
  map.setView(options.center || cfg.center, options.zoom || cfg.zoom);
  if (cfg.tile_url) {
    const tiles = L.tileLayer(cfg.tile_url, { subdomains: cfg.subdomains, attribution: cfg.attribution, maxZoom: cfg.max_zoom });
    let failures = 0;
    tiles.on('tileerror', () => {
      failures += 1;
      if (failures === 8) el.dataset.tiles = 'unreachable';
    });
    tiles.addTo(map);
    el.dataset.tiles = 'configured';
  } else {
    el.dataset.tiles = 'none';
  }
  return map;
}

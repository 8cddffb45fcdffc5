import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

// Cross-origin isolation lets onnxruntime-web use WASM threads (SharedArrayBuffer).
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/**
 * Static hosts that cannot send COOP/COEP (GitHub Pages, plain file servers) get isolation from a
 * service worker that adds the headers to every response (the coi-serviceworker package). The page
 * loads it as a classic script beside index.html; where the headers are already there it does
 * nothing. The file comes from node_modules at build time rather than being kept in the repository.
 */
function isolationFallback(): Plugin {
  const name = 'coi-serviceworker.js';
  const source = () => readFileSync(createRequire(import.meta.url).resolve(`coi-serviceworker/${name}`), 'utf8');
  return {
    name: 'isolation-fallback',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        if (!req.url?.split('?')[0].endsWith(`/${name}`)) return next();
        res.setHeader('Content-Type', 'text/javascript');
        res.end(source());
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: name, source: source() });
    },
  };
}

export default defineConfig({
  // Relative asset URLs: the build works from any folder of any static host (a project page under
  // https://host/memorization-lab/ as well as a site root).
  base: './',
  plugins: [react(), isolationFallback()],
  // Pre-bundling onnxruntime-web breaks its .wasm lookup (the request gets index.html back).
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  worker: { format: 'es' },
  server: { headers: isolation, host: '127.0.0.1' },
  preview: { headers: isolation, host: '127.0.0.1' },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
    // The lab, the views check page and the in-browser pipeline bench (bench/browser.ts drives it).
    rolldownOptions: { input: { main: 'index.html', views: 'views.html', bench: 'bench.html' } },
  },
});
